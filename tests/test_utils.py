"""RecBole-style lookups (package first, then RecBole) and reloading a saved run from its weight file."""
from __future__ import annotations

import os

import pytest
import torch
from recbole.model.sequential_recommender import GRU4Rec
from recbole.trainer import Trainer
from recbole.utils import ModelType

from recbole_csrec import run_recbole_csrec
from recbole_csrec.checkpoint import load_weights, save_weights
from recbole_csrec.errors import CSRecError
from recbole_csrec.model import CSRecStudent, MainTeacher
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.lookups import get_model, get_trainer
from recbole_csrec.quick_start import load_data_and_model
from tests.conftest import TINY_NAME, fast_config


def test_lookups_search_this_package_first():
    assert get_model("CSRecStudent") is CSRecStudent and get_model("MainTeacher") is MainTeacher
    assert get_model("GRU4Rec") is GRU4Rec  # RecBole's
    assert get_trainer(ModelType.SEQUENTIAL, "CSRecStudent") is CSRecTrainer
    assert get_trainer(ModelType.SEQUENTIAL, "CSRec") is CSRecTrainer
    assert get_trainer(ModelType.SEQUENTIAL, "GRU4Rec") is Trainer  # RecBole's
    with pytest.raises((ValueError, ImportError)):  # RecBole's own error for an unknown name
        get_model("NoSuchModel")


def _evaluate(weights_file: str) -> dict:
    config, model, _, _, _, test_data = load_data_and_model(weights_file, {"eval_batch_size": 7})
    assert config["eval_batch_size"] == 7 and config["epochs"] == 2  # stored settings + the override
    assert not model.training
    return dict(Trainer(config, model).evaluate(test_data, load_best_model=False))


def _assert_same(reloaded: dict, reported: dict) -> None:
    assert set(reloaded) == set(reported) and reported
    for key in reported:
        assert reloaded[key] == pytest.approx(reported[key], abs=1e-6), key


def test_round_trip_student_and_teachers(tiny_data, monkeypatch):
    # CSRec-T: a plain side teacher, a main teacher (g1 + noise model) and the student
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="training",
                               config_dict=fast_config(tiny_data, epochs=2, noise_rank=4))
    run_dir = result["run_dir"]
    monkeypatch.setattr("sys.argv", ["evaluate.py", "--epochs=9"])  # the caller's flags are not read
    for phase in ("student", "side-teacher", "main-teacher"):
        weights = os.path.join(run_dir, f"{phase}.pth")
        checkpoint = torch.load(weights, weights_only=True)  # plain data only
        assert checkpoint["meta"]["config"]["dataset"] == TINY_NAME
        reported = result["test_result"] if phase == "student" else result["phases"][phase]["test_result"]
        _assert_same(_evaluate(weights), reported)
    # RecBole's convention: the trainer found by name, built from (config, model) alone
    config, model, _, _, _, test_data = load_data_and_model(os.path.join(run_dir, "student.pth"))
    trainer = get_trainer(config["MODEL_TYPE"], "CSRec")(config, model)
    _assert_same(dict(trainer.evaluate(test_data, load_best_model=False)), result["test_result"])
    # the same teacher from the teacher store
    store = os.path.join("saved", "teacher_store")
    entries = [os.path.join(store, k, "weights.pth") for k in os.listdir(store)
               if os.path.isfile(os.path.join(store, k, "weights.pth"))]
    side = [e for e in entries if load_weights(e)["meta"]["phase"] == "CSRec-T side-teacher"]
    assert len(side) == 1
    _assert_same(_evaluate(side[0]), result["phases"]["side-teacher"]["test_result"])


def test_weight_file_without_settings_is_refused(tmp_path):
    path = str(tmp_path / "old.pth")
    save_weights(torch.nn.Linear(2, 2), path, {"phase": "student"})
    with pytest.raises(CSRecError, match="holds no run settings"):
        load_data_and_model(path)
