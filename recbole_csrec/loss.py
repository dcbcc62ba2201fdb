"""The student's soft-label loss (paper Eq. 14-15)."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from recbole_csrec.soft_labels.base import SoftLabelBatch

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


class StudentObjective(NamedTuple):
    """One batch of the forward-KL student objective."""

    loss: torch.Tensor  # mean of (1-beta)*CE + beta*KL(r || P_f), with gradient
    ce: torch.Tensor    # mean CE against the target (detached, for logging)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, accurate at both ends."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def forward_student_objective(logits: torch.Tensor, teacher_log_probs: torch.Tensor,
                              target: torch.Tensor, beta: float,
                              teacher_q_log_q: torch.Tensor | None = None) -> StudentObjective:
    """(1-beta)*CE(onehot, P) + beta*KL(r || P_f) from ONE log-softmax of the student's logits.

    `logits` [B, n_items] are what the backbone's own CE sees (column 0, padding, included);
    `teacher_log_probs` is log softmax(e_u/T) with column 0 = -inf; `target` holds item ids.
    With log_p = log_softmax(logits), P_f (the real items only) has log P_f = log_p - log(1-p_0),
    and r = q/2 + onehot/2 gives, per row,

        (1-beta)*CE + beta*KL = -sum_j w_j log_p_j + beta*log(1-p_0) + beta*sum_j r_j log r_j,
        w = (beta/2)*q + (1-beta/2)*onehot(target).

    The last term is a constant. The padding term's gradient, -beta*p_0/(1-p_0) per unit of
    log_p_0, is folded into w_0 (its value added as a constant), so backward is one weighted sum
    and one log-softmax backward: no second softmax, no copy of the real columns, no r tensor.
    `teacher_q_log_q` (per row sum_j q_j log q_j, when the source knows it) saves the entropy pass.
    Value and gradient equal soft_label_kl's forward path (tests/test_loss.py).
    """
    index = target.unsqueeze(1)
    if logits.dtype in (torch.float16, torch.bfloat16):  # mixed precision: the loss in fp32
        logits = logits.float()
    log_p = F.log_softmax(logits, dim=-1)
    with torch.no_grad():
        log_q = teacher_log_probs.to(log_p.dtype)
        q = log_q.exp()
        if teacher_q_log_q is None:
            teacher_q_log_q = (q * log_q).nansum(dim=-1)  # 0 * log 0 (q = 0, log q = -inf) counts as 0
        neg_entropy_r = neg_entropy_of_soft_label(q, log_q, index, teacher_q_log_q.to(log_p.dtype))
        log_p_pad = log_p[:, 0]
        log_real_mass = log1mexp(log_p_pad)  # log(1 - p_0)
        weights = q.mul_(0.5 * beta).scatter_add_(1, index, torch.full_like(q[:, :1], 1.0 - 0.5 * beta))
        weights[:, 0] = beta * torch.exp(log_p_pad - log_real_mass)  # p_0 / (1 - p_0)
        constant = weights[:, 0] * log_p_pad + beta * (log_real_mass + neg_entropy_r)
        ce = -log_p.gather(1, index).mean()
    loss = (constant - (weights * log_p).sum(dim=-1)).mean()
    return StudentObjective(loss, ce)


def neg_entropy_of_soft_label(q: torch.Tensor, log_q: torch.Tensor, index: torch.Tensor,
                               q_log_q: torch.Tensor) -> torch.Tensor:
    """sum_j r_j log r_j per row for r = q/2 + onehot/2, from q = softmax(e_u/T), its log and
    sum_j q_j log q_j."""
    half_log2 = 0.5 * math.log(2.0)
    q_t, log_q_t = q.gather(1, index).squeeze(1), log_q.gather(1, index).squeeze(1).float()
    q_log_q_t = torch.where(q_t > 0, q_t * log_q_t, torch.zeros_like(q_t))
    r_t = 0.5 * (q_t + 1.0)
    off_target = 0.5 * q_log_q - half_log2 - 0.5 * q_log_q_t + half_log2 * q_t
    return off_target + r_t * torch.log(r_t)


def student_objective(logits: torch.Tensor, soft_labels: SoftLabelBatch, target: torch.Tensor,
                      beta: float, direction: str = "forward") -> StudentObjective:
    """(1-beta)*CE + beta*KL in `direction` from the student's full-item logits."""
    if direction == "forward":
        return forward_student_objective(logits, soft_labels.log_probs, target, beta, soft_labels.q_log_q)
    ce = F.cross_entropy(logits.float(), target)
    kl = soft_label_kl(logits, soft_labels.log_probs, target, direction)
    return StudentObjective((1.0 - beta) * ce + beta * kl, ce.detach())


def student_loss(ce: torch.Tensor, kl: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(1-beta)*CE and beta*KL as two parts, so RecBole logs them as train_loss1/train_loss2."""
    return (1.0 - beta) * ce, beta * kl
