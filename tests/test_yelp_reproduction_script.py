"""run_scripts/yelp_reproduction.sh: which student beta/T and which methods each model's table runs
(issue 30's scope: GRU4Rec's own Yelp search and CSRec-D; the other models their Last.FM choice,
without CSRec-D). The training itself is a stand-in `python` that records its arguments."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs `python -c` (the script's yaml read) with the real interpreter; records everything else.
FAKE_PYTHON = f"""#!/usr/bin/env bash
[ "$1" = -c ] && exec {sys.executable} "$@"
echo "$@" >> "$CALLS"
"""


def _setup(tmp_path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "data" / "yelp").mkdir(parents=True)
    (tmp_path / "data" / "yelp" / "manifest.json").write_text("{}")


def _best(tmp_path, folder: str, beta: float, temperature: int) -> None:
    path = tmp_path / "out" / "hyper" / folder
    path.mkdir(parents=True)
    (path / "best_config.yaml").write_text(f"teacher: model\nbeta: {beta}\ntemperature: {temperature}\n")


def _run(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.txt"),
           "COMMIT": "0", "RESULTS": str(tmp_path / "out"), "DATA": str(tmp_path / "data"),
           "STORE": str(tmp_path / "store"), **env}
    return subprocess.run(["bash", os.path.join(WORKTREE, "run_scripts", "yelp_reproduction.sh"), *args],
                          env=env, capture_output=True, text=True, cwd=WORKTREE)


def _calls(tmp_path) -> list[list[str]]:
    return [line.split() for line in (tmp_path / "calls.txt").read_text().splitlines()]


def test_gru4rec_needs_its_yelp_search_and_the_others_take_their_lastfm_choice(tmp_path):
    _setup(tmp_path)
    _best(tmp_path, "GRU4Rec", 0.75, 6)  # GRU4Rec's Last.FM choice is not used on Yelp
    _best(tmp_path, "SASRec", 0.5, 3)
    result = _run(tmp_path, "choice", "GRU4Rec")
    assert result.returncode == 2 and "yelp_reproduction.sh search GRU4Rec" in result.stderr
    assert _run(tmp_path, "choice", "SASRec").stdout.split() == ["--beta=0.5", "--temperature=3"]
    _best(tmp_path, "yelp_SASRec", 0.25, 1)  # a Yelp search, where one ran, wins
    assert _run(tmp_path, "choice", "SASRec").stdout.split() == ["--beta=0.25", "--temperature=1"]
    _best(tmp_path, "yelp_GRU4Rec", 0.5, 1)
    assert _run(tmp_path, "choice", "GRU4Rec").stdout.split() == ["--beta=0.5", "--temperature=1"]


def test_table_runs_csrec_d_for_gru4rec_only_one_row_per_call(tmp_path):
    _setup(tmp_path)
    _best(tmp_path, "NARM", 0.75, 6)
    _best(tmp_path, "yelp_GRU4Rec", 0.5, 1)
    assert _run(tmp_path, "table", "NARM", SEEDS="2020").returncode == 0
    assert _run(tmp_path, "table", "GRU4Rec", SEEDS="2021").returncode == 0
    calls = _calls(tmp_path)
    teachers = [(c[c.index("--models") + 1], c[c.index("--teachers") + 1]) for c in calls]
    assert teachers == [("NARM", t) for t in ("none", "pop", "model", "training")] + \
        [("GRU4Rec", t) for t in ("none", "pop", "model", "data", "training")]
    # Base rows take no beta/T (no soft labels): their config hash does not depend on the search
    assert not any(a.startswith(("--beta", "--temperature")) for c in (calls[0], calls[4]) for a in c)
    assert all("--beta=0.75" in c and "--temperature=6" in c for c in calls[1:4])
    assert all("--beta=0.5" in c for c in calls[5:])
    assert all(c[c.index("--seeds") + 1] == "2021" for c in calls[4:])
