"""run_scripts/sweep_points.py: two sweep points, both of the report's tests."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from scipy import stats

from recbole_csrec.benchmark.significance import paired_over_users
from run_scripts.reproduce.sweep_points import compare_points, main
from tests.test_benchmark import _ranks

SEEDS = [1, 2, 3]


@pytest.fixture
def runs_csv(tmp_path):
    (tmp_path / "per_user").mkdir()
    rows = []
    for value, method in (("1", "Base"), ("2", "CSRec-M")):  # _ranks: CSRec-M ranks the targets higher
        for seed in SEEDS:
            name = f"per_user/{value}-{seed}.csv.gz"
            _ranks(method, seed).to_csv(tmp_path / name, index=False)
            rows.append({"model": "GRU4Rec", "dataset": "ml", "teacher": "model", "seed": seed,
                         "sweep_value": value, "test_ndcg@10": 0.05 + 0.01 * int(value) + 0.001 * seed,
                         "test_recall@10": 0.1 * int(value) + 0.01 * seed ** int(value), "per_user_file": name})
    path = tmp_path / "num_teachers_runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_both_tests_match_the_reports_functions(runs_csv):
    frame = compare_points(runs_csv, "2", "model@1").set_index("metric")
    folder = os.path.dirname(runs_csv)
    frames = {v: [pd.read_csv(os.path.join(folder, "per_user", f"{v}-{s}.csv.gz"), dtype={"user": str, "target": str})
                  for s in SEEDS] for v in ("1", "2")}
    for metric in ("recall@10", "ndcg@10"):
        row = frame.loc[metric]
        assert row["p_users"] == pytest.approx(paired_over_users(frames["2"], frames["1"], metric)[0])
        assert row["users"] == 30 and row["user_seeds"] == "1 2 3" and row["seed_pairs"] == 3
    runs = pd.read_csv(runs_csv)
    a, b = (runs[runs.sweep_value == v].sort_values("seed")["test_recall@10"] for v in (2, 1))
    assert frame.loc["recall@10", "p_seeds"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert frame.loc["recall@10", "diff"] == pytest.approx(a.mean() - b.mean())


def test_a_point_without_runs_is_one_line_exit_2(runs_csv, capsys):
    assert main([runs_csv, "none@1", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "sweep point 'none@1' has no runs" in err and "values 1, 2" in err and "\n" not in err
