"""The student's soft-label loss (paper Eq. 14-15)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KL_DIRECTIONS = ("forward", "reverse")


def soft_label_log_probs(teacher_log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log r with r = 0.5*(softmax(e_u/T) + onehot(target)), computed stably in log space.

    `teacher_log_probs` is log softmax(e_u/T) over the real items (padding column removed);
    `target` indexes the same columns. Off the target r = q/2; at the target
    log r = log(q + 1) - log 2 = logaddexp(log q, 0) - log 2.
    """
    index = target.unsqueeze(1)
    log_r = teacher_log_probs - math.log(2.0)
    at_target = torch.logaddexp(teacher_log_probs.gather(1, index),
                                torch.zeros((), device=teacher_log_probs.device)) - math.log(2.0)
    return log_r.scatter_(1, index, at_target)


def soft_label_kl(student_logits: torch.Tensor, teacher_log_probs: torch.Tensor,
                  target: torch.Tensor, direction: str = "forward") -> torch.Tensor:
    """Mean over the batch of KL(r || P_f) (`forward`) or KL(P_f || r) (`reverse`).

    Both tensors are [B, n_items] with column 0 the padding item, which is dropped before any
    softmax so it never receives probability mass. `target` holds item ids (>= 1).
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"kl_direction '{direction}' is not one of {KL_DIRECTIONS}")
    with torch.no_grad():  # r is a target: no gradient flows into the teachers
        log_r = soft_label_log_probs(teacher_log_probs[:, 1:].float(), target - 1)
    real_logits = student_logits[:, 1:].float()
    if direction == "forward":
        r = log_r.exp()  # no grad: log_r has none
        # KL(r || P_f) = sum r log r - sum r log P_f: the second part is CE with soft targets
        # (one fused kernel, one [B, |I|] buffer for backward); the first is a constant.
        neg_entropy = (r * log_r).nansum(dim=-1).mean()  # 0 * log 0 (nan) counts as 0
        return F.cross_entropy(real_logits, r) + neg_entropy
    log_p = F.log_softmax(real_logits, dim=-1)
    return (log_p.exp() * (log_p - log_r)).sum(dim=-1).mean()


def student_loss(ce: torch.Tensor, kl: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(1-beta)*CE and beta*KL as two parts, so RecBole logs them as train_loss1/train_loss2."""
    return (1.0 - beta) * ce, beta * kl
