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


def _numpy_objective(logits, teacher_logits, target, beta, temperature):
    """(1-beta)*CE over all columns + beta*KL(r || P_f) over the real columns, in numpy float64."""
    import numpy as np

    logits, teacher_logits = np.asarray(logits, float), np.asarray(teacher_logits, float)
    total = 0.0
    for row, teacher_row, t in zip(logits, teacher_logits, target):
        log_p_all = row - np.log(np.exp(row).sum())
        real = row[1:]
        log_p_real = real - np.log(np.exp(real).sum())
        q = np.exp(teacher_row[1:] / temperature)
        q /= q.sum()
        r = 0.5 * q
        r[t - 1] += 0.5
        kl = float((r * (np.log(r) - log_p_real)).sum())
        total += (1 - beta) * -log_p_all[t] + beta * kl
    return total / len(target)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
def test_forward_student_objective_matches_numpy_and_two_part_gradient(beta):
    """The one-log-softmax objective: value = numpy oracle; gradient = (1-beta)*CE + beta*KL's."""
    from recbole_csrec.loss import forward_student_objective

    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(5, 9, generator=generator, dtype=torch.float64) * 3
    logits[:, 0] = torch.randn(5, generator=generator, dtype=torch.float64)  # padding logit: not zero
    teacher = torch.randn(5, 9, generator=generator, dtype=torch.float64) * 2
    teacher[:, 0] = float("-inf")
    target = torch.tensor([1, 8, 3, 3, 5])
    log_q = torch.log_softmax(teacher / T, dim=-1)

    fused_logits = logits.clone().requires_grad_(True)
    objective = forward_student_objective(fused_logits, log_q, target, beta)
    objective.loss.backward()
    oracle = _numpy_objective(logits.tolist(), teacher.tolist(), target.tolist(), beta, T)
    assert objective.loss.item() == pytest.approx(oracle, rel=1e-9, abs=1e-9)
    ce = torch.nn.functional.cross_entropy(logits, target).item()
    assert objective.ce.item() == pytest.approx(ce, rel=1e-9)

    two_part_logits = logits.clone().requires_grad_(True)
    two_part = sum(student_loss(torch.nn.functional.cross_entropy(two_part_logits, target),
                                soft_label_kl(two_part_logits, log_q, target, "forward"), beta))
    two_part.backward()
    assert torch.allclose(fused_logits.grad, two_part_logits.grad, atol=1e-10)


@pytest.mark.parametrize("model", ["GRU4Rec", "Caser", "NextItNet"])
def test_student_step_equals_two_part_loss_with_regularisers(tiny_data, model):
    """A whole student step (the backbone's CE call computes the objective) gives the same parts,
    total and gradients as CE + soft_label_kl, for models with regularisers too (Caser, NextItNet)."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, init_seed

    from recbole_csrec.benchmark.step_costs import TwoPartStudent
    from recbole_csrec.config import CSRecConfig
    from recbole_csrec.model import CSRecStudent
    from recbole_csrec.soft_labels import TeacherEnsemble
    from tests.conftest import TINY_NAME, fast_config

    config = CSRecConfig(model=model, dataset=TINY_NAME,
                         config_dict=fast_config(tiny_data, beta=0.3, reg_weight=0.05, dropout_prob=0.0))
    init_seed(0, True)
    train_data = data_preparation(config, create_dataset(config))[0]
    dataset = train_data._dataset
    teacher = TeacherEnsemble([get_model(model)(config, dataset)])
    batch = next(iter(train_data))
    parts, grads = {}, {}
    for name, cls in (("fused", CSRecStudent), ("two-part", TwoPartStudent)):
        init_seed(5, True)
        student = cls(config, dataset, get_model(model)(config, dataset), teacher).eval()
        parts[name] = student.calculate_loss(batch)
        sum(parts[name]).backward()
        grads[name] = [p.grad.clone() for p in student.parameters() if p.grad is not None]
    assert [p.item() for p in parts["fused"]] == pytest.approx([p.item() for p in parts["two-part"]], rel=1e-5)
    assert len(grads["fused"]) == len(grads["two-part"]) > 0
    for fused, two_part in zip(grads["fused"], grads["two-part"]):
        assert torch.allclose(fused, two_part, atol=1e-6, rtol=1e-4)
