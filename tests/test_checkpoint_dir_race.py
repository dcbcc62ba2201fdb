"""Trainers that start at once (parallel teachers, two lanes on one store) share a checkpoint
folder; RecBole's ensure_dir checks, then creates, so the folder must exist before it runs."""
from __future__ import annotations

import os

import recbole.trainer.trainer as recbole_trainer
from recbole.data import create_dataset
from recbole.utils import get_model

from recbole_csrec.config import CSRecConfig
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config


def test_checkpoint_dir_exists_before_recboles_check_then_create(tiny_data, tmp_path, monkeypatch):
    checkpoint_dir = str(tmp_path / "fresh" / "saved")
    config = CSRecConfig("GRU4Rec", TINY_NAME,
                         config_dict=fast_config(tiny_data, checkpoint_dir=checkpoint_dir))
    model = get_model("GRU4Rec")(config, create_dataset(config))
    seen = []

    def racing_ensure_dir(path):  # RecBole's check-then-create, losing the race to another process
        seen.append(os.path.isdir(path))
        if not seen[-1]:
            raise FileExistsError(path)

    monkeypatch.setattr(recbole_trainer, "ensure_dir", racing_ensure_dir)
    CSRecTrainer(config, model, phase="p", weights_file="w.pth", write_files=False)
    assert seen and all(seen)
