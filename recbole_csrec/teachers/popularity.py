"""SoftRec's popularity teacher: the same logits for every sequence, from training data only."""
from __future__ import annotations

import torch
from recbole.data.dataloader import TrainDataLoader

from recbole_csrec.soft_labels import FixedLogits
from recbole_csrec.teachers.context import TeacherContext

POP_LOGIT_RANGE = (-5.0, 5.0)  # the authors' linear scaling of counts


def training_item_counts(train_data: TrainDataLoader) -> torch.Tensor:
    """How often each item occurs in the training sequences; validation/test targets never count.

    Every training interaction is the target of one training row, except the first item of
    each sequence, which is the history of the row with item_length == 1.
    """
    dataset = train_data._dataset
    feat = dataset.inter_feat
    seq_field = dataset.iid_field + train_data.config["LIST_SUFFIX"]
    first_items = feat[seq_field][feat[train_data.config["ITEM_LIST_LENGTH_FIELD"]] == 1, 0]
    items = torch.cat([feat[dataset.iid_field], first_items])
    return torch.bincount(items, minlength=dataset.item_num).float()


def popularity_logits(counts: torch.Tensor) -> torch.Tensor:
    """Counts of real items scaled linearly to [-5, 5]; padding column 0 is masked later."""
    low, high = POP_LOGIT_RANGE
    real = counts[1:]
    span = (real.max() - real.min()).clamp_min(1e-12)
    logits = torch.zeros_like(counts)
    logits[1:] = low + (high - low) * (real - real.min()) / span
    return logits


def build_popularity_teacher(ctx: TeacherContext) -> FixedLogits:
    counts = training_item_counts(ctx.train_data)
    return FixedLogits(popularity_logits(counts)).to(ctx.config["device"])
