"""The backbone's own CE loss, seen from inside: record its logits, or replace it by the student's objective."""
from __future__ import annotations

import torch
from torch import nn

from recbole_csrec.loss import StudentObjective, forward_student_objective
from recbole_csrec.soft_labels.base import SoftLabelBatch


class LogitRecordingCE(nn.CrossEntropyLoss):
    """RecBole's sequential models compute `self.loss_fct(logits, pos_items)` inside
    `calculate_loss`; standing in for that loss keeps the backbone's exact loss (regularisers
    included) and costs no second forward pass.

    - Recording: the full-item logits of the first call are kept in `logits`.
    - Student objective (`arm`): the first full-item call returns
      (1-beta)*CE + beta*KL(r || P_f) instead of CE, computed from the same single log-softmax
      (recbole_csrec.loss.forward_student_objective); its parts are kept in `objective`.

    Call `reset()` before each forward.
    """

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.logits: torch.Tensor | None = None
        self.objective: StudentObjective | None = None
        self._armed: tuple[SoftLabelBatch, float] | None = None

    def reset(self) -> None:
        self.logits, self.objective, self._armed = None, None, None

    def arm(self, soft_labels: SoftLabelBatch, beta: float) -> None:
        """The next full-item call computes the student objective against these soft labels."""
        self._armed = (soft_labels, beta)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 2 or logits.size(1) != self.n_items or self.logits is not None:
            return super().forward(logits, target)
        self.logits = logits
        if self._armed is None:
            return super().forward(logits, target)
        soft_labels, beta = self._armed
        self._armed = None
        self.objective = forward_student_objective(logits, soft_labels.log_probs, target, beta,
                                                   soft_labels.q_log_q)
        return self.objective.loss
