"""A soft-label source that is the same for every sequence (SoftRec's popularity teacher)."""
from __future__ import annotations

import torch
from recbole.data.interaction import Interaction

from recbole_csrec.soft_labels.base import SoftLabelSource, mask_padding


class FixedLogits(SoftLabelSource):
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = mask_padding(logits.view(1, -1))

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        batch = len(interaction)
        return torch.log_softmax(self.logits / temperature, dim=-1).expand(batch, -1)

    def to(self, device: torch.device) -> "FixedLogits":
        self.logits = self.logits.to(device)
        return self
