"""Runs that start at once (parallel teachers, two lanes on one store, a Ray Tune grid) share
RecBole's checkpoint and log folders; RecBole's ensure_dir checks, then creates, so the folders
must exist before it runs."""
from __future__ import annotations

import os

import recbole.trainer.trainer as recbole_trainer
import recbole.utils.logger as recbole_logger
from recbole.data import create_dataset
from recbole.utils import get_model

from recbole_csrec.config import CSRecConfig
from recbole_csrec.run_logger import init_logger
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config


def _losing_the_race(seen: list):
    def racing_ensure_dir(path):  # RecBole's check-then-create, losing the race to another process
        seen.append(os.path.isdir(path))
        if not seen[-1]:
            raise FileExistsError(path)
    return racing_ensure_dir


def test_checkpoint_dir_exists_before_recboles_check_then_create(tiny_data, tmp_path, monkeypatch):
    checkpoint_dir = str(tmp_path / "fresh" / "saved")
    config = CSRecConfig("GRU4Rec", TINY_NAME,
                         config_dict=fast_config(tiny_data, checkpoint_dir=checkpoint_dir))
    model = get_model("GRU4Rec")(config, create_dataset(config))
    seen = []
    monkeypatch.setattr(recbole_trainer, "ensure_dir", _losing_the_race(seen))
    CSRecTrainer(config, model, phase="p", weights_file="w.pth", write_files=False)
    assert seen and all(seen)


def test_log_folders_exist_before_recboles_check_then_create(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # RecBole logs under ./log/<model>/
    config = CSRecConfig("GRU4Rec", TINY_NAME, config_dict=fast_config(tiny_data))
    seen = []
    monkeypatch.setattr(recbole_logger, "ensure_dir", _losing_the_race(seen))
    init_logger(config)
    assert len(seen) == 2 and all(seen)
    assert (tmp_path / "log" / "GRU4Rec").is_dir()
