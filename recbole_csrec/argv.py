"""Handing `--key=value` settings to RecBole's Config, which reads them from sys.argv."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Sequence


@contextmanager
def recbole_argv(settings: Sequence[str] = ()) -> Iterator[None]:
    """Inside the block sys.argv holds exactly `settings` after the program name, so that a
    Config built there sees them (and none of the caller's own flags); restored on exit."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "recbole_csrec"] + list(settings)
    try:
        yield
    finally:
        sys.argv = saved
