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


def _env(tmp_path) -> dict[str, str]:
    """The stand-in python first on PATH; results, data and store under tmp_path; no commits."""
    return {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.txt"),
            "COMMIT": "0", "RESULTS": str(tmp_path / "out"), "DATA": str(tmp_path / "data"),
            "STORE": str(tmp_path / "store")}


def _run(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", os.path.join(WORKTREE, "run_scripts", "yelp_reproduction.sh"), *args],
                          env={**_env(tmp_path), **env}, capture_output=True, text=True, cwd=WORKTREE)


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


# As FAKE_PYTHON, and a search writes its chosen beta/T where run_hyper_csrec.py would.
FAKE_PYTHON_SEARCH = FAKE_PYTHON + """
for a in "$@"; do case $a in --output=*) out=${a#--output=};; esac; done
if [ "$1" = run_hyper_csrec.py ]; then
  mkdir -p "$out" && printf 'teacher: model\\nbeta: 0.5\\ntemperature: 3\\n' > "$out/best_config.yaml"
fi
"""


def test_cpu_lanes_train_the_search_teachers_then_search_then_every_table_row(tmp_path):
    _setup(tmp_path)
    (tmp_path / "bin" / "python").write_text(FAKE_PYTHON_SEARCH)
    _best(tmp_path, "SASRec", 0.5, 3)
    _best(tmp_path, "NARM", 0.75, 6)
    _best(tmp_path, "NextItNetLastItem", 0.25, 1)
    result = subprocess.run(["bash", os.path.join(WORKTREE, "run_scripts", "device", "yelp_lanes.sh"), "cpu"],
                            env=_env(tmp_path), capture_output=True, text=True, cwd=WORKTREE, timeout=120)
    assert result.returncode == 0, result.stderr
    calls = _calls(tmp_path)
    rows = [(c[c.index("--models") + 1], c[c.index("--teachers") + 1], c[c.index("--seeds") + 1],
             c[c.index("--output") + 1]) for c in calls if "--models" in c]
    search = next(i for i, c in enumerate(calls) if c[0] == "run_hyper_csrec.py")
    before = [(m, t, s) for m, t, s, _ in rows[:4]]
    # the search's teachers first, each twice: its table row, then into the store even if that row
    # had landed in an earlier session (a scratch output, not the table)
    assert sorted(before) == sorted([("GRU4Rec", "none", s) for s in ("2021", "2022")] * 2)
    assert sum(out.startswith("results/yelp_search_teachers") for *_, out in rows[:4]) == 2
    assert all(calls.index(c) < search for c in calls if "--models" in c and c[c.index("--seeds") + 1] != "2020"
               and c[c.index("--teachers") + 1] == "none" and "GRU4Rec" in c[:c.index("--teachers")])
    after = {(m, t, s) for m, t, s, _ in rows[4:]}
    gru = {("GRU4Rec", t, s) for t in ("none", "pop", "model", "data", "training") for s in ("2020", "2021", "2022")}
    others = {(m, t, "2020") for m in ("SASRec", "NARM", "NextItNetLastItem") for t in ("none", "pop", "model", "training")}
    assert gru - {("GRU4Rec", "none", "2021"), ("GRU4Rec", "none", "2022")} <= after and others <= after
    assert all("--beta=0.5" in c and "--temperature=3" in c for c in calls
               if "GRU4Rec" in c and "--teachers" in c and c[c.index("--teachers") + 1] != "none")
    bridge = {c[c.index("--teachers") + 1]: c for c in calls
              if any(a.endswith("yelp_bridge.csv") for a in c)}
    assert set(bridge) == {"none", "model"} and all("--preset=paper" not in c for c in bridge.values())
    # as the table's rows: Base without the student's beta/T (its settings equal Base's main rows)
    assert "--beta=0.5" not in bridge["none"] and "--beta=0.5" in bridge["model"]
    assert all("--mask_input_items=True" in c and "yelp_authors" in c for c in bridge.values())
    assert calls[-1][:2] == ["run_scripts/analyze.py", "popularity"]
