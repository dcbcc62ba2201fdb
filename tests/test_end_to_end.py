"""Whole runs on the tiny dataset: every teacher value, and each paper model as student."""
from __future__ import annotations

import os

import pytest
import torch

from recbole_csrec import run_recbole_csrec
from tests.conftest import TINY_NAME, fast_config

PAPER_MODELS = ["GRU4Rec", "NextItNet", "NARM", "SASRec", "Caser"]


def _check_result(result: dict, expected_phases: list[str]) -> None:
    assert list(result["phases"]) == expected_phases
    for name, phase in result["phases"].items():
        assert phase["epochs"] >= 1
        assert "ndcg@10" in phase["best_valid_result"]
        assert "ndcg@10" in phase["test_result"]
        assert os.path.isfile(phase["weights"]), name
        loaded = torch.load(phase["weights"], weights_only=True)
        assert loaded["meta"]["phase"] == name
    assert result["test_result"] == result["phases"]["student"]["test_result"]


@pytest.mark.parametrize("teacher, phases", [
    ("none", ["student"]),
    ("pop", ["student"]),
    ("model", ["teacher-1", "teacher-2", "student"]),
    ("data", ["teacher-1", "teacher-2", "student"]),
])
def test_every_teacher_runs(tiny_data, teacher, phases):
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher=teacher,
                               config_dict=fast_config(tiny_data))
    _check_result(result, phases)
    assert result["teacher"] == teacher


@pytest.mark.parametrize("model", PAPER_MODELS)
def test_each_model_is_a_student(tiny_data, model):
    result = run_recbole_csrec(model=model, dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data, num_teachers=1))
    _check_result(result, ["teacher-1", "student"])
    assert result["phases"]["student"]["model"] == model


def test_heterogeneous_teacher(tiny_data):
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data, num_teachers=1, teacher_model="SASRec"))
    assert result["phases"]["teacher-1"]["model"] == "SASRec"
    assert result["phases"]["student"]["model"] == "GRU4Rec"
