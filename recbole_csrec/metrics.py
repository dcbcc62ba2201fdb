"""Recall+@k and NDCG+@k (paper Eq. 16), registered into RecBole's evaluator at import.

Recall+@n = sum_u 1(r_u >= delta and rank_u <= n) / sum_u 1(r_u >= delta): a mean over all
evaluated rows (users / windows) of the whole evaluation whose target rating r_u reaches
`rating_threshold` (delta, raw rating). NDCG+ is the same filter over NDCG.

RecBole concatenates every batch's `rec.topk` before computing a metric once. The target ratings
reach the metric through RecBole's own `data.label`: its Collector gathers `LABEL_FIELD` of every
evaluated row, row-aligned with `rec.topk`, and resets it after each evaluation. CSRecConfig points
`LABEL_FIELD` at `RATING_FIELD` when a filtered metric is asked for (plain RecBole configs set
`LABEL_FIELD: rating`). So the filtered mean is over all qualifying rows, never a mean of
per-batch means. In full-sort sequential evaluation each batch row is one target interaction, so
its rating is that target's rating.
"""
from __future__ import annotations

import warnings

import numpy as np
from recbole.evaluator import register
from recbole.evaluator.metrics import NDCG, Recall

from recbole_csrec.errors import CSRecError

RATING_KEY = "data.label"
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
            raise CSRecError(f"{self.name} needs the target ratings of the evaluated rows: set "
                             "LABEL_FIELD to the rating field (RecBole collects it as data.label)")
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


def filtered_metrics(config) -> list[str]:
    """The Recall+/NDCG+ metrics a config asks for."""
    metrics = config["metrics"] or []
    metrics = [metrics] if isinstance(metrics, str) else metrics
    return [str(m) for m in metrics if str(m).lower() in FILTERED_METRICS]


def require_rating_field(config, dataset) -> None:
    """Fail before training (not at the first evaluation) when ratings cannot be collected."""
    wanted = filtered_metrics(config)
    field = config["LABEL_FIELD"]
    if wanted and field not in dataset.field2type:
        raise CSRecError(f"metrics {', '.join(wanted)} need the rating field '{field}' (LABEL_FIELD), "
                         f"which dataset '{config['dataset']}' does not load: add it to load_col or "
                         "drop these metrics")


def register_metrics() -> None:
    """Add Recall+ and NDCG+ to RecBole's registry dicts, in place (Config and Evaluator read them).

    Idempotent. Nothing else of RecBole is replaced: ratings come through its own data.label.
    """
    for cls in (RecallPlus, NDCGPlus):
        register.metrics_dict[cls.name] = cls
        register.metric_information[cls.name] = cls.metric_need
        register.metric_types[cls.name] = cls.metric_type
        if cls.smaller and cls.name not in register.smaller_metrics:
            register.smaller_metrics.append(cls.name)


register_metrics()
