"""Bad input: one clear line naming the value and what is accepted, exit 2, nothing written."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from recbole_csrec.cli import main
from tests.conftest import TINY_NAME

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_bad_input_table() -> list[tuple[list[str], str]]:
    """The README's bad-input table: (arguments, expected text of the one error line) per row."""
    with open(os.path.join(REPO, "README.md")) as handle:
        text = handle.read()
    block = text.split("<!-- bad-input-table")[1].split("<!-- end bad-input-table -->")[0]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", block, flags=re.M)
    return [(args.split(), message) for args, message in rows]


CASES = readme_bad_input_table()


def test_the_readme_table_is_read():
    assert len(CASES) >= 20 and (["--dataset=no_such_data", "--teacher=model"],
                                 "unknown dataset 'no_such_data'") in CASES


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
