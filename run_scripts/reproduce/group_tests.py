"""Per user group (popular/niche, length bucket), each method against Base and against SoftRec:
the change of the group's metric over Base's and its paired p over the group's users (rows paired,
averaged per original user; both on the seeds the two methods share,
recbole_csrec/benchmark/significance.py). This is what answers
"does SoftRec hurt niche-type users, and does CSRec?" (the paper's Fig. 1 / 3a) with error bars."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from recbole_csrec.benchmark.aggregate import REFERENCES, per_user_frames
from recbole_csrec.benchmark.significance import paired_values_test, user_values
from recbole_csrec.names import method_name

BASE = method_name("none")
ORDER = sorted(REFERENCES, key=lambda reference: reference != BASE)  # Base's columns first


def _split_by_group(frames: dict[int, pd.DataFrame], group_of) -> dict[str, dict[int, pd.DataFrame]]:
    """{group: {seed: that group's rows}}, each frame split once."""
    split: dict[str, dict[int, pd.DataFrame]] = {}
    for seed, frame in frames.items():
        for group, rows in frame.groupby(group_of(frame), sort=True):
            split.setdefault(group, {})[seed] = rows
    return split


def change_percent(mine: pd.Series, base: pd.Series) -> float:
    """The metric's change in % over Base from per-row values (user_values) of the same seeds (a
    method that ran on fewer seeds is not set against Base's other seeds); NaN where Base's is 0."""
    base_value = float(base.mean())
    return (float(mine.mean()) / base_value - 1.0) * 100.0 if base_value else float("nan")


def group_tests(data: pd.DataFrame, group_of: Callable[[pd.DataFrame], pd.Series], metrics: Sequence[str],
                rating_threshold: float = 4.0) -> pd.DataFrame:
    """One row per (dataset, model, method, group, metric) with `change_vs_base_%`, `p_vs_base` /
    `p_vs_softrec` (the report's references, benchmark/aggregate.py; NaN where that reference has
    not run, or for the reference itself), `users_vs_base` and `seeds_vs_base` (what they were
    paired over)."""
    records = []
    for (dataset, model), rows in data.groupby(["dataset", "model"], sort=False):
        groups = {method: _split_by_group(per_user_frames(part), group_of)
                  for method, part in rows.groupby("method", sort=False)}
        for method, mine in groups.items():
            for group in sorted(mine):
                for metric in metrics:
                    record = {"dataset": dataset, "model": model, "method": method, "group": group,
                              "metric": metric, "change_vs_base_%": float("nan")}
                    for reference in ORDER:
                        p = users = float("nan")
                        theirs = groups.get(reference, {}).get(group, {})
                        shared = sorted(set(mine[group]) & set(theirs)) if reference != method else []
                        if shared:  # each side's per-row values once, for the test and the change
                            a, b = (user_values([side[s] for s in shared], metric, rating_threshold)
                                    for side in (mine[group], theirs))
                            p, users = paired_values_test(a, b)
                        record[f"p_vs_{reference.lower()}"] = p
                        if reference == BASE:
                            record["users_vs_base"] = users
                            record["seeds_vs_base"] = len(shared)
                            if shared:
                                record["change_vs_base_%"] = change_percent(a, b)
                    records.append(record)
    return pd.DataFrame(records)


def with_tests(frame: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """`frame` (grouped_user_metric's means over each method's own seeds) with the tests' columns:
    the change over Base and the p, both on the seeds shared with the reference."""
    keys = ["dataset", "model", "group", "metric", "method"]
    return frame.merge(tests, on=keys, how="left") if not tests.empty else frame
