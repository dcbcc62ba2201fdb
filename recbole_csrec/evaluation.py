"""Per-row ranks of the target item, from RecBole's own full-sort batch evaluation.

RecBole reports only averaged metrics. The paired-over-users significance test and the
paper's analyses (popular vs niche users, input length) need each test row's rank, so this
module re-runs the trainer's `_full_sort_batch_eval` (same scores, same masking) on an eval
loader and keeps, per row: the user, the target item, the input length, the target's rating,
the rank of the target and how popular the target was in training.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import torch
from recbole.data.dataloader import TrainDataLoader

from recbole_csrec.data.item_counts import training_item_counts

POPULAR_SHARE = 0.2  # the paper's popular-type users: next item among the 20% most frequent items
PER_USER_COLUMNS = ["row", "user", "original_user", "target", "length", "rating", "rank", "target_count",
                    "popular"]
WINDOW_ID = re.compile(r"^(.+)_\d+$")  # a window's user id: f"{original user}_{k}" (data/protocol.py)
_METRIC = re.compile(r"^(recall|hit|ndcg|mrr|precision)(\+?)@(\d+)$")


def popular_items(counts: torch.Tensor, share: float = POPULAR_SHARE) -> torch.Tensor:
    """Boolean mask over item ids: the `share` most frequent real items (id 0 is padding)."""
    real = counts[1:]
    k = max(1, int(math.ceil(share * real.numel())))
    top = torch.topk(real, k).indices + 1
    mask = torch.zeros_like(counts, dtype=torch.bool)
    mask[top] = True
    return mask


@torch.no_grad()
def per_user_ranks(trainer, eval_data, train_data: TrainDataLoader,
                   popular_share: float = POPULAR_SHARE) -> pd.DataFrame:
    """One row per evaluation row of `eval_data` (in loader order) for `trainer.model`.

    `trainer` must have evaluated a full-sort loader already (RecBole then knows the item
    count); rank 1 is the top. Ties count in the target's favour (1 + #items scored higher).
    """
    dataset = eval_data._dataset
    config = trainer.config
    trainer.tot_item_num = dataset.item_num
    trainer.model.eval()
    counts = training_item_counts(train_data)
    popular = popular_items(counts, popular_share)
    uid, iid = dataset.uid_field, dataset.iid_field
    rating_field = config["RATING_FIELD"]
    length_field = config["ITEM_LIST_LENGTH_FIELD"]
    parts: dict[str, list] = {c: [] for c in ("user", "target", "length", "rating", "rank")}
    for batched in eval_data:
        interaction, scores, _, positive_i = trainer._full_sort_batch_eval(batched)
        scores = scores.float()
        positive_i = positive_i.to(scores.device)
        target_score = scores.gather(1, positive_i.view(-1, 1))
        ranks = (scores > target_score).sum(dim=1) + 1
        parts["rank"].append(ranks.cpu().numpy())
        parts["user"].append(interaction[uid].cpu().numpy())
        parts["target"].append(positive_i.cpu().numpy())
        parts["length"].append(interaction[length_field].cpu().numpy())
        if rating_field in interaction:
            parts["rating"].append(interaction[rating_field].cpu().numpy().astype(float))
        else:
            parts["rating"].append(np.full(len(ranks), np.nan))
    cols = {k: np.concatenate(v) if v else np.array([]) for k, v in parts.items()}
    targets = cols["target"].astype(np.int64)
    users = dataset.id2token(uid, cols["user"].astype(np.int64))
    frame = pd.DataFrame({
        "row": np.arange(len(targets)),
        "user": users,
        "original_user": [_original_user(u) for u in users] if _windowed(config) else users,
        "target": dataset.id2token(iid, targets),
        "length": cols["length"].astype(np.int64),
        "rating": cols["rating"],
        "rank": cols["rank"].astype(np.int64),
        "target_count": counts.cpu().numpy()[targets].astype(np.int64),
        "popular": popular.cpu().numpy()[targets],
    })
    return frame[PER_USER_COLUMNS]


def _windowed(config) -> bool:
    """True for a dataset written by this package's prepare (paper protocol: a user per window)."""
    import json
    import os

    manifest = os.path.join(str(config["data_path"]), "manifest.json")
    if not os.path.isfile(manifest):
        return False
    with open(manifest) as handle:
        params = json.load(handle).get("params", {})
    return bool(params.get("window"))


def _original_user(window_user: str) -> str:
    match = WINDOW_ID.match(str(window_user))
    return match.group(1) if match else str(window_user)


def original_users(frame: pd.DataFrame) -> pd.Series:
    """Each row's original user: the `original_user` column, or for per-user files written before
    it existed, the window suffix `_k` stripped when every user id in the frame has one (the
    built-in datasets), else the user id itself."""
    if "original_user" in frame:
        return frame["original_user"].astype(str)
    users = frame["user"].astype(str)
    if len(users) and users.str.match(WINDOW_ID.pattern).all():
        return users.map(_original_user)
    return users


def parse_metric(name: str) -> tuple[str, bool, int]:
    """'ndcg+@10' -> ('ndcg', True, 10). Raises ValueError for metrics without a per-row form."""
    match = _METRIC.match(name.lower())
    if not match:
        raise ValueError(f"metric '{name}' has no per-user form: accepted are recall, hit, ndcg, "
                         "mrr, precision (optionally with +) @k, e.g. ndcg@10, recall+@10")
    return match.group(1), bool(match.group(2)), int(match.group(3))


def per_user_metric(frame: pd.DataFrame, metric: str, rating_threshold: float = 4.0) -> pd.Series:
    """Each row's value of `metric` (one target per row, as in RecBole's sequential evaluation).

    Filtered metrics (`+`, the paper's Eq. 16) keep only rows whose target rating is at least
    `rating_threshold`; the other rows are dropped, so the mean of the result is the metric.
    """
    kind, filtered, k = parse_metric(metric)
    rank = frame["rank"].to_numpy(dtype=float)
    hit = rank <= k
    if kind in ("recall", "hit"):
        values = hit.astype(float)
    elif kind == "precision":
        values = hit / k
    elif kind == "ndcg":
        values = np.where(hit, 1.0 / np.log2(rank + 1.0), 0.0)
    else:  # mrr
        values = np.where(hit, 1.0 / rank, 0.0)
    series = pd.Series(values, index=frame.index, name=metric)
    if filtered:
        series = series[frame["rating"].to_numpy(dtype=float) >= rating_threshold]
    return series
