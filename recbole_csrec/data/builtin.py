"""Built-in datasets: made from files shipped offline, written atomically on first use.

`ml` is MovieLens-100K from RecBole's own wheel. Every other name must already exist as a
RecBole atomic dataset under `data_path` (RecBole's `ml-100k` always does).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

import recbole
from recbole.config import Config

from recbole_csrec.errors import CSRecError

RECBOLE_ML_100K = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")


def _build_ml(target_dir: str) -> None:
    """MovieLens-100K with its ratings and timestamps, renamed to `ml.inter`."""
    shutil.copyfile(os.path.join(RECBOLE_ML_100K, "ml-100k.inter"), os.path.join(target_dir, "ml.inter"))


BUILTIN_DATASETS: dict[str, Callable[[str], None]] = {"ml": _build_ml}


def _has_atomic_files(folder: str, name: str) -> bool:
    if not os.path.isdir(folder):
        return False
    return any(f.startswith(name + ".") for f in os.listdir(folder))


def ensure_dataset_files(config: Config) -> str:
    """Make sure `config['data_path']` holds the dataset; build a built-in one if missing.

    Raises CSRecError for an unknown dataset instead of letting RecBole try a download.
    """
    name, folder = config["dataset"], config["data_path"]
    if name in BUILTIN_DATASETS and not _has_atomic_files(folder, name):
        parent = os.path.dirname(os.path.abspath(folder))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=parent)
        try:
            BUILTIN_DATASETS[name](tmp)
            if os.path.isdir(folder):  # an empty or broken leftover: replace it
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not _has_atomic_files(folder, name):
        builtin = ", ".join(sorted(BUILTIN_DATASETS) + ["ml-100k"])
        raise CSRecError(f"unknown dataset '{name}': no atomic files '{name}.*' in {folder} "
                         f"(built-in: {builtin}; or put a RecBole atomic dataset under data_path)")
    return folder
