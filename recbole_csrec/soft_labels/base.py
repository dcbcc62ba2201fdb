"""The interface between a teacher module and the student."""
from __future__ import annotations

import torch
from recbole.data.interaction import Interaction


class SoftLabelSource:
    """Gives log softmax(e_u / T) for every row of a batch: [B, n_items], column 0 = -inf."""

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        raise NotImplementedError

    def to(self, device: torch.device) -> "SoftLabelSource":
        return self


def mask_padding(logits: torch.Tensor) -> torch.Tensor:
    """Padding item 0 never receives probability mass."""
    logits = logits.float().clone()
    logits[:, 0] = float("-inf")
    return logits
