"""The teacher store is keyed by the model, not by the role it plays: a Base run with seed s and
CSRec-M's teacher seeded s are one model, trained once; so are CSRec-D's teacher-2 and CSRec-T's
side teacher of the same run seed (both: seed+2 on the same p-subsample)."""
from __future__ import annotations

import pytest
import torch

from recbole_csrec import run_recbole_csrec
from recbole_csrec.teachers.context import TeacherContext
from tests.conftest import TINY_NAME, fast_config

_REAL_TRAIN = TeacherContext._train


def _count_training(monkeypatch) -> list[str]:
    trained: list[str] = []

    def counting(self, name, *args, **kwargs):
        trained.append(name)
        return _REAL_TRAIN(self, name, *args, **kwargs)

    monkeypatch.setattr(TeacherContext, "_train", counting)
    return trained


def _weights(path: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k.removeprefix("backbone."): v for k, v in state.items()}


def _run(tiny_data, teacher: str, seed: int, **overrides) -> dict:
    return run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher=teacher,
                             config_dict=fast_config(tiny_data, epochs=2, seed=seed, **overrides))


def test_base_without_store_is_the_model_level_teacher(tiny_data):
    """The premise of sharing: the Base student (CSRecStudent without soft labels, no store)
    and CSRec-M's teacher-1 of run seed s-1 (seeded s) end with equal weights and results."""
    base = _run(tiny_data, "none", 2021, reuse_teachers=False)
    csrec_m = _run(tiny_data, "model", 2020, reuse_teachers=False, num_teachers=1)
    teacher = csrec_m["phases"]["teacher-1"]
    assert teacher["seed"] == 2021
    assert base["best_valid_result"] == teacher["best_valid_result"]
    assert base["test_result"] == teacher["test_result"]
    student_weights, teacher_weights = _weights(base["phases"]["student"]["weights"]), _weights(teacher["weights"])
    assert student_weights.keys() == teacher_weights.keys()
    for name, value in student_weights.items():
        assert torch.equal(value, teacher_weights[name]), name


def test_base_and_model_level_teacher_train_once(tiny_data, monkeypatch):
    trained = _count_training(monkeypatch)
    alone = _run(tiny_data, "none", 2021, reuse_teachers=False)
    assert trained == []  # without the store, Base trains as the student, not as a phase

    csrec_m = _run(tiny_data, "model", 2020)  # teachers seeded 2021 and 2022
    assert trained == ["teacher-1", "teacher-2"]
    base = _run(tiny_data, "none", 2021)  # the same model as teacher-1: loaded, not trained
    assert trained == ["teacher-1", "teacher-2"]
    student = base["phases"]["student"]
    assert student["reused"] and student["trained_as"] == "CSRec-M teacher-1"
    assert student["store_key"] == csrec_m["phases"]["teacher-1"]["store_key"]
    # The row is the one Base trains by itself, and its per-user ranks come from those weights.
    assert base["best_valid_result"] == alone["best_valid_result"]
    assert base["test_result"] == alone["test_result"]

    # The other way round: a Base run publishes, and the teacher that is the same model loads it.
    base_2023 = _run(tiny_data, "none", 2023)
    assert trained == ["teacher-1", "teacher-2", "student"]
    assert not base_2023["phases"]["student"]["reused"]
    later = _run(tiny_data, "model", 2021)  # teachers seeded 2022 (stored) and 2023 (Base's)
    assert trained == ["teacher-1", "teacher-2", "student"]
    assert later["phases"]["teacher-1"]["trained_as"] == "CSRec-M teacher-2"
    assert later["phases"]["teacher-2"]["trained_as"] == "Base student"
    assert later["phases"]["teacher-2"]["test_result"] == base_2023["test_result"]


def test_per_user_ranks_of_a_reused_base(tiny_data):
    trained_run = _run(tiny_data, "none", 2021)
    reused_run = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="none", per_user=True,
                                   config_dict=fast_config(tiny_data, epochs=2, seed=2021))
    assert reused_run["phases"]["student"]["reused"]
    fresh = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="none", per_user=True,
                              config_dict=fast_config(tiny_data, epochs=2, seed=2021, reuse_teachers=False))
    assert reused_run["test_result"] == trained_run["test_result"] == fresh["test_result"]
    assert reused_run["per_user"].equals(fresh["per_user"])


def test_side_teacher_is_the_data_level_teacher(tiny_data, monkeypatch):
    trained = _count_training(monkeypatch)
    data_level = _run(tiny_data, "data", 2020)
    assert trained == ["teacher-1", "teacher-2"]
    training_level = _run(tiny_data, "training", 2020)
    assert trained == ["teacher-1", "teacher-2", "main-teacher"]  # g2 is CSRec-D's teacher-2
    side = training_level["phases"]["side-teacher"]
    assert side["reused"] and side["seed"] == data_level["phases"]["teacher-2"]["seed"] == 2022
    assert side["store_key"] == data_level["phases"]["teacher-2"]["store_key"]


def test_student_settings_do_not_split_base(tiny_data, monkeypatch):
    """beta/T/teacher-only keys cannot change a Base model, so they do not make a second one."""
    trained = _count_training(monkeypatch)
    _run(tiny_data, "none", 2021)
    _run(tiny_data, "none", 2021, beta=0.25, temperature=6, num_teachers=3, sample_ratio=0.5)
    assert trained == ["student"]
    _run(tiny_data, "none", 2021, hidden_size=8)
    assert trained == ["student", "student"]


@pytest.mark.parametrize("teacher", ["none"])
def test_base_reuse_off_trains_every_time(tiny_data, monkeypatch, teacher):
    first = _run(tiny_data, teacher, 2021, reuse_teachers=False)
    second = _run(tiny_data, teacher, 2021, reuse_teachers=False)
    assert not first["phases"]["student"].get("reused")
    assert first["test_result"] == second["test_result"]


def test_dry_run_says_base_loads_the_teacher(tiny_data):
    from recbole_csrec.dry_run import dry_run_report
    from recbole_csrec.quick_start import build_configs

    def plan(seed: int) -> str:
        return dry_run_report(*build_configs("GRU4Rec", TINY_NAME, "none", None,
                                             fast_config(tiny_data, epochs=2, seed=seed)))

    assert "-> train, then publish to the teacher store" in plan(2021)
    _run(tiny_data, "model", 2020)
    assert "-> load from the teacher store" in plan(2021)
    assert "-> train, then publish" in plan(2024)


def test_student_is_a_store_entry_too(tiny_data, monkeypatch):
    """Same stored teachers + same student keys + same seed = the same student: loaded, and its
    test result and per-user ranks are those of a fresh training; a student key splits it."""
    import recbole_csrec.quick_start as quick_start

    trained: list[float] = []
    real = quick_start._train_student
    monkeypatch.setattr(quick_start, "_train_student",
                        lambda ctx, *a, **k: trained.append(ctx.config["beta"]) or real(ctx, *a, **k))
    first = _run(tiny_data, "model", 2020)
    second = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", per_user=True,
                               config_dict=fast_config(tiny_data, epochs=2, seed=2020))
    assert trained == [0.5]
    student = second["phases"]["student"]
    assert student["reused"] and student["trained_as"] == "CSRec-M student"
    assert second["test_result"] == first["test_result"]
    fresh = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", per_user=True,
                              config_dict=fast_config(tiny_data, epochs=2, seed=2020, reuse_teachers=False))
    assert fresh["test_result"] == first["test_result"]
    assert second["per_user"].equals(fresh["per_user"])
    _run(tiny_data, "model", 2020, beta=0.25)
    _run(tiny_data, "data", 2020)  # other teachers: another student
    assert trained == [0.5, 0.5, 0.25, 0.5]
