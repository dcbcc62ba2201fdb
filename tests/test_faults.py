"""Killed runs (SIGKILL) end, after a rerun, exactly as uninterrupted ones (short version of
run_scripts/fault_injection.py)."""
from __future__ import annotations

import os

from recbole_csrec.benchmark.faults import STEPS, WRITERS, differences, run_trials

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_three_kills_leave_nothing_lost_or_corrupt(tmp_path):
    lines = []
    trials = run_trials(trials=3, seed=11, root=str(tmp_path), log=lines.append)
    assert len(trials) == 3 and lines[0].startswith("reference run:")
    assert all(t.ok for t in trials), lines
    assert all(0 <= t.step < len(STEPS) for t in trials)
    assert os.listdir(tmp_path) == []  # trial folders removed


def test_an_oserror_in_each_writer_leaves_nothing_lost_or_corrupt(tmp_path):
    """ENOSPC injected once into every writer (the disk soft-label cache included): the failed run
    stops, and its rerun ends exactly as an uninterrupted one."""
    lines = []
    trials = run_trials(trials=1, seed=3, root=str(tmp_path), log=lines.append, disk_cache=True, fault="oserror")
    assert sorted(t.writer for t in trials) == sorted(WRITERS), lines
    assert all(t.ok and "exited 0" not in t.interrupted for t in trials), lines


def test_a_changed_metric_or_a_lost_entry_is_reported():
    reference = {"dataset": {"a": "1"}, "store": ["k1", "k2"], "partials": [], "caches": ["c"], "cache_hashes": {}, "per_user_rows": 5,
                 "run_id": "r", "metrics": {"test_ndcg@10": 0.5}}
    assert differences(dict(reference), reference) == []
    assert differences({**reference, "store": ["k1"]}, reference) == ["store"]
    assert differences({**reference, "partials": ["k2.pth"]}, reference) == ["partials"]
    assert differences({**reference, "metrics": {"test_ndcg@10": 0.4}}, reference) == ["metric test_ndcg@10"]


def test_the_script_is_a_thin_wrapper():
    with open(os.path.join(REPO, "run_scripts", "fault_injection.py")) as handle:
        text = handle.read()
    assert "sys.path" not in text and "from recbole_csrec.benchmark.faults import main" in text
