"""Two points of one sweep compared with the report's tests: the paired test over original users
(on the runs' per-user files, seeds they share) and the paired test over seeds.

    python run_scripts/sweep_points.py docs/results/converged/analyses/NARM/sample_ratio_runs.csv 0.5 0.8
    python run_scripts/sweep_points.py .../sparsity_runs.csv model@0.3 none@0.3   # TEACHER@VALUE
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

import pandas as pd

from recbole_csrec.benchmark.aggregate import per_user_frames
from recbole_csrec.benchmark.results import read_results
from recbole_csrec.benchmark.significance import paired_over_seeds, paired_over_users
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.overrides import OneLineParser


def point_rows(runs: pd.DataFrame, point: str) -> pd.DataFrame:
    """The runs of `point`: a sweep value (`0.5`), or a teacher at a value (`model@0.3`)."""
    teacher, _, value = point.rpartition("@")
    rows = runs[runs["sweep_value"] == value]
    if teacher:
        rows = rows[rows["teacher"] == teacher]
    if rows.empty:
        raise CSRecError(f"sweep point '{point}' has no runs: accepted are VALUE or TEACHER@VALUE with "
                         f"values {', '.join(sorted(set(runs['sweep_value']) - {''}))}")
    return rows


def compare_points(runs_csv: str, a: str, b: str,
                   metrics: Sequence[str] = ("recall@10", "ndcg@10")) -> pd.DataFrame:
    """Per metric: both points' means over their seeds, the difference, and both tests' p."""
    runs = read_results(runs_csv)
    if runs.empty:
        raise CSRecError(f"no runs in '{runs_csv}'")
    runs = runs.assign(source_dir=os.path.dirname(os.path.abspath(runs_csv)))
    rows_a, rows_b = point_rows(runs, a), point_rows(runs, b)
    frames_a, frames_b = per_user_frames(rows_a), per_user_frames(rows_b)
    shared = sorted(set(frames_a) & set(frames_b))
    records = []
    for metric in metrics:
        by_seed = [dict(zip(rows["seed"].astype(int), pd.to_numeric(rows[f"test_{metric}"])))
                   for rows in (rows_a, rows_b)]
        p_users, users = paired_over_users([frames_a[s] for s in shared], [frames_b[s] for s in shared], metric)
        p_seeds, pairs = paired_over_seeds(*by_seed)
        mean_a, mean_b = (pd.Series(values).mean() for values in by_seed)
        records.append({"metric": metric, "a": a, "mean_a": mean_a, "b": b, "mean_b": mean_b,
                        "diff": mean_a - mean_b, "p_users": p_users, "users": users,
                        "user_seeds": " ".join(map(str, shared)), "p_seeds": p_seeds, "seed_pairs": pairs})
    return pd.DataFrame(records)


def main(argv: Sequence[str] | None = None) -> int:
    def action() -> None:
        parser = OneLineParser(prog="sweep_points", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("runs_csv", help="a sweep's <name>_runs.csv (analyze.py)")
        parser.add_argument("a", help="VALUE or TEACHER@VALUE")
        parser.add_argument("b", help="VALUE or TEACHER@VALUE")
        parser.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10"])
        args = parser.parse_args(argv)
        frame = compare_points(args.runs_csv, args.a, args.b, args.metrics)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(frame.to_string(index=False))

    return exit_code("sweep_points", action)
