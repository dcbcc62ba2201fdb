"""Autograd anomaly mode as the run's config says, not as RecBole's imports leave it.

RecBole 1.2.1's `recbole/model/sequential_recommender/sine.py` calls
`torch.autograd.set_detect_anomaly(True)` at import, and importing any of RecBole's sequential
models imports it: from then on every backward records a Python stack per autograd node and
checks for NaNs (Last.FM, batch 256: GRU4Rec 3.6x, NARM 2.8x, SASRec 1.85x slower per epoch,
same losses). `anomaly_mode` imports those models first (so that the import cannot switch the
flag back on inside the block), sets the flag from `detect_anomaly`, and restores the caller's
setting on exit. Every process that trains (a Ray worker too) enters it where its run or phase
starts; RecBole itself is not patched.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


def import_recbole_sequential_models() -> None:
    """Run RecBole's import-time side effect now, before the flag is set."""
    import recbole.model.sequential_recommender  # noqa: F401


@contextmanager
def anomaly_mode(enabled: bool) -> Iterator[None]:
    """Inside the block autograd anomaly detection is `enabled`; the caller's setting returns after."""
    import_recbole_sequential_models()
    previous = torch.is_anomaly_enabled()
    previous_nan_check = torch.is_anomaly_check_nan_enabled()
    torch.autograd.set_detect_anomaly(bool(enabled))
    try:
        yield
    finally:
        torch.autograd.set_detect_anomaly(previous, check_nan=previous_nan_check)
