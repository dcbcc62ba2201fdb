"""Frozen teacher models combined into e_u (paper Algorithms 1 and 2)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

from recbole_csrec.soft_labels.base import SoftLabelSource, mask_padding

ENSEMBLE_MODES = ("logits", "probs")


def combine_teacher_logits(logits: torch.Tensor, temperature: float, mode: str) -> torch.Tensor:
    """[k, B, n_items] teacher logits (padding masked) -> [B, n_items] log softmax of the ensemble.

    Shared by on-the-fly inference and the soft-label cache, so both follow one rule.
    """
    if mode == "logits":
        # one [B, n_items] float buffer: sum in fp32 straight from fp16, scale in place
        mean = logits.sum(dim=0, dtype=torch.float32).div_(logits.size(0) * temperature)
        return torch.log_softmax(mean, dim=-1)
    per_teacher = torch.log_softmax(logits.float() / temperature, dim=-1)
    return torch.logsumexp(per_teacher, dim=0) - math.log(logits.size(0))


class TeacherEnsemble(SoftLabelSource):
    """`logits`: e_u = mean_k q_k(s_u), then softmax(e_u/T) (Algorithm 1, the default).
    `probs`: mean_k softmax(q_k(s_u)/T) (what the authors' code does)."""

    def __init__(self, teachers: Sequence[SequentialRecommender], mode: str = "logits") -> None:
        if mode not in ENSEMBLE_MODES:
            raise ValueError(f"ensemble '{mode}' is not one of {ENSEMBLE_MODES}")
        if not teachers:
            raise ValueError("a teacher ensemble needs at least one teacher")
        self.teachers = list(teachers)
        self.mode = mode
        for teacher in self.teachers:
            teacher.eval()
            teacher.requires_grad_(False)

    @torch.no_grad()
    def teacher_logits(self, interaction: Interaction) -> torch.Tensor:
        """[m, B, n_items] raw logits of every teacher, padding masked."""
        return torch.stack([mask_padding(t.full_sort_predict(interaction)) for t in self.teachers])

    @torch.no_grad()
    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        return combine_teacher_logits(self.teacher_logits(interaction), temperature, self.mode)

    def to(self, device: torch.device) -> "TeacherEnsemble":
        for teacher in self.teachers:
            teacher.to(device)
        return self
