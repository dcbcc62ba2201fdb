"""Every command's bad input is one line on stderr and exit 2, before anything trains or is written."""
from __future__ import annotations

import importlib
import os

import pytest

COMMANDS = {
    "recbole_csrec.benchmark.aggregate": ["--metrics"],
    "run_scripts.reproduce.analyses": ["--no_such_flag"],
    "recbole_csrec.benchmark.faults": ["--no_such_flag"],
    "run_scripts.reproduce.results_page": ["--no_such_flag"],
    "recbole_csrec.benchmark.runner": ["--no_such_flag"],
    "recbole_csrec.benchmark.speed": ["--model=GRU4Rec", "--dataset=ml", "--learning_rat=0.01"],
    "recbole_csrec.benchmark.step_costs": ["--model=GRU4Rec", "--dataset=ml", "--learning_rat=0.01"],
    "recbole_csrec.cli": ["--model=GRU4Rec", "--dataset=ml", "--learning_rat=0.01"],
    "recbole_csrec.tune.cli": ["--model=GRU4Rec", "--dataset=ml", "--no_such_flag"],
}


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_one_line_and_exit_2(module, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = importlib.import_module(module).main(COMMANDS[module])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "error:" in err[0], err
    assert os.listdir(tmp_path) == []  # nothing written (no log/, saved/, docs/)
