"""Bad input: one clear line naming the value and what is accepted, exit 2, nothing written."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from recbole_csrec.cli import main
from tests.conftest import TINY_NAME

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    (["--teacher=foo"], "unknown teacher 'foo'"),
    (["--model=NoSuchModel"], "unknown model 'NoSuchModel'"),
    (["--model=BPR"], "model 'BPR' cannot be a CSRec student"),
    (["--model=BERT4Rec"], "model 'BERT4Rec' cannot be a CSRec student"),
    (["--teacher_model=BPR", "--teacher=model"], "teacher_model 'BPR' cannot be"),
    (["--dataset=no_such_data"], "unknown dataset 'no_such_data'"),
    (["--beta=1.5"], "beta=1.5 is outside [0, 1]"),
    (["--beta=-0.1"], "beta=-0.1 is outside [0, 1]"),
    (["--beta=abc"], "beta='abc' is not a number"),
    (["--temperature=0"], "temperature=0 must be > 0"),
    (["--temperature=-2"], "temperature=-2 must be > 0"),
    (["--num_teachers=0"], "num_teachers=0 must be an integer >= 1"),
    (["--num_teachers=1.5"], "num_teachers=1.5 must be an integer >= 1"),
    (["--sample_ratio=0"], "sample_ratio=0 is outside (0, 1]"),
    (["--sample_ratio=1.2"], "sample_ratio=1.2 is outside (0, 1]"),
    (["--ensemble=median"], "ensemble='median' is not accepted"),
    (["--kl_direction=both"], "kl_direction='both' is not accepted"),
    (["--loss_type=BPR"], "loss_type='BPR' is not accepted"),
    (["--diagnostics=maybe"], "diagnostics='maybe' is not accepted"),
]


@pytest.mark.parametrize("args, message", CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_data, monkeypatch, capsys, args, message):
    argv = ["--model=GRU4Rec", f"--dataset={TINY_NAME}", f"--data_path={tiny_data}", "--preset=paper"] + args
    argv = list({a.split("=")[0]: a for a in argv}.values())  # later --key wins, like a user retyping
    monkeypatch.setattr(sys, "argv", ["recbole-csrec"] + argv)
    before = sorted(os.listdir("."))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recbole-csrec: error: ")
    assert message in err[0]
    assert sorted(os.listdir(".")) == before  # no log/, saved/, dataset/ half-written


def test_script_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "run_recbole_csrec.py"), "--model=GRU4Rec",
                           "--dataset=ml", "--teacher=nope"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown teacher 'nope': accepted are none, pop, model, data" in proc.stderr.strip()
    assert os.listdir(tmp_path) == []


def test_console_script_is_installed_and_exits_2(tmp_path):
    script = shutil.which("recbole-csrec") or os.path.join(os.path.dirname(sys.executable), "recbole-csrec")
    if not os.path.isfile(script):
        pytest.fail("the console script recbole-csrec is not installed: pip install -e . (README)")
    proc = subprocess.run([script, "--model=GRU4Rec", "--dataset=ml", "--beta=2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "recbole-csrec: error: beta=2 is outside [0, 1]"
    assert os.listdir(tmp_path) == []
