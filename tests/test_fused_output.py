"""The fused output layer (`fused_output: True`) gives today's loss and gradients: for every model
whose scores are seq_output @ item_embedding.T, Base and student, cached and on-the-fly soft
labels, both KL directions; and the logits are never materialised."""
from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.config import CSRecConfig
from recbole_csrec.model import CSRecStudent
from recbole_csrec.model.output_layer import (BLOCK_ELEMENTS, ItemScores, fused_cross_entropy,
                                              fused_student_objective)
from recbole_csrec.soft_labels.base import SoftLabelBatch
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.soft_labels.cache import build_soft_label_cache
from recbole_csrec.lookups import get_model
from tests.conftest import TINY_NAME, fast_config

MODELS = ["GRU4Rec", "NARM", "SASRec", "NextItNetLastItem", "NextItNet"]


def _setup(data_path: str, model: str, **overrides):
    config = CSRecConfig(model=model, dataset=TINY_NAME, config_dict=fast_config(
        data_path, beta=0.3, temperature=2.0, reg_weight=0.05, **overrides))
    init_seed(0, True)
    train_data = data_preparation(config, create_dataset(config))[0]
    return config, train_data


def _step(config, dataset, model: str, soft_labels, batch, fused: bool, compiled: bool = False):
    config["fused_output"], config["compiled_loss"] = fused, compiled
    init_seed(5, True)
    student = CSRecStudent(config, dataset, get_model(model)(config, dataset), soft_labels).eval()
    parts = student.calculate_loss(batch)
    parts = parts if isinstance(parts, tuple) else (parts,)
    sum(parts).backward()
    grads = {name: p.grad.clone() for name, p in student.named_parameters() if p.grad is not None}
    return [p.item() for p in parts], grads, student._recorder


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", ["base", "on-the-fly forward", "cached forward",
                                  "on-the-fly reverse", "cached reverse"])
def test_fused_equals_unfused(tiny_data, model, kind):
    direction = kind.split()[-1] if kind != "base" else "forward"
    config, train_data = _setup(tiny_data, model, kl_direction=direction)
    dataset = train_data._dataset
    soft_labels = None
    if kind != "base":
        init_seed(9, True)
        soft_labels = TeacherEnsemble([get_model(model)(config, dataset).eval()])
        if kind.startswith("cached"):
            soft_labels = build_soft_label_cache(soft_labels, dataset)
    batch = next(iter(train_data))
    got = {fused: _step(config, dataset, model, soft_labels, batch, fused) for fused in (False, True)}
    (parts, grads, recorder), (fused_parts, fused_grads, fused_recorder) = got[False], got[True]
    assert fused_recorder.fused_calls == 1 and fused_recorder.logits is None  # no [B x I] logits
    assert recorder.fused_calls == 0
    assert fused_parts == pytest.approx(parts, rel=1e-5, abs=2e-5)  # fp32 sums in another order
    assert set(fused_grads) == set(grads) and len(grads) > 3
    for name, grad in grads.items():
        assert torch.allclose(fused_grads[name], grad, atol=1e-6, rtol=1e-4), name


@pytest.mark.parametrize("model", ["GRU4Rec", "SASRec"])
@pytest.mark.parametrize("kind,rows", [("on-the-fly forward", 64), ("cached forward", 64), ("cached forward", 37)])
def test_compiled_blocks_equal_unfused(tiny_data, model, kind, rows):
    """`compiled_loss`: the same loss and gradients with the student's block compiled by
    torch.compile (one compile for the whole session: the shapes repeat; 37 rows are padded to
    the 64-row bucket and the padding dropped)."""
    from recbole_csrec.model.compiled_blocks import COMPILED

    config, train_data = _setup(tiny_data, model)
    dataset = train_data._dataset
    init_seed(9, True)
    soft_labels = TeacherEnsemble([get_model(model)(config, dataset).eval()])
    if kind.startswith("cached"):
        soft_labels = build_soft_label_cache(soft_labels, dataset)
    batch = next(iter(train_data))
    batch = batch[torch.arange(rows)]
    parts, grads, _ = _step(config, dataset, model, soft_labels, batch, fused=False)
    compiled_parts, compiled_grads, recorder = _step(config, dataset, model, soft_labels, batch, True, True)
    assert COMPILED.failed is None and recorder.compiled and recorder.fused_calls == 1
    assert compiled_parts == pytest.approx(parts, rel=1e-5, abs=2e-5)
    assert set(compiled_grads) == set(grads)
    for name, grad in grads.items():
        assert torch.allclose(compiled_grads[name], grad, atol=1e-6, rtol=1e-4), name


def test_row_buckets():
    from recbole_csrec.model.compiled_blocks import ROW_BUCKET, bucket_rows

    z, q = torch.randn(37, 5), torch.randn(37, 5).half()
    pz, pq = bucket_rows(z, q)
    assert pz.shape == (ROW_BUCKET, 5) and pq.dtype == torch.float16
    assert torch.equal(pz[:37], z) and not pz[37:].any()
    full = torch.randn(2 * ROW_BUCKET, 3)
    assert bucket_rows(full)[0] is full  # already a multiple: no copy


def test_blocks_cover_every_row(monkeypatch):
    """Several row blocks (a catalogue large against BLOCK_ELEMENTS) give the one-block result."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 8, requires_grad=True)
    weight = torch.randn(50, 8, requires_grad=True)
    target = torch.randint(1, 50, (37,))
    expected = torch.nn.functional.cross_entropy(hidden @ weight.t(), target)
    expected.backward()
    want = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    monkeypatch.setattr("recbole_csrec.model.output_layer.BLOCK_ELEMENTS", 50 * 5)  # 5 rows a block
    loss = fused_cross_entropy(ItemScores(hidden, weight), target)
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.allclose(hidden.grad, want[0], atol=1e-6) and torch.allclose(weight.grad, want[1], atol=1e-6)
    assert BLOCK_ELEMENTS >= 1 << 20


def test_other_matmuls_are_not_captured(tiny_data):
    """Only seq_output @ item_embedding.T is captured: the teachers' scoring and the model's other
    matmuls run as usual (the student's on-the-fly teacher is its own model)."""
    from recbole_csrec.model.output_layer import capture_item_scores

    config, train_data = _setup(tiny_data, "SASRec")
    model = get_model("SASRec")(config, train_data._dataset)
    other = get_model("SASRec")(config, train_data._dataset)
    batch = next(iter(train_data))
    with capture_item_scores(model):
        scores = other.full_sort_predict(batch)
        mine = torch.matmul(torch.ones(2, model.item_embedding.weight.size(1)), model.item_embedding.weight.t())
        again = torch.matmul(torch.ones(2, model.item_embedding.weight.size(1)), model.item_embedding.weight.t())
    assert isinstance(scores, torch.Tensor) and scores.shape[1] == dataset_items(train_data)
    assert isinstance(mine, ItemScores)
    assert isinstance(again, torch.Tensor)  # one capture per forward


def dataset_items(train_data) -> int:
    return int(train_data._dataset.item_num)


def test_compiled_blocks_fall_back_to_eager_with_one_warning(monkeypatch, caplog):
    """Where torch.compile cannot run, one warning and the eager blocks' values."""
    import logging

    from recbole_csrec.model import compiled_blocks

    def broken(function, **kwargs):
        def call(*args):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return call

    monkeypatch.setattr(compiled_blocks.torch, "compile", broken)
    monkeypatch.setattr(compiled_blocks, "COMPILED", compiled_blocks._Compiled())
    torch.manual_seed(0)
    hidden, weight, target = torch.randn(6, 4), torch.randn(9, 4), torch.randint(1, 9, (6,))
    log_q = torch.log_softmax(torch.randn(6, 9), dim=1)
    soft_labels = SoftLabelBatch(log_q.half(), (log_q.exp() * log_q).sum(dim=1))
    with caplog.at_level(logging.WARNING):
        first, second = (fused_student_objective(ItemScores(hidden, weight), soft_labels, target, 0.5,
                                                 compiled=True).loss for _ in range(2))
    eager = fused_student_objective(ItemScores(hidden, weight), soft_labels, target, 0.5).loss
    assert first.item() == pytest.approx(eager.item()) and second.item() == pytest.approx(eager.item())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["compiled_loss: torch.compile cannot run here (RuntimeError: no C++ compiler "
                        "found); the eager formulas are used"]
