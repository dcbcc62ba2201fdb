"""run_scripts/reproduction_lib.sh. student_search: a search's finished trials are kept (copied
where they are committed) while it runs and when it stops, and the next call carries them over
with --trials_from; the search itself is a stand-in `python` here (test_tune_carried.py runs the
real one). drop_unused_soft_labels: lanes sharing a store never delete each other's caches."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Records its arguments, writes the tables a search writes, and exits with $FAKE_RC (a stopped
# search writes no best_config.yaml).
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$@" >> "$CALLS"
for a in "$@"; do case $a in --output=*) out=${a#--output=};; esac; done
mkdir -p "$out"; echo "trials of call $(wc -l < "$CALLS")" > "$out/trials.csv"
touch "$out/trials.md" "$out/search.json"
[ "$FAKE_RC" = 0 ] && touch "$out/best_config.yaml" "$out/summary.txt"
exit "$FAKE_RC"
"""


# A search that writes its table after its first trial, then runs on (killed outright later).
FAKE_LONG_SEARCH = """#!/usr/bin/env bash
for a in "$@"; do case $a in --output=*) out=${a#--output=};; esac; done
mkdir -p "$out"; echo "first trial" > "$out/trials.csv"
sleep 4
grep -q "first trial" "$CHOSEN/trials.csv" && echo "kept while running" >> "$CALLS"
exit 1
"""


def _fake(tmp_path, text: str) -> None:
    (tmp_path / "bin").mkdir(exist_ok=True)
    fake = tmp_path / "bin" / "python"
    fake.write_text(text)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)


def _call(tmp_path, rc: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE_RC": str(rc),
           "CALLS": str(tmp_path / "calls.txt"), "COMMIT": "0", "CHOSEN": str(tmp_path / "chosen"),
           "KEEP_EVERY": "1"}
    script = (f"source {WORKTREE}/run_scripts/reproduction_lib.sh; "
              f"student_search {tmp_path / 'chosen'} {tmp_path / 'out'} 'msg' --model=GRU4Rec")
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)


def test_stopped_search_is_kept_and_carried_over(tmp_path):
    _fake(tmp_path, FAKE_PYTHON)
    chosen = tmp_path / "chosen"

    assert _call(tmp_path, 1).returncode == 1  # stopped: its trials are kept, no best point
    assert (chosen / "trials.csv").read_text() == "trials of call 1\n" and (chosen / "search.json").exists()
    assert not (chosen / "best_config.yaml").exists()
    assert _call(tmp_path, 0).returncode == 0  # the next call carries them over and finishes
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert "--trials_from" not in calls[0]
    assert f"--trials_from={chosen}" in calls[1].split() and "--resume" in calls[1].split()
    assert (chosen / "best_config.yaml").exists() and (chosen / "trials.csv").read_text() == "trials of call 2\n"
    result = _call(tmp_path, 0)  # done: not run again
    assert result.returncode == 0 and "search already done" in result.stdout
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 2


def test_finished_trials_are_kept_while_the_search_runs(tmp_path):
    _fake(tmp_path, FAKE_LONG_SEARCH)
    assert _call(tmp_path, 1).returncode == 1
    assert (tmp_path / "calls.txt").read_text() == "kept while running\n"


def test_soft_label_caches_in_use_by_another_lane_are_kept(tmp_path):
    root = tmp_path / "soft_labels"
    for name in ("open.disk", "mapped.disk", "done.disk"):
        (root / name).mkdir(parents=True)
        (root / name / "logits.f16").write_bytes(b"\0" * 4096)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import mmap, sys, time\n"
        f"held = open({str(root / 'open.disk' / 'logits.f16')!r}, 'rb')\n"
        f"with open({str(root / 'mapped.disk' / 'logits.f16')!r}, 'rb') as f:\n"
        "    mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"  # the fd closes, the map stays
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        script = f"source {WORKTREE}/run_scripts/reproduction_lib.sh; drop_unused_soft_labels {root}"
        subprocess.run(["bash", "-c", script], check=True)
        assert sorted(p.name for p in root.iterdir()) == ["mapped.disk", "open.disk"]
    finally:
        holder.kill()
