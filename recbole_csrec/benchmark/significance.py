"""Paired significance tests: over seeds (run-level metrics) and over test users (per-row).

Both use scipy.stats. Over seeds: `ttest_rel` on the metric of runs with the same seed (3 seeds
give 2 degrees of freedom: it can show a difference larger than seed-to-seed variation, not
more). Over users: each test row's metric value (recbole_csrec.evaluation.per_user_metric),
averaged over the seeds both methods share and paired by (row, user, target); then, since the
windows of one original user are not independent samples (paper protocol: a window is a RecBole
user), averaged per ORIGINAL user, and `ttest_rel` (default) or `wilcoxon` runs over original
users (a cluster-level paired test). It speaks of the population of users for these trained
models, not of retraining. Two-sided p-values; NaN when a test cannot be made (fewer than two
pairs, or no difference at all).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from recbole_csrec.evaluation import original_users, per_user_metric

USER_TESTS = ("ttest", "wilcoxon")
ROW_KEY = ["row", "user", "target"]
CLUSTER = "original_user"


def paired_over_seeds(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float, int]:
    """(p, number of pairs) of a paired t-test between two methods' per-seed values."""
    seeds = sorted(set(a) & set(b))
    x = np.array([a[s] for s in seeds], dtype=float)
    y = np.array([b[s] for s in seeds], dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.allclose(x - y, (x - y)[0]):
        return math.nan, int(len(x))  # t undefined when every difference is the same
    return float(stats.ttest_rel(x, y).pvalue), int(len(x))


def user_values(frames: Sequence[pd.DataFrame], metric: str, rating_threshold: float) -> pd.Series:
    """Per test row, the metric averaged over `frames` (one per seed), indexed by ROW_KEY and the
    row's original user (level `original_user`)."""
    series = []
    for frame in frames:
        values = per_user_metric(frame, metric, rating_threshold)
        keyed = frame.loc[values.index, ROW_KEY].astype(str)
        keyed[CLUSTER] = original_users(frame).loc[values.index].astype(str)
        series.append(pd.Series(values.to_numpy(), index=pd.MultiIndex.from_frame(keyed)))
    if not series:
        return pd.Series(dtype=float)
    return pd.concat(series, axis=1).mean(axis=1)


def paired_over_users(frames_a: Sequence[pd.DataFrame], frames_b: Sequence[pd.DataFrame], metric: str,
                      rating_threshold: float = 4.0, test: str = "ttest") -> tuple[float, int]:
    """(p, number of paired original users) for two methods, given their per-user frames of
    shared seeds: rows paired, then averaged per original user, then the paired test."""
    return paired_values_test(user_values(frames_a, metric, rating_threshold),
                              user_values(frames_b, metric, rating_threshold), test)


def paired_values_test(a: pd.Series, b: pd.Series, test: str = "ttest") -> tuple[float, int]:
    """paired_over_users on per-row values already computed (user_values), for callers that use
    them for more than the test."""
    if test not in USER_TESTS:
        raise ValueError(f"user test '{test}' is not accepted: use {' or '.join(USER_TESTS)}")
    rows = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    both = rows.groupby(level=CLUSTER).mean() if len(rows) else rows
    diff = (both["a"] - both["b"]).to_numpy()
    if len(both) < 2 or np.allclose(diff, diff[0]):
        return math.nan, int(len(both))
    if test == "wilcoxon":
        return float(stats.wilcoxon(both["a"], both["b"]).pvalue), int(len(both))
    return float(stats.ttest_rel(both["a"], both["b"]).pvalue), int(len(both))


def stars(p: float, symbol: str = "*") -> str:
    """The paper's marks: two symbols for p < 0.05, one for p < 0.1."""
    if p is None or math.isnan(p):
        return ""
    return symbol * 2 if p < 0.05 else symbol if p < 0.1 else ""
