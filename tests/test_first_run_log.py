"""What a newcomer sees in a first run: the command as typed, the device and split that apply, where
each phase's best weights went (once), and none of RecBole's pandas/torch FutureWarnings."""
from __future__ import annotations

import logging
import sys
import warnings

import yaml

from recbole_csrec.cli import main as cli_main
from tests.conftest import TINY_NAME, fast_config


def test_first_run_log_reads_clean(tiny_data, tmp_path, monkeypatch, caplog):
    settings = tmp_path / "tiny.yaml"
    settings.write_text(yaml.safe_dump(fast_config(tiny_data)))
    argv = ["--model=GRU4Rec", f"--dataset={TINY_NAME}", f"--config_files={settings}",
            "--teacher=model", "--epochs=2", "--num_teachers=1"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_csrec.py"] + argv)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        assert cli_main(argv) == 0
    messages = [record.getMessage() for record in caplog.records]
    command = [m for m in messages if m.startswith("command: ")]
    assert command == ["command: run_recbole_csrec.py " + " ".join(argv)]  # as typed, not RecBole's view
    assert any(m.startswith("device: cpu") and "; split: " in m for m in messages)
    best = [m for m in messages if "best weights from epoch" in m]
    assert len(best) == 2 and best[0].startswith("teacher-1:") and best[1].startswith("student:")
    assert not [m for m in messages if m.startswith("Saving ")]  # not at every improvement
    recbole_future = [w for w in caught if issubclass(w.category, FutureWarning) and "recbole" in w.filename]
    assert recbole_future == [], [str(w.message)[:80] for w in recbole_future]
