"""A training phase's resume state: everything a killed phase needs to go on from its last
validated epoch as if it had never stopped.

CSRecTrainer writes it after every validation epoch (atomically) and reads it back when a phase
with the same store key starts again (teachers/train_or_load.py), so that a phase longer than a
session (CSRec-T's main teacher on Yelp: ~3 h on one CPU thread) finishes over several runs.
It holds the current and the best weights, the optimizer, RecBole's early-stopping state and
every random stream an epoch draws from (torch's global generator, which dropout uses, the train
loader's shuffling generator, numpy's and Python's), so a resumed phase trains the same epochs as
an uninterrupted one. Like recbole_csrec.checkpoint's weight files it holds no pickled objects:
it loads with torch.load(..., weights_only=True).
"""
from __future__ import annotations

import os
import random
from logging import getLogger
from typing import Any

import numpy as np
import torch

from recbole_csrec.atomic import REJECTED, atomic_file, move_aside

FORMAT = "recbole_csrec.resume/1"


def random_streams(loader_generator: torch.Generator | None) -> dict[str, Any]:
    """The state of every random stream a training epoch draws from, as plain tensors and lists."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    streams = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "python": [version, list(python_state), python_gauss],
        "loader": None if loader_generator is None else loader_generator.get_state(),
    }
    if torch.cuda.is_available():
        streams["cuda"] = torch.cuda.get_rng_state_all()
    return streams


def restore_random_streams(streams: dict[str, Any], loader_generator: torch.Generator | None) -> None:
    """Put back the streams `random_streams` recorded."""
    torch.set_rng_state(streams["torch"])
    kind, keys, position, has_gauss, gauss = streams["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_state, python_gauss = streams["python"]
    random.setstate((version, tuple(python_state), python_gauss))
    if loader_generator is not None and streams.get("loader") is not None:
        loader_generator.set_state(streams["loader"])
    if streams.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(streams["cuda"])


def save_resume_state(path: str, state: dict[str, Any]) -> None:
    """Write `state` (tensors, numbers, strings, lists and dicts of them) to `path` atomically:
    a kill while writing leaves the previous epoch's state."""
    with atomic_file(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_resume_state(path: str, model: str) -> dict[str, Any] | None:
    """The resume state at `path` when it exists and was written for a `model` phase; None
    otherwise. (Its file name is the phase's store key, which describes the model, not its role:
    a killed Base run resumes as CSRec-M's teacher of the same seed.) A file that cannot be read
    (truncated, not ours) is moved aside with one warning, and the phase starts from its first epoch."""
    if not os.path.isfile(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError("not a recbole_csrec resume file")
        if state.get("model") != model:
            raise ValueError(f"written for {state.get('model')}")
    except Exception as error:  # any unreadable file: train from the start rather than fail
        aside = move_aside(path, os.path.join(os.path.dirname(path), REJECTED))
        getLogger().warning(f"resume state {path} is not used ({error}); moved to {aside}, "
                            "the phase starts from its first epoch")
        return None
    return state


def discard_resume_state(path: str) -> None:
    """Remove a finished phase's resume state (its store entry now holds the result)."""
    if os.path.exists(path):
        os.remove(path)
