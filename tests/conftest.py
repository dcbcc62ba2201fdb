"""Shared fixtures: a tiny synthetic RecBole atomic dataset and fast run settings."""
from __future__ import annotations

import sys

import pytest

from recbole_csrec.data.synthetic import write_chain_dataset

TINY_NAME = "tiny"


def write_tiny_dataset(root: str, name: str = TINY_NAME, users: int = 40, items: int = 30,
                       length: int = 12, seed: int = 0) -> str:
    """Returns data_path (the folder that holds `<name>/<name>.inter`)."""
    return write_chain_dataset(root, name, users, items, length, seed)


def fast_config(data_path: str, **overrides) -> dict:
    """Settings that make a whole CSRec run take seconds on a 2-core CPU."""
    config = {
        # A user's dataset gets RecBole's defaults; the tests train with the paper's settings
        # (CE without negative sampling, Recall/NDCG@5/10/20), as on the built-in datasets.
        "preset": "paper",
        "data_path": data_path,
        "epochs": 1,
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "MAX_ITEM_LIST_LENGTH": 10,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "show_progress": False,
        "state": "WARNING",
        "use_gpu": False,
        "embedding_size": 16,
        "hidden_size": 16,
        "inner_size": 32,
        "block_num": 1,
        "checkpoint_dir": "saved",
    }
    config.update(overrides)
    return config


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> str:
    """data_path of a fresh tiny dataset; cwd is a temp dir so log/ and saved/ land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])  # RecBole reads --key=value from sys.argv
    return write_tiny_dataset(str(tmp_path / "data"))
