"""The speed benchmark runs end to end in quick mode on the tiny dataset (figures not asserted)."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_speed_quick(tiny_data, tmp_path):
    output = tmp_path / "performance.md"
    command = [sys.executable, os.path.join(REPO, "run_scripts", "bench_speed.py"), "--model", "GRU4Rec",
               "--dataset", "tiny", "--teacher", "model", "--quick", "--epochs", "2", "--threads", "1",
               "--output", str(output), f"--data_path={tiny_data}", "--use_gpu=False", "--state=WARNING", "--preset=paper",
               "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}"]
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("student/base epoch ratio: ")
    ratio = lines[-1].rsplit(" ", 1)[1]
    assert len(ratio.split(".")[1]) == 2 and float(ratio) > 0
    text = output.read_text()
    assert "<!-- bench:GRU4Rec-tiny-model -->" in text
    assert "bench_speed.py --model GRU4Rec --dataset tiny" in text and "--output" not in text
    for label in ("CSRec student, cached", "on-the-fly", "cache build", "end-to-end", "peak memory"):
        assert label in text
    # a second run for another model keeps the first section
    command[command.index("GRU4Rec")] = "SASRec"
    assert subprocess.run(command, capture_output=True, text=True, env=env, timeout=300).returncode == 0
    text = output.read_text()
    assert "<!-- bench:GRU4Rec-tiny-model -->" in text and "<!-- bench:SASRec-tiny-model -->" in text
