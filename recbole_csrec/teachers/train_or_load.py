"""The one way a phase goes through the teacher store: look its key up; when the store lacks it,
train it and publish it; when the store holds it, load it. Used by every teacher phase (ensemble
teachers, CSRec-T's side and main teachers), by Base and by the CSRec student."""
from __future__ import annotations

from logging import getLogger
from time import time
from typing import Any, Callable, NamedTuple

from recbole.config import Config
from recbole.utils import set_color
from torch import nn

from recbole_csrec.resume import discard_resume_state
from recbole_csrec.teachers.store import StoredTeacher, TeacherStore, teacher_key
from recbole_csrec.trainer import CSRecTrainer, PhaseResult


class Phase(NamedTuple):
    model: nn.Module
    trainer: CSRecTrainer | None  # None when loaded
    result: PhaseResult
    reused: bool


def stored_result(entry: StoredTeacher, name: str, seed: int, key: str, with_test: bool = True) -> PhaseResult:
    """The PhaseResult a store entry recorded when it was trained (its test result only when
    `with_test`: a search trial must not see the test set)."""
    stored = entry.manifest["result"]
    return PhaseResult(
        name=name, model=stored["model"], best_valid_score=float(stored["best_valid_score"]),
        best_valid_result=dict(stored["best_valid_result"]), best_epoch=int(stored["best_epoch"]),
        epochs=int(stored["epochs"]), seconds=float(stored["seconds"]), weights=entry.weights,
        test_result=dict(stored["test_result"]) if with_test else None,
        meta={"seed": seed, "reused": True, "store_key": key, "trained_as": entry.manifest.get("trained_as", "")})


def train_or_load(store: TeacherStore, fields: dict[str, Any], make_model: Callable[[], nn.Module],
                  train: Callable[[nn.Module, str], tuple[CSRecTrainer, PhaseResult]], config: Config, name: str,
                  seed: int, label: str, wait: bool = True, with_test: bool = True) -> Phase | None:
    """Train-and-publish or load the phase whose key fields are `fields`.

    `train(model, resume_file)` trains the model built by `make_model` with a CSRecTrainer
    resuming from (and writing) `resume_file`, and returns (trainer, result); `label` names the
    phase in the store's manifest. With `wait` False, returns None when another process
    holds the key (it is training that phase right now)."""
    key = teacher_key(fields)
    with store.lock(key, blocking=wait) as held:
        if not held:
            return None
        model = make_model()
        entry = store.get(key)
        if entry is None:
            resume_file = store.resume_file(key)  # a killed run of this key left it: go on from there
            trainer, result = train(model, resume_file)
            # Only a fit that returned is published: a trial a search scheduler stopped never gets
            # here (its resume state stays, for a later run of the same key).
            result.meta.update(reused=False, store_key=key)
            store.publish(key, fields, model, result.as_dict(), config, phase=label)
            discard_resume_state(resume_file)
            return Phase(model, trainer, result, False)
    start = time()
    entry.load_into(model)
    model.eval()
    result = stored_result(entry, name, seed, key, with_test)
    result.meta["load_seconds"] = round(time() - start, 3)
    getLogger().info(set_color(f"CSRec phase [{name}]", "yellow")
                     + f": reusing {config['model']} (seed {seed}, trained as "
                     f"{entry.manifest.get('trained_as') or 'a teacher'}) from store {entry.folder}")
    return Phase(model, None, result, True)
