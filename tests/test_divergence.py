"""A diverging phase stops with one line naming the phase and epoch, exit 3, and keeps what
finished before it."""
from __future__ import annotations

import os
import re

import pytest
import torch

from recbole_csrec.cli import main
from recbole_csrec.errors import DivergenceError, exit_code
from recbole_csrec.quick_start import run_recbole_csrec
from recbole_csrec.teachers.store import TeacherStore
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config

LOAD_COL = "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}"


def test_a_huge_learning_rate_is_exit_3_with_one_line(tiny_data, capsys):
    code = main(["--model=GRU4Rec", f"--dataset={TINY_NAME}", f"--data_path={tiny_data}", LOAD_COL,
                 "--teacher=model", "--learning_rate=1e30", "--epochs=2", "--embedding_size=16",
                 "--hidden_size=16", "--state=ERROR", "--show_progress=False", "--preset=paper"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert re.match(r"recbole-csrec: error: phase 'teacher-1' diverged at epoch [01] \(training loss nan\)",
                    err[-1]), err
    assert "--learning_rate (now 1e+30)" in err[-1] and "Traceback" not in "\n".join(err)


class InfAtSecondEpoch(CSRecTrainer):
    """The student's loss becomes infinite in its second epoch (RecBole checks only NaN)."""

    def _check_nan(self, loss):
        super()._check_nan(loss * float("inf") if self._epoch == 1 else loss)


def test_finished_teachers_stay_in_the_store_when_the_student_diverges(tiny_data):
    config = fast_config(tiny_data, epochs=2)
    with pytest.raises(DivergenceError) as caught:
        run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_dict=config, trainer_class=InfAtSecondEpoch)
    assert (caught.value.phase, caught.value.epoch) == ("student", 1)
    assert caught.value.loss == float("inf")
    store = TeacherStore(os.path.join("saved", "teacher_store"))
    entries = [e for e in os.listdir(store.root) if not e.startswith(".") and e != "soft_labels"]
    assert len(entries) == 2 and all(store.get(key) is not None for key in entries)
    # The rerun (a plain student) loads both teachers instead of training them.
    result = run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_dict=config)
    assert [result["phases"][f"teacher-{k}"]["reused"] for k in (1, 2)] == [True, True]


def test_exit_code_maps_divergence_to_3(capsys):
    def diverge():
        raise DivergenceError("teacher-2", 4, float("nan"), "lower --learning_rate")

    assert exit_code("prog", diverge) == 3
    assert capsys.readouterr().err.strip() == (
        "prog: error: phase 'teacher-2' diverged at epoch 4 (training loss nan): lower --learning_rate")


def test_check_nan_accepts_finite_losses(tiny_data):
    from recbole_csrec.config import CSRecConfig
    from recbole.data import create_dataset
    from recbole.utils import get_model

    config = CSRecConfig("GRU4Rec", TINY_NAME, config_dict=fast_config(tiny_data))
    model = get_model("GRU4Rec")(config, create_dataset(config))
    trainer = CSRecTrainer(config, model, phase="p", weights_file="w.pth", write_files=False)
    trainer._check_nan(torch.tensor(1.5))
    with pytest.raises(DivergenceError, match="phase 'p' diverged"):
        trainer._check_nan(torch.tensor(float("-inf")))
