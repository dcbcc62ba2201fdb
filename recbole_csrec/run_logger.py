"""RecBole's init_logger, safe when two runs start at once (two lanes, a Ray Tune grid).

RecBole creates `./log/` and `./log/<model>/` by check-then-create (ensure_dir): two processes
can both see no folder, and the second makedirs raises FileExistsError. Creating them race-free
first makes RecBole's check find them.
"""
from __future__ import annotations

import os

from recbole.utils import init_logger as recbole_init_logger

LOG_ROOT = "./log"  # fixed in RecBole 1.2.1's init_logger


def init_logger(config) -> None:
    """RecBole's init_logger (file and console logging for `config`), its folders made first."""
    os.makedirs(os.path.join(LOG_ROOT, config["model"]), exist_ok=True)
    recbole_init_logger(config)
