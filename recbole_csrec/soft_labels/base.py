"""The interface between a teacher module and the student."""
from __future__ import annotations

from typing import NamedTuple

import torch
from recbole.data.interaction import Interaction


class SoftLabelBatch(NamedTuple):
    """What the student's loss needs of the teachers for one batch."""

    log_probs: torch.Tensor        # [B, n_items] log softmax(e_u/T), column 0 = -inf (fp16 or fp32)
    q_log_q: torch.Tensor | None   # [B] sum_j q_j log q_j of q = softmax(e_u/T); None: the loss computes it


class SoftLabelSource:
    """Gives log softmax(e_u / T) for every row of a batch: [B, n_items], column 0 = -inf."""

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        raise NotImplementedError

    def batch(self, interaction: Interaction, temperature: float) -> SoftLabelBatch:
        """The batch's soft labels; sources that know more per row (the cache) say more."""
        return SoftLabelBatch(self.log_probs(interaction, temperature), None)

    def to(self, device: torch.device) -> "SoftLabelSource":
        return self


def mask_padding(logits: torch.Tensor) -> torch.Tensor:
    """Padding item 0 never receives probability mass."""
    logits = logits.float().clone()
    logits[:, 0] = float("-inf")
    return logits
