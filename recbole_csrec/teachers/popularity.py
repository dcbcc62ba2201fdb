"""SoftRec's popularity teacher: the same logits for every sequence, from training data only."""
from __future__ import annotations

import torch

from recbole_csrec.data.item_counts import training_item_counts
from recbole_csrec.soft_labels import FixedLogits
from recbole_csrec.teachers.context import TeacherContext

POP_LOGIT_RANGE = (-5.0, 5.0)  # the authors' linear scaling of counts


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
