"""Recall+@k and NDCG+@k (paper Eq. 16), registered into RecBole's evaluator at import.

Recall+@n = sum_u 1(r_u >= delta and rank_u <= n) / sum_u 1(r_u >= delta): a mean over all
evaluated rows (users / windows) of the whole evaluation whose target rating r_u reaches
`rating_threshold` (delta, raw rating). NDCG+ is the same filter over NDCG.

RecBole concatenates every batch's `rec.topk` before computing a metric once; `RatingCollector`
concatenates the target ratings (`data.rating`) row-aligned with it, so the filtered mean is over
all qualifying rows, never a mean of per-batch means. In full-sort sequential evaluation each
batch row is one target interaction, so its rating field is that target's rating.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from recbole.evaluator import collector as recbole_collector
from recbole.evaluator import register
from recbole.evaluator.metrics import NDCG, Recall

from recbole_csrec.errors import CSRecError

RATING_KEY = "data.rating"
FILTERED_METRICS = ("recall+", "ndcg+")


class _FilteredTopk:
    """Mixin: the parent top-k metric, averaged only over rows with rating >= rating_threshold."""

    metric_need = ["rec.topk", RATING_KEY]
    name = ""

    def __init__(self, config):
        super().__init__(config)
        threshold = config["rating_threshold"]
        self.threshold = 4.0 if threshold is None else float(threshold)

    def calculate_metric(self, dataobject):
        pos_index, pos_len = self.used_info(dataobject)
        if RATING_KEY not in dataobject:
            raise CSRecError(f"{self.name} needs the target ratings of the evaluated rows: evaluate "
                             "with a trainer whose eval_collector is recbole_csrec.metrics.RatingCollector")
        ratings = dataobject.get(RATING_KEY).reshape(-1).numpy()
        keep = ratings >= self.threshold
        per_row = self.metric_info(pos_index, pos_len)
        if not keep.any():
            warnings.warn(f"{self.name}: no evaluated row has rating >= {self.threshold:g}; reported as 0")
            per_row = np.zeros((1, per_row.shape[1]))
        else:
            per_row = per_row[keep]
        return self.topk_result(self.name, per_row)


class RecallPlus(_FilteredTopk, Recall):
    """Recall+@k: Recall@k over rows whose target rating >= rating_threshold (Eq. 16)."""

    name = "recall+"


class NDCGPlus(_FilteredTopk, NDCG):
    """NDCG+@k: NDCG@k over rows whose target rating >= rating_threshold."""

    name = "ndcg+"


class RatingCollector(recbole_collector.Collector):
    """RecBole's Collector that also gathers the target rating of each evaluated row.

    Only when a filtered metric is configured; reset after every evaluation like RecBole's keys.
    """

    def _missing_rating(self) -> CSRecError:
        metrics = ", ".join(m for m in self.register.metrics if m in FILTERED_METRICS)
        return CSRecError(
            f"metrics {metrics} need the rating field '{self.config['RATING_FIELD']}' (RATING_FIELD), "
            f"which dataset '{self.config['dataset']}' does not load: add it to load_col or drop these metrics")

    def data_collect(self, train_data):
        # Called when fit starts: fail before training, not at the first evaluation.
        super().data_collect(train_data)
        if self.register.need(RATING_KEY) and self.config["RATING_FIELD"] not in train_data.dataset.field2type:
            raise self._missing_rating()

    def eval_batch_collect(self, scores_tensor, interaction, positive_u, positive_i):
        super().eval_batch_collect(scores_tensor, interaction, positive_u, positive_i)
        if self.register.need(RATING_KEY):
            field = self.config["RATING_FIELD"]
            if field is None or field not in interaction:
                raise self._missing_rating()
            ratings = interaction[field].reshape(-1).to(torch.float64)
            if len(ratings) != len(scores_tensor):
                raise CSRecError(f"{field}: {len(ratings)} ratings for {len(scores_tensor)} evaluated rows "
                                 "(filtered metrics need one target per row: full-sort sequential evaluation)")
            self.data_struct.update_tensor(RATING_KEY, ratings.to(self.device))

    def get_data_struct(self):
        struct = super().get_data_struct()
        if RATING_KEY in self.data_struct:
            del self.data_struct[RATING_KEY]
        return struct


def register_metrics() -> None:
    """Add Recall+ and NDCG+ to RecBole's registry dicts, in place (Config and Evaluator read them).

    RecBole's trainers build `Collector(config)` from recbole.trainer.trainer's globals; pointing that
    name at RatingCollector (a subclass that adds only `data.rating`) makes plain RecBole trainers
    collect ratings too. Idempotent.
    """
    for cls in (RecallPlus, NDCGPlus):
        register.metrics_dict[cls.name] = cls
        register.metric_information[cls.name] = cls.metric_need
        register.metric_types[cls.name] = cls.metric_type
        if cls.smaller and cls.name not in register.smaller_metrics:
            register.smaller_metrics.append(cls.name)
    import recbole.trainer.trainer as recbole_trainer

    if recbole_trainer.Collector is recbole_collector.Collector:
        recbole_trainer.Collector = RatingCollector


register_metrics()
