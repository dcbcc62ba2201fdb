"""--trials_from: a grid search whose Ray state is gone skips the points an earlier run of it
finished, from that run's trials.csv and search.json (another output folder, another store)."""
from __future__ import annotations

import csv
import glob
import os

import pytest

from recbole_csrec import CSRecError
from recbole_csrec.tune import SearchSpace, run_hyper_csrec
from recbole_csrec.tune.carried import grid_points, point_params, remaining_points
from tests.conftest import TINY_NAME, fast_config


def _fixed(data_path: str, **overrides) -> dict:
    fixed = fast_config(data_path, **{"epochs": 2, "num_teachers": 1, **overrides})
    fixed.pop("checkpoint_dir")
    return fixed


def _search(tiny_data, space, out, **kwargs):
    return run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=str(space),
                           fixed=kwargs.pop("fixed", _fixed(tiny_data)), output=str(out), num_cpus=2, **kwargs)


def _ray_trials(out) -> int:
    return len(glob.glob(os.path.join(str(out), "ray", "*", "*", "params.json")))


def _keep_only(folder, beta: float) -> None:
    """Mark every trial but `beta`'s unfinished, as a search stopped at the end of a session writes it."""
    path = os.path.join(str(folder), "trials.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if float(row["beta"]) != beta:
            row["status"] = "unfinished"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_grid_points_and_what_remains():
    space = SearchSpace(grid={"beta": [0.25, 0.75], "temperature": [1, 3]})
    points = grid_points(space)  # Ray's order: the first key varies fastest
    assert points == [{"beta": 0.25, "temperature": 1}, {"beta": 0.75, "temperature": 1},
                      {"beta": 0.25, "temperature": 3}, {"beta": 0.75, "temperature": 3}]
    assert remaining_points(space, [{"beta": 0.75, "temperature": 1, "x": 0}]) == [points[0], *points[2:]]
    assert point_params({"_grid_point": {"beta": 0.5}, "seed": 1}) == {"beta": 0.5, "seed": 1}


def test_carried_points_are_not_run_again(tiny_data, tmp_path, monkeypatch):
    import recbole_csrec.tune.progress as progress

    tables_while_running = []  # what the search wrote as each trial finished (tune/progress.py)
    monkeypatch.setattr(progress, "write_tables", lambda rows, *args: tables_while_running.append(rows))
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.25, 0.75]\n")
    first = _search(tiny_data, space, tmp_path / "a")
    scores = {row["beta"]: row["valid_score"] for row in first["rows"]}

    # The Ray state and the store are gone (another output, another store); one point finished.
    _keep_only(tmp_path / "a", 0.25)
    plan = _search(tiny_data, space, tmp_path / "b", trials_from=str(tmp_path / "a"), dry_run=True)["plan"]
    assert "1 finished trial(s), not run again; 1 grid point(s) to run: beta=0.75" in plan
    assert not os.path.exists(tmp_path / "b")  # a dry run writes nothing
    second = _search(tiny_data, space, tmp_path / "b", trials_from=str(tmp_path / "a"))
    assert _ray_trials(tmp_path / "b") == 1  # only beta 0.75 ran
    written = tables_while_running[-1]  # the finished trial beside the carried one, before the end
    assert sorted((row["beta"], row["status"]) for row in written) == [(0.25, "ok"), (0.75, "ok")]
    assert [row["valid_score"] for row in written if row["beta"] == 0.75] == pytest.approx([scores[0.75]])
    rows = {row["beta"]: row for row in second["rows"]}
    assert rows[0.25]["carried"] == "yes" and rows[0.75].get("carried", "") == ""
    assert {beta: row["valid_score"] for beta, row in rows.items()} == pytest.approx(scores)
    assert second["best_params"] == first["best_params"]
    with open(tmp_path / "b" / "trials.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2

    # Every point carried: nothing runs; the chosen trial's weights are elsewhere, so it is run
    # again through this search's (empty) store, and gives the same test result.
    third = _search(tiny_data, space, tmp_path / "c", trials_from=str(tmp_path / "b"))
    assert _ray_trials(tmp_path / "c") == 0 and not os.path.isdir(tmp_path / "c" / "teacher_store")
    assert third["best_params"] == first["best_params"]
    assert third["test_result"] == pytest.approx(first["test_result"])
    os.remove(third["rows"][0]["weights"])
    fourth = _search(tiny_data, space, tmp_path / "d", trials_from=str(tmp_path / "c"))
    assert _ray_trials(tmp_path / "d") == 0
    assert fourth["test_result"] == pytest.approx(first["test_result"])


def test_another_search_is_refused(tiny_data, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.25]\n")
    _search(tiny_data, space, tmp_path / "a")
    with pytest.raises(CSRecError, match=r"holds a different search \(it differs in fixed\)"):
        _search(tiny_data, space, tmp_path / "b", fixed=_fixed(tiny_data, alpha=0.3),
                trials_from=str(tmp_path / "a"))
    other = tmp_path / "other.yaml"
    other.write_text("beta: [0.25, 0.5]\n")
    with pytest.raises(CSRecError, match=r"differs in grid"):
        _search(tiny_data, other, tmp_path / "b", trials_from=str(tmp_path / "a"))
    with pytest.raises(CSRecError, match=r"has no trials.csv"):
        _search(tiny_data, space, tmp_path / "b", trials_from=str(tmp_path / "nothing"))
    sampled = tmp_path / "sampled.yaml"
    sampled.write_text("beta: {type: uniform, low: 0.1, high: 0.9}\n")
    with pytest.raises(CSRecError, match=r"needs a grid-only search space"):
        _search(tiny_data, sampled, tmp_path / "b", trials_from=str(tmp_path / "a"))
