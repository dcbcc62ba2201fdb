"""A phase killed mid-way resumes from its last validated epoch and ends exactly where an
uninterrupted run ends (recbole_csrec.resume, through the teacher store)."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from recbole_csrec import run_recbole_csrec
from recbole_csrec.resume import random_streams, restore_random_streams
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config

EPOCHS = 4
_REAL_TRAIN_EPOCH = CSRecTrainer._train_epoch


class _Killed(Exception):
    """Stands in for a kill signal in the middle of a phase."""


def _record_epochs(monkeypatch, kill_at: tuple[str, int] | None = None,
                   losses: dict[tuple[str, int], float] | None = None) -> list[tuple[str, int]]:
    """Record (phase, epoch) of every training epoch (and its loss in `losses`); raise _Killed at
    `kill_at` before it trains."""
    epochs: list[tuple[str, int]] = []

    def recording(self, train_data, epoch_idx, *args, **kwargs):
        if (self.phase, epoch_idx) == kill_at:
            raise _Killed(f"killed in {self.phase} epoch {epoch_idx}")
        epochs.append((self.phase, epoch_idx))
        loss = _REAL_TRAIN_EPOCH(self, train_data, epoch_idx, *args, **kwargs)
        if losses is not None:
            losses[self.phase, epoch_idx] = float(sum(loss) if isinstance(loss, tuple) else loss)
        return loss

    monkeypatch.setattr(CSRecTrainer, "_train_epoch", recording)
    return epochs


def _run(tiny_data: str, checkpoint_dir: str, teacher: str = "model") -> dict:
    # dropout on, so that a resumed phase that lost the global random stream would differ
    return run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher=teacher, config_dict=fast_config(
        tiny_data, epochs=EPOCHS, dropout_prob=0.3, checkpoint_dir=checkpoint_dir))


def _partials(checkpoint_dir: str) -> list[str]:
    folder = os.path.join(checkpoint_dir, "teacher_store", ".partial")
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if os.path.isdir(folder) else []


def _stored_weights(result: dict, phase: str) -> dict[str, torch.Tensor]:
    return torch.load(result["phases"][phase]["weights"], weights_only=True)["state_dict"]


@pytest.mark.parametrize("teacher, killed, before", [
    ("model", "teacher-2", "teacher-1"),
    ("training", "main-teacher", "side-teacher"),  # g1 with its noise matrix h and frozen g2
])
def test_killed_phase_resumes_to_the_uninterrupted_result(tiny_data, monkeypatch, teacher, killed, before):
    uninterrupted = _run(tiny_data, "whole", teacher)
    assert _partials("whole") == []  # published phases leave no resume state

    _record_epochs(monkeypatch, kill_at=(killed, 2))
    with pytest.raises(_Killed):
        _run(tiny_data, "killed", teacher)
    assert len(_partials("killed")) == 1  # the killed phase's state after its epoch 1

    epochs = _record_epochs(monkeypatch)
    resumed = _run(tiny_data, "killed", teacher)
    # the phase before was published before the kill; the killed one trains only the epochs it had left
    assert [e for p, e in epochs if p == killed] == [2, 3]
    assert [p for p, _ in epochs if p == before] == []
    phase = resumed["phases"][killed]
    assert phase["resumed_after_epoch"] == 1 and phase["epochs"] == EPOCHS
    for key in ("best_epoch", "best_valid_score", "best_valid_result", "test_result"):
        assert phase[key] == uninterrupted["phases"][killed][key], key
    for name, tensor in _stored_weights(uninterrupted, killed).items():
        assert torch.equal(tensor, _stored_weights(resumed, killed)[name]), name
    assert resumed["test_result"] == uninterrupted["test_result"]  # the student, on these teachers
    assert _partials("killed") == []


@pytest.mark.parametrize("teacher", ["model", "pop"])  # SoftRec's student is keyed by its fixed teacher
def test_student_killed_mid_way_resumes(tiny_data, monkeypatch, teacher):
    whole_losses: dict[tuple[str, int], float] = {}
    _record_epochs(monkeypatch, losses=whole_losses)
    uninterrupted = _run(tiny_data, "whole", teacher)
    _record_epochs(monkeypatch, kill_at=("student", 1))
    with pytest.raises(_Killed):
        _run(tiny_data, "killed", teacher)
    resumed_losses: dict[tuple[str, int], float] = {}
    epochs = _record_epochs(monkeypatch, losses=resumed_losses)
    resumed = _run(tiny_data, "killed", teacher)
    assert epochs == [("student", 1), ("student", 2), ("student", 3)]
    # the same epochs: same shuffling, same dropout masks, same optimizer moments
    assert resumed_losses == {k: v for k, v in whole_losses.items() if k in resumed_losses}
    assert resumed["phases"]["student"]["resumed_after_epoch"] == 0
    assert resumed["best_valid_result"] == uninterrupted["best_valid_result"]
    assert resumed["test_result"] == uninterrupted["test_result"]
    for name, tensor in _stored_weights(uninterrupted, "student").items():
        assert torch.equal(tensor, _stored_weights(resumed, "student")[name]), name
    # published: the same run again loads the student instead of training it
    epochs = _record_epochs(monkeypatch)
    again = _run(tiny_data, "killed", teacher)
    assert epochs == [] and again["phases"]["student"]["reused"]
    assert again["test_result"] == uninterrupted["test_result"]


def test_phase_killed_before_publishing_is_not_trained_again(tiny_data, monkeypatch):
    from recbole_csrec.teachers.store import TeacherStore

    uninterrupted = _run(tiny_data, "whole")
    real_publish = TeacherStore.publish

    def killed_publish(self, key, fields, model, result, *args, **kwargs):
        if "teacher-2" in kwargs.get("phase", ""):
            raise _Killed("killed while publishing")
        return real_publish(self, key, fields, model, result, *args, **kwargs)

    monkeypatch.setattr(TeacherStore, "publish", killed_publish)
    with pytest.raises(_Killed):
        _run(tiny_data, "killed")
    monkeypatch.setattr(TeacherStore, "publish", real_publish)
    epochs = _record_epochs(monkeypatch)
    resumed = _run(tiny_data, "killed")
    assert [p for p, _ in epochs] == ["student"] * EPOCHS  # teacher-2 had finished all its epochs
    assert resumed["phases"]["teacher-2"]["best_valid_result"] == uninterrupted["phases"]["teacher-2"]["best_valid_result"]
    assert resumed["test_result"] == uninterrupted["test_result"]


def test_unreadable_resume_state_is_moved_aside(tiny_data, monkeypatch, caplog):
    _record_epochs(monkeypatch, kill_at=("teacher-1", 1))
    with pytest.raises(_Killed):
        _run(tiny_data, "killed")
    [name] = _partials("killed")
    partial = os.path.join("killed", "teacher_store", ".partial", name)
    with open(partial, "wb") as handle:
        handle.write(b"truncated")
    epochs = _record_epochs(monkeypatch)
    _run(tiny_data, "killed")
    assert [e for p, e in epochs if p == "teacher-1"] == list(range(EPOCHS))  # from its first epoch
    assert "is not used" in caplog.text and "starts from its first epoch" in caplog.text
    assert os.listdir(os.path.join("killed", "teacher_store", ".partial", ".rejected"))


def test_results_row_says_which_phase_was_resumed():
    import json

    from recbole_csrec.benchmark.results import phase_cell

    cell = json.loads(phase_cell({"main-teacher": {"epochs": 50, "seconds": 9000.0, "reused": False,
                                                   "resumed_after_epoch": 31, "anomaly_mode": False},
                                  "student": {"epochs": 20, "reused": False}}))
    assert cell["main-teacher"]["resumed_after_epoch"] == 31 and "resumed_after_epoch" not in cell["student"]


def test_random_streams_round_trip():
    generator = torch.Generator().manual_seed(7)
    streams = random_streams(generator)
    before = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    restore_random_streams(streams, generator)
    after = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2] == after[2] and torch.equal(before[3], after[3])
