"""The Base row is a RecBole row: on a user's dataset with the user's config files, `--teacher=none`
resolves every RecBole key as RecBole's Config does and trains to the metrics of RecBole's own loop."""
from __future__ import annotations

import logging
import os

import pytest
import torch
import yaml
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_seed

from recbole_csrec import run_recbole_csrec
from recbole_csrec.config import CSRecConfig, preset_description
from recbole_csrec.errors import CSRecError
from recbole_csrec.paths import PROPERTIES_DIR
from tests.conftest import TINY_NAME

with open(os.path.join(PROPERTIES_DIR, "overall.yaml")) as _handle:
    CSREC_KEYS = set(yaml.safe_load(_handle))


@pytest.fixture
def user_yaml(tiny_data, tmp_path) -> str:
    """What a RecBole user's config for the tiny dataset looks like (no CSRec key in it)."""
    settings = {
        "data_path": tiny_data, "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "train_neg_sample_args": None,  # RecBole's own rule for CE-trained sequential models
        "epochs": 2, "train_batch_size": 64, "eval_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 10,
        "embedding_size": 16, "hidden_size": 16, "inner_size": 32, "show_progress": False,
        "state": "INFO", "use_gpu": False, "checkpoint_dir": "saved",
    }
    path = str(tmp_path / "my_recbole.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(settings, handle)
    return path


@pytest.mark.parametrize("model", ["GRU4Rec", "NARM", "SASRec", "NextItNet"])
def test_every_recbole_key_resolves_as_recbole_does(user_yaml, model):
    recbole = Config(model=model, dataset=TINY_NAME, config_file_list=[user_yaml]).final_config_dict
    ours = CSRecConfig(model=model, dataset=TINY_NAME, config_file_list=[user_yaml],
                       config_dict={"teacher": "none"}).final_config_dict
    assert set(ours) - set(recbole) == CSREC_KEYS  # ours only adds CSRec's own keys
    assert set(recbole) <= set(ours)
    differing = {k: (recbole[k], ours[k]) for k in recbole if recbole[k] != ours[k]}
    assert differing == {}
    assert ours["preset"] == "none"


def _recbole_run(user_yaml: str) -> tuple[dict, dict]:
    """RecBole's run_recbole, step by step (its evaluate(load_best_model=True) cannot read its own
    checkpoint with torch>=2.6, so the best checkpoint, written by this test, is loaded here)."""
    config = Config(model="GRU4Rec", dataset=TINY_NAME, config_file_list=[user_yaml])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    _, best_valid_result = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    return best_valid_result, trainer.evaluate(test_data, load_best_model=False)


def test_base_row_trains_to_recbole_metrics(user_yaml, caplog):
    valid, test = _recbole_run(user_yaml)
    with caplog.at_level(logging.INFO):
        result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="none",
                                   config_file_list=[user_yaml])
    assert set(result["test_result"]) == set(test) and len(test) >= 5  # RecBole's default metrics
    for key in test:
        assert result["test_result"][key] == pytest.approx(test[key], abs=1e-6), key
        assert result["best_valid_result"][key] == pytest.approx(valid[key], abs=1e-6), key
    assert "settings preset: none" in caplog.text


def test_paper_preset_on_for_builtins_only(tiny_data):
    paper = CSRecConfig(model="GRU4Rec", dataset="ml")
    assert paper["preset"] == "paper"
    assert (paper["num_layers"], paper["dropout_prob"], paper["valid_metric"]) == (2, 0.5, "NDCG@10")
    assert paper["topk"] == [5, 10, 20] and paper["MAX_ITEM_LIST_LENGTH"] == 9  # dataset yaml kept
    assert "properties/preset/paper/model/GRU4Rec.yaml" in preset_description(paper)
    plain = CSRecConfig(model="GRU4Rec", dataset="ml", config_dict={"preset": "none",
                                                                    "train_neg_sample_args": None})
    recbole = Config(model="GRU4Rec", dataset="ml", config_dict={"train_neg_sample_args": None})
    assert (plain["num_layers"], plain["dropout_prob"], plain["valid_metric"]) == \
           (recbole["num_layers"], recbole["dropout_prob"], recbole["valid_metric"]) == (1, 0.3, "MRR@10")
    assert plain["MAX_ITEM_LIST_LENGTH"] == 9  # the built-in's protocol still loads its files
    # a user's dataset can ask for the paper's settings
    tiny = CSRecConfig(model="SASRec", dataset=TINY_NAME, config_dict={"data_path": tiny_data,
                                                                       "preset": "paper"})
    assert (tiny["hidden_dropout_prob"], tiny["metrics"]) == (0.3, ["Recall", "NDCG"])


def test_recbole_defaults_are_not_silently_overridden(tiny_data):
    with pytest.raises(CSRecError, match=r"train_neg_sample_args=.*must be None.*--preset=paper"):
        CSRecConfig(model="GRU4Rec", dataset=TINY_NAME, config_dict={"data_path": tiny_data})
    with pytest.raises(CSRecError, match="unknown preset 'paperz': accepted are none, paper"):
        CSRecConfig(model="GRU4Rec", dataset="ml", config_dict={"preset": "paperz"})
