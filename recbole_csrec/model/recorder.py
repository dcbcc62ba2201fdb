"""Recording a RecBole model's full-item logits from inside its own CE loss."""
from __future__ import annotations

import torch
from torch import nn


class LogitRecordingCE(nn.CrossEntropyLoss):
    """The backbone's own CE loss, remembering the full-item logits it was given.

    RecBole's sequential models compute `self.loss_fct(logits, pos_items)` inside
    `calculate_loss`; recording them there keeps the backbone's exact loss (regularisers
    included) and costs no second forward pass. Set `logits = None` before each forward.
    """

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.logits: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() == 2 and logits.size(1) == self.n_items and self.logits is None:
            self.logits = logits
        return super().forward(logits, target)
