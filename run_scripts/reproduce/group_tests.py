"""Per user group (popular/niche, length bucket), each method against Base and against SoftRec:
the change of the group's metric and its paired p over the group's users (rows paired, averaged
per original user, shared seeds; recbole_csrec/benchmark/significance.py). This is what answers
"does SoftRec hurt niche-type users, and does CSRec?" (the paper's Fig. 1 / 3a) with error bars."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd

from recbole_csrec.benchmark.aggregate import per_user_frames
from recbole_csrec.benchmark.significance import paired_over_users

REFERENCES = ("Base", "SoftRec")


def _group_frames(frames: Mapping[int, pd.DataFrame], seeds: Sequence[int], group_of, group: str) -> list:
    return [frames[s][group_of(frames[s]) == group] for s in seeds]


def group_tests(data: pd.DataFrame, group_of: Callable[[pd.DataFrame], pd.Series], metrics: Sequence[str],
                rating_threshold: float = 4.0) -> pd.DataFrame:
    """One row per (dataset, model, method, group, metric) with `p_vs_base` / `p_vs_softrec`
    (NaN where that reference has not run, or for the reference itself) and `users_vs_base`."""
    records = []
    for (dataset, model), rows in data.groupby(["dataset", "model"], sort=False):
        frames = {method: per_user_frames(part) for method, part in rows.groupby("method", sort=False)}
        for method, mine in frames.items():
            groups = sorted({g for frame in mine.values() for g in group_of(frame).dropna().unique()})
            for group in groups:
                for metric in metrics:
                    record = {"dataset": dataset, "model": model, "method": method, "group": group,
                              "metric": metric}
                    for reference in REFERENCES:
                        p = users = float("nan")
                        if reference != method and reference in frames:
                            shared = sorted(set(mine) & set(frames[reference]))
                            p, users = paired_over_users(_group_frames(mine, shared, group_of, group),
                                                         _group_frames(frames[reference], shared, group_of, group),
                                                         metric, rating_threshold)
                        record[f"p_vs_{reference.lower()}"] = p
                        if reference == "Base":
                            record["users_vs_base"] = users
                    records.append(record)
    return pd.DataFrame(records)


def with_tests(frame: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """`frame` (grouped_user_metric's means) with the change over Base in % and the tests' p."""
    keys = ["dataset", "model", "group", "metric"]
    base = frame[frame["method"] == "Base"][keys + ["value"]].rename(columns={"value": "base_value"})
    out = frame.merge(base, on=keys, how="left")
    out["change_vs_base_%"] = (out["value"] / out["base_value"] - 1.0) * 100.0
    out.loc[out["method"] == "Base", "change_vs_base_%"] = float("nan")
    out = out.drop(columns="base_value")
    if not tests.empty:
        out = out.merge(tests, on=keys + ["method"], how="left")
    return out
