"""run_scripts/reproduce/group_tests.py: per user group, each method against Base and SoftRec
(paired over the group's original users), on hand-made per-user frames."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import run_scripts.reproduce.group_tests as group_tests_module
from run_scripts.reproduce.group_tests import group_tests, with_tests

USERS = 40


def _frame(niche_rank, popular_rank) -> pd.DataFrame:
    """Half the rows niche, half popular; one row per original user."""
    popular = np.arange(USERS) % 2 == 0
    rank = np.where(popular, popular_rank, niche_rank)
    return pd.DataFrame({"row": range(USERS), "user": [f"u{i}" for i in range(USERS)],
                         "target": range(USERS), "original_user": [f"u{i}" for i in range(USERS)],
                         "rank": rank, "rating": 5.0, "popular": popular})


def test_each_group_is_tested_against_base_and_softrec(monkeypatch):
    noise = np.random.default_rng(0).integers(1, 3, USERS)  # ranks 1-2: a hit either way
    frames = {"Base": {1: _frame(50, 1)}, "SoftRec": {1: _frame(50, noise)},
              "CSRec-M": {1: _frame(np.where(np.arange(USERS) % 4 == 1, 1, 50), 1)}}
    data = pd.DataFrame({"dataset": "d", "model": "GRU4Rec", "method": list(frames)})
    monkeypatch.setattr(group_tests_module, "per_user_frames", lambda rows: frames[rows["method"].iloc[0]])
    user_type = lambda f: f["popular"].map({True: "popular", False: "niche"})  # noqa: E731
    tests = group_tests(data, user_type, ["recall@10"]).set_index(["method", "group"])
    # CSRec-M hits half the niche users that Base and SoftRec miss: a real difference in that group
    assert tests.loc[("CSRec-M", "niche"), "p_vs_base"] < 0.01
    assert tests.loc[("CSRec-M", "niche"), "p_vs_softrec"] < 0.01
    assert tests.loc[("CSRec-M", "niche"), "users_vs_base"] == USERS // 2
    # no difference at all (every popular user a hit for all three): no test can be made
    assert math.isnan(tests.loc[("SoftRec", "popular"), "p_vs_base"])
    assert math.isnan(tests.loc[("Base", "niche"), "p_vs_base"])  # not against itself
    means = pd.DataFrame({"dataset": "d", "model": "GRU4Rec", "method": ["Base", "CSRec-M"], "group": "niche",
                          "metric": "recall@10", "value": [0.0, 0.25]})
    out = with_tests(means, group_tests(data, user_type, ["recall@10"])).set_index("method")
    assert out.loc["CSRec-M", "value"] == 0.25  # the frame's own values are kept
    assert math.isnan(out.loc["CSRec-M", "change_vs_base_%"])  # Base hits no niche user: no ratio
    assert math.isnan(out.loc["Base", "change_vs_base_%"])
    assert out.loc["CSRec-M", "p_vs_base"] == tests.loc[("CSRec-M", "niche"), "p_vs_base"]


def test_change_over_base_uses_only_the_seeds_both_ran(monkeypatch):
    """A method run on one seed is set against Base's same seed, not Base's mean over all of its
    seeds: here Base's seed 2 is far better than its seed 1."""
    half_the_niche_users = np.where(np.arange(USERS) % 4 == 1, 1, 50)  # niche rows: the odd ones
    frames = {"Base": {1: _frame(half_the_niche_users, 1), 2: _frame(1, 1)}, "CSRec-M": {1: _frame(1, 1)}}
    data = pd.DataFrame({"dataset": "d", "model": "GRU4Rec", "method": list(frames)})
    monkeypatch.setattr(group_tests_module, "per_user_frames", lambda rows: frames[rows["method"].iloc[0]])
    user_type = lambda f: f["popular"].map({True: "popular", False: "niche"})  # noqa: E731
    tests = group_tests(data, user_type, ["recall@10"]).set_index(["method", "group"])
    # niche recall: Base 0.5 on seed 1 and 1.0 on seed 2 (mean 0.75), CSRec-M 1.0 on seed 1: +100%
    # against Base's seed 1, where Base's mean would give +33%
    assert tests.loc[("CSRec-M", "niche"), "change_vs_base_%"] == pytest.approx(100.0)
    assert tests.loc[("CSRec-M", "niche"), "seeds_vs_base"] == 1
    assert tests.loc[("CSRec-M", "popular"), "change_vs_base_%"] == pytest.approx(0.0)
