"""A search stopped with Ctrl+C writes no best point and resumes with --resume; trials use their CPUs."""
from __future__ import annotations

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from recbole_csrec import CSRecError
from recbole_csrec.tune import SearchSpace, run_hyper_csrec
from recbole_csrec.tune.cli import main as hyper_main
from recbole_csrec.tune.trials import trial_rows
from tests.conftest import TINY_NAME, fast_config

WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fixed(data_path: str, **overrides) -> dict:
    fixed = fast_config(data_path, **{"num_teachers": 1, **overrides})
    fixed.pop("checkpoint_dir")
    return fixed


def _trial_results(out) -> dict[str, list[dict]]:
    """Ray's per-trial result.json (one JSON line per reported epoch), by trial folder name."""
    found = {}
    for path in glob.glob(os.path.join(str(out), "ray", "*", "*", "result.json")):
        with open(path) as handle:
            found[os.path.basename(os.path.dirname(path))] = [json.loads(line) for line in handle if line.strip()]
    return found


def _read_trials(out) -> list[dict]:
    with open(os.path.join(str(out), "trials.csv")) as handle:
        return list(csv.DictReader(handle))


def test_a_trial_trains_with_the_cpus_it_holds(tiny_data, tmp_path):
    """Ray starts workers with OMP_NUM_THREADS=1; a trial holding 2 CPUs must use 2 threads.
    Also: --resume with nothing to resume starts the search."""
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.5]\n")
    out = tmp_path / "out"
    result = run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=str(space),
                             fixed=_fixed(tiny_data), output=str(out), num_cpus=2, cpus_per_trial=2,
                             resume=True)
    assert [row["status"] for row in result["rows"]] == ["ok"]
    (lines,) = _trial_results(out).values()
    assert {line["torch_threads"] for line in lines} == {2}


_INTERRUPTIBLE = """
import sys
from recbole_csrec import CSRecError
from recbole_csrec.tune import run_hyper_csrec
sys.argv = ["search"]
try:
    run_hyper_csrec(model="GRU4Rec", dataset={dataset!r}, teacher="model", params_file={space!r},
                    fixed={fixed!r}, output={out!r}, num_cpus=2, cpus_per_trial=2)
except CSRecError as error:
    print(error, file=sys.stderr)
    sys.exit(3)
"""


def _second_trial_started(out) -> bool:
    """The 50-epoch trial has reported an epoch: the 1-epoch one (run first, alone) is finished."""
    return any("epochs=50" in name and lines for name, lines in _trial_results(out).items())


def test_an_interrupted_search_resumes_keeping_finished_trials(tiny_data, tmp_path):
    # Two trials, one at a time (2 CPUs each of 2): a 1-epoch one, then a 50-epoch one that the
    # Ctrl+C (SIGINT) cuts off after its first epoch.
    space = tmp_path / "space.yaml"
    space.write_text("epochs: [1, 50]\n")
    out = tmp_path / "out"
    fixed = _fixed(tiny_data, stopping_step=100)
    script = _INTERRUPTIBLE.format(dataset=TINY_NAME, space=str(space), fixed=fixed, out=str(out))
    env = {**os.environ, "PYTHONPATH": WORKTREE}
    search = subprocess.Popen([sys.executable, "-c", script], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 600  # a hang guard, not a timing: a loaded 2-core machine needed over 240 s
        while not _second_trial_started(out):
            assert search.poll() is None, search.communicate()[1][-2000:]
            assert time.time() < deadline, "the second trial did not start in time"
            time.sleep(0.2)
        search.send_signal(signal.SIGINT)
        _, err = search.communicate(timeout=240)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 3, err[-2000:]
    assert "search interrupted: 1 of 2 trials unfinished" in err and "--resume" in err
    assert not (out / "best_config.yaml").exists() and not (out / "summary.txt").exists()
    assert sorted(row["status"] for row in _read_trials(out)) == ["ok", "unfinished"]
    (first,) = [row for row in _read_trials(out) if row["status"] == "ok"]
    kept = (first["weights"], os.path.getmtime(first["weights"]))

    # A different search in the same folder is refused before Ray starts; nothing is written.
    other = tmp_path / "other.yaml"
    other.write_text("epochs: [1, 20]\n")
    with pytest.raises(CSRecError, match="holds a different search .*grid"):
        run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=str(other),
                        fixed=fixed, output=str(out), num_cpus=2, cpus_per_trial=2, resume=True)
    assert not (out / "best_config.yaml").exists()

    result = run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=str(space),
                             fixed=fixed, output=str(out), num_cpus=2, cpus_per_trial=2, resume=True)
    rows = {row["epochs"]: row for row in result["rows"]}
    assert sorted(rows) == [1, 50] and all(row["status"] == "ok" for row in rows.values())
    # The finished trial was kept, not trained again; the cut-off one went on from its last
    # validated epoch (its resume state in the store), and its row counts every epoch it trained.
    assert (rows[1]["weights"], os.path.getmtime(rows[1]["weights"])) == kept
    assert (out / "best_config.yaml").exists() and len(_read_trials(out)) == 2


def test_resume_flag_must_be_a_boolean(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.5]\n")
    code = hyper_main(["--dataset=tiny", f"--params_file={space}", "--resume=maybe"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "maybe" in err[0]


class _FakeResultGrid(list):
    """Ray 2.6.3's ResultGrid as `trial_rows` reads it: results in the order of
    `_experiment_analysis.trials`; a never-started trial's result has no metrics, so no config."""

    def __init__(self, results, trial_configs):
        super().__init__(results)
        self._experiment_analysis = SimpleNamespace(trials=[SimpleNamespace(config=c) for c in trial_configs])


def _fake_result(config, done, scores=()):
    frame = pd.DataFrame({"epoch": list(range(len(scores))), "valid_score": list(scores),
                          "weights": ["w"] * len(scores)}) if scores else None
    metrics = {"config": config, "done": done} if scores else {}
    return SimpleNamespace(path=f"/x/trial_{config['beta']}", log_dir=None, metrics_dataframe=frame,
                           metrics=metrics, config=metrics.get("config"), error=None)


def test_a_never_started_trial_reports_its_grid_point():
    # A search stopped during its second trial: the third never reported anything.
    points = [{"beta": 0.25}, {"beta": 0.5}, {"beta": 0.75}]
    grid = _FakeResultGrid([_fake_result(points[0], True, [0.1, 0.2]),
                            _fake_result(points[1], False, [0.1]),
                            _fake_result(points[2], False)], points)
    rows = trial_rows(grid, SearchSpace(grid={"beta": [0.25, 0.5, 0.75]}), bigger=True)
    assert [(row["beta"], row["status"]) for row in rows] == [
        (0.25, "ok"), (0.5, "unfinished"), (0.75, "unfinished")]
    assert rows[2]["epochs"] == 0
