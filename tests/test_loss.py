"""The student loss against a hand computation, both KL directions; beta=0 is plain CE."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recbole_csrec.loss import soft_label_kl, student_loss

STUDENT = [0.0, 1.0, 2.0, 0.5]   # column 0 is padding
TEACHER = [9.0, 2.0, 0.0, 1.0]   # padding logit must be ignored however large
T = 2.0
TARGET = 1


def _softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def _hand_r_and_p():
    q = _softmax([x / T for x in TEACHER[1:]])
    r = [0.5 * (qi + (1.0 if i + 1 == TARGET else 0.0)) for i, qi in enumerate(q)]
    p = _softmax(STUDENT[1:])
    return r, p


def _kl(student_direction: str) -> float:
    teacher = torch.tensor([TEACHER])
    teacher[:, 0] = float("-inf")
    log_q = torch.log_softmax(teacher / T, dim=-1)
    return soft_label_kl(torch.tensor([STUDENT]), log_q, torch.tensor([TARGET]), student_direction).item()


def test_forward_kl_matches_hand_computation():
    r, p = _hand_r_and_p()
    expected = sum(ri * math.log(ri / pi) for ri, pi in zip(r, p))
    assert _kl("forward") == pytest.approx(expected, rel=1e-5)


def test_reverse_kl_matches_hand_computation():
    r, p = _hand_r_and_p()
    expected = sum(pi * math.log(pi / ri) for ri, pi in zip(r, p))
    assert _kl("reverse") == pytest.approx(expected, rel=1e-5)
    assert _kl("reverse") != pytest.approx(_kl("forward"), rel=1e-3)


def test_kl_is_zero_when_student_equals_soft_label():
    r, _ = _hand_r_and_p()
    student = torch.tensor([[0.0] + [math.log(x) for x in r]])
    teacher = torch.tensor([TEACHER])
    teacher[:, 0] = float("-inf")
    log_q = torch.log_softmax(teacher / T, dim=-1)
    for direction in ("forward", "reverse"):
        assert soft_label_kl(student, log_q, torch.tensor([TARGET]), direction).item() == pytest.approx(0, abs=1e-6)


def test_large_logits_stay_finite():
    student = torch.randn(4, 50) * 1e3
    teacher = torch.randn(4, 50) * 1e3
    teacher[:, 0] = float("-inf")
    log_q = torch.log_softmax(teacher, dim=-1)
    target = torch.randint(1, 50, (4,))
    for direction in ("forward", "reverse"):
        assert torch.isfinite(soft_label_kl(student, log_q, target, direction))


def test_beta_weights_the_parts():
    ce, kl = torch.tensor(2.0), torch.tensor(4.0)
    assert [x.item() for x in student_loss(ce, kl, 0.25)] == [1.5, 1.0]
    assert [x.item() for x in student_loss(ce, kl, 0.0)] == [2.0, 0.0]


def test_unknown_direction_is_rejected():
    with pytest.raises(ValueError, match="sideways"):
        soft_label_kl(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([1]), "sideways")


def test_forward_kl_gradient_is_p_minus_r():
    """d KL(r || P_f) / d logits = P_f - r (per row, over real items; mean over the batch)."""
    logits = torch.tensor([STUDENT], requires_grad=True)
    teacher = torch.tensor([TEACHER])
    teacher[:, 0] = float("-inf")
    soft_label_kl(logits, torch.log_softmax(teacher / T, dim=-1), torch.tensor([TARGET]), "forward").backward()
    r, p = _hand_r_and_p()
    assert logits.grad[0, 1:].tolist() == pytest.approx([pi - ri for pi, ri in zip(p, r)], abs=1e-6)
    assert logits.grad[0, 0].item() == 0.0  # padding column: no gradient


def _numpy_soft_label_kl(student, teacher, target, temperature, direction):
    """Eq. 14-15 in float64 numpy, written from the paper (an oracle independent of loss.py):
    r = 0.5*(softmax(e_u/T) + onehot), P_f = softmax(student), over real items (column 0 dropped)."""
    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    q = softmax(teacher[:, 1:] / temperature)
    onehot = np.zeros_like(q)
    onehot[np.arange(len(target)), target - 1] = 1.0
    r = 0.5 * (q + onehot)
    p = softmax(student[:, 1:])
    a, b = (r, p) if direction == "forward" else (p, r)
    return float(np.mean(np.sum(a * (np.log(a) - np.log(b)), axis=1)))


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_label_kl_matches_numpy_on_random_batches(direction, seed):
    rng = np.random.default_rng(seed)
    batch, n_items, temperature = 6, 40, float(rng.uniform(0.5, 9.0))
    student = rng.normal(scale=3.0, size=(batch, n_items))
    teacher = rng.normal(scale=3.0, size=(batch, n_items))
    teacher[:, 0] = 50.0  # a large padding logit must not matter
    target = rng.integers(1, n_items, size=batch)
    log_q = torch.log_softmax(torch.tensor(teacher[:, 1:]) / temperature, dim=-1)
    log_q = torch.cat([torch.full((batch, 1), float("-inf"), dtype=log_q.dtype), log_q], dim=1)
    got = soft_label_kl(torch.tensor(student, dtype=torch.float32), log_q.float(),
                        torch.tensor(target), direction).item()
    expected = _numpy_soft_label_kl(student, teacher, target, temperature, direction)
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)
