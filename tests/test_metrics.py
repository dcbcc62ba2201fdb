"""Recall+/NDCG+ (Eq. 16): hand-computed values over an evaluation split into several batches."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recbole.evaluator import Collector, Evaluator
from recbole.evaluator.register import metric_types, metrics_dict
from recbole.data.interaction import Interaction

import recbole_csrec  # noqa: F401  (registers the metrics)
from recbole_csrec import CSRecError
from recbole_csrec.metrics import require_rating_field

N_ITEMS = 6


@pytest.fixture(autouse=True)
def _numpy_float_alias(monkeypatch):
    """RecBole's NDCG uses np.float, which its Config aliases at construction; no Config here."""
    monkeypatch.setattr(np, "float", np.float64, raising=False)


class FakeConfig(dict):
    """The keys RecBole's Collector/Evaluator read; missing keys are None as in Config."""

    def __getitem__(self, key):
        return self.get(key)


def _config(metrics, threshold=4, rating_field="rating"):
    return FakeConfig(metrics=metrics, topk=[1, 2], eval_args={"mode": "full"}, device="cpu",
                      metric_decimal_place=6, rating_threshold=threshold, RATING_FIELD=rating_field,
                      LABEL_FIELD=rating_field, dataset="crafted")


def _scores(target_ranks):
    """Score rows where the target item (id 1) lands at the given 1-based rank."""
    rows = []
    for rank in target_ranks:
        row = torch.arange(N_ITEMS, 0, -1, dtype=torch.float)  # item 0 best, item 5 worst
        row = row.clone()
        order = [i for i in range(N_ITEMS) if i != 1]
        order.insert(rank - 1, 1)
        for position, item in enumerate(order):
            row[item] = float(N_ITEMS - position)
        rows.append(row)
    return torch.stack(rows)


# rank of the target, rating of the target; batches of 1, 4 and 2 rows
ROWS = [(1, 5.0), (2, 4.0), (1, 3.0), (3, 4.5), (2, 1.0), (1, 4.0), (5, 2.0)]
BATCHES = [ROWS[0:1], ROWS[1:5], ROWS[5:7]]


def _evaluate(metrics, rows_batches, threshold=4, with_rating=True):
    """RecBole's own Collector and Evaluator: ratings travel as data.label (LABEL_FIELD)."""
    config = _config(metrics, threshold)
    collector = Collector(config)
    for batch in rows_batches:
        ranks = [r for r, _ in batch]
        scores = _scores(ranks)
        data = {"item_id": torch.ones(len(batch), dtype=torch.long)}
        if with_rating:
            data["rating"] = torch.tensor([x for _, x in batch])
        interaction = Interaction(data)
        collector.eval_batch_collect(scores, interaction, torch.arange(len(batch)),
                                     torch.ones(len(batch), dtype=torch.long))
    return Evaluator(config).evaluate(collector.get_data_struct()), collector


def test_registered_in_recbole():
    for name in ("recall+", "ndcg+"):
        assert name in metrics_dict and name in metric_types


def test_hand_computed_over_all_batches():
    result, _ = _evaluate(["Recall+", "NDCG+"], BATCHES)
    # rows with rating >= 4: ranks 1, 2, 3, 1 (4 rows across the 3 batches)
    assert result["recall+@1"] == pytest.approx(2 / 4)
    assert result["recall+@2"] == pytest.approx(3 / 4)
    assert result["ndcg+@1"] == pytest.approx(2 / 4)
    assert result["ndcg+@2"] == pytest.approx((1 + 1 / math.log2(3) + 0 + 1) / 4)
    # a mean of per-batch means would differ: batch means of recall+@1 are 1, 0, 1
    assert result["recall+@1"] != pytest.approx((1 + 0 + 1) / 3)


def test_rows_below_threshold_change_nothing():
    base, _ = _evaluate(["Recall+", "NDCG+"], BATCHES)
    extra = [[(1, 1.0), (1, 3.9)]]  # two perfect hits rated below 4
    more, _ = _evaluate(["Recall+", "NDCG+"], BATCHES + extra)
    assert more == base
    plain, _ = _evaluate(["Recall"], BATCHES + extra)
    assert plain["recall@1"] != pytest.approx(base["recall+@1"])


def test_equals_recall_ndcg_when_every_rating_passes():
    result, _ = _evaluate(["Recall", "NDCG", "Recall+", "NDCG+"], BATCHES, threshold=0)
    for k in (1, 2):
        assert result[f"recall+@{k}"] == pytest.approx(result[f"recall@{k}"])
        assert result[f"ndcg+@{k}"] == pytest.approx(result[f"ndcg@{k}"])


def test_ratings_reset_per_evaluation():
    _, collector = _evaluate(["Recall+"], BATCHES)
    # a second evaluation on the same collector sees only its own rows
    scores = _scores([1])
    collector.eval_batch_collect(scores, Interaction({"rating": torch.tensor([5.0])}),
                                 torch.arange(1), torch.ones(1, dtype=torch.long))
    struct = collector.get_data_struct()
    assert struct.get("data.label").tolist() == [5.0]
    assert Evaluator(_config(["Recall+"])).evaluate(struct)["recall+@1"] == 1.0


def test_no_rating_field_is_a_clear_error():
    # ratings never collected (e.g. a plain RecBole config without LABEL_FIELD: rating)
    _, collector = _evaluate(["Recall"], BATCHES)
    struct = collector.get_data_struct()
    for batch in BATCHES:
        collector.eval_batch_collect(_scores([r for r, _ in batch]), Interaction({"rating": torch.ones(len(batch))}),
                                     torch.arange(len(batch)), torch.ones(len(batch), dtype=torch.long))
    struct = collector.get_data_struct()
    with pytest.raises(CSRecError, match="LABEL_FIELD"):
        Evaluator(_config(["Recall+"])).evaluate(struct)


def test_missing_rating_field_fails_before_training():
    class _Dataset:
        field2type = {"user_id": None, "item_id": None}

    with pytest.raises(CSRecError, match="rating field 'rating'"):
        require_rating_field(_config(["Recall", "NDCG+"]), _Dataset())
    require_rating_field(_config(["Recall"]), _Dataset())  # no filtered metric: nothing needed
