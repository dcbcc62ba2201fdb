"""Compatibility: `get_model` / `get_trainer` live in recbole_csrec.lookups, and
`load_data_and_model` in recbole_csrec.quick_start (RecBole's places). Importing
`load_data_and_model` from here still works for this release, with a DeprecationWarning."""
from __future__ import annotations

import warnings
from typing import Any

from recbole_csrec.lookups import get_model, get_trainer

__all__ = ["get_model", "get_trainer"]


def __getattr__(name: str) -> Any:
    if name == "load_data_and_model":
        warnings.warn("recbole_csrec.utils.load_data_and_model moved to recbole_csrec.quick_start "
                      "(RecBole's place); the old path goes in the next release", DeprecationWarning,
                      stacklevel=2)
        from recbole_csrec.saved_runs import load_data_and_model
        return load_data_and_model
    raise AttributeError(f"module 'recbole_csrec.utils' has no attribute '{name}'")
