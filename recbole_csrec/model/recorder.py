"""The backbone's own CE loss, seen from inside: record its logits, or replace it by the student's objective."""
from __future__ import annotations

import torch
from torch import nn

from recbole_csrec.loss import StudentObjective, student_objective
from recbole_csrec.model.output_layer import ItemScores, fused_cross_entropy, fused_student_objective
from recbole_csrec.soft_labels.base import SoftLabelBatch


class LogitRecordingCE(nn.CrossEntropyLoss):
    """RecBole's sequential models compute `self.loss_fct(logits, pos_items)` inside
    `calculate_loss`; standing in for that loss keeps the backbone's exact loss (regularisers
    included) and costs no second forward pass.

    - Recording: the full-item logits of the first call are kept in `logits`.
    - Student objective (`arm`): the first full-item call returns
      (1-beta)*CE + beta*KL instead of CE (recbole_csrec.loss.student_objective: one
      log-softmax for the forward KL); its parts are kept in `objective`.
    - Fused (`model/output_layer.py`): when the backbone ran under `capture_item_scores`, the
      call receives ItemScores instead of logits and the same loss (CE, or the armed objective)
      is computed block by block without them; `logits` then stays None.

    Call `reset()` before each forward.
    """

    def __init__(self, n_items: int, bf16: bool = False, compiled: bool = False) -> None:
        super().__init__()
        self.n_items = n_items
        self.bf16 = bf16
        self.compiled = compiled  # `compiled_loss`: the student's fused block compiled
        self.logits: torch.Tensor | None = None
        self.objective: StudentObjective | None = None
        self.fused_calls = 0  # calls answered by the fused layer (tests, benchmarks)
        self._armed: tuple[SoftLabelBatch, float, str] | None = None
        self._positions: tuple[torch.Tensor, torch.Tensor] | None = None
        self._defer_ce = False

    def reset(self) -> None:
        self.logits, self.objective, self._armed, self._positions = None, None, None, None
        self._defer_ce = False

    def defer_ce(self) -> None:
        """The next full-item call records the logits and returns 0 in place of CE: the caller
        computes CE itself (fused with its other terms), and adds what the backbone returned
        (its regularisers, if any)."""
        self._defer_ce = True

    def arm(self, soft_labels: SoftLabelBatch | None, beta: float, direction: str = "forward") -> None:
        """The next full-item call computes the student objective against these soft labels
        (None: plain CE, still reported in `objective`)."""
        self._armed = (soft_labels, beta, direction)

    def select_positions(self, mask: torch.Tensor, target: torch.Tensor) -> None:
        """All-position training: the backbone scores [B, L] positions; the loss takes those in
        `mask` (row-major order), with `target` (one per selected position) instead of its own."""
        self._positions = (mask, target)

    def forward(self, logits, target: torch.Tensor) -> torch.Tensor:
        if self._positions is not None:
            (mask, target), self._positions = self._positions, None
            logits = ItemScores(logits.hidden[mask], logits.weight) if isinstance(logits, ItemScores) \
                else logits[mask]
        if isinstance(logits, ItemScores):
            return self._fused(logits, target)
        if logits.dim() != 2 or logits.size(1) != self.n_items or self.logits is not None:
            return super().forward(logits, target)
        self.logits = logits
        if self._defer_ce:
            self._defer_ce = False
            return logits.new_zeros((), dtype=torch.float32)
        if self._armed is None or self._armed[0] is None:
            return super().forward(logits, target)
        soft_labels, beta, direction = self._armed
        self._armed = None
        self.objective = student_objective(logits, soft_labels, target, beta, direction)
        return self.objective.loss

    def _fused(self, scores: ItemScores, target: torch.Tensor) -> torch.Tensor:
        self.fused_calls += 1
        armed, self._armed = self._armed, None
        if armed is None or armed[0] is None:
            return fused_cross_entropy(scores, target, self.bf16)
        soft_labels, beta, direction = armed
        self.objective = fused_student_objective(scores, soft_labels, target, beta, direction, self.bf16,
                                                 self.compiled)
        return self.objective.loss
