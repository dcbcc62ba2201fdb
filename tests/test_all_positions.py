"""All-position training visits exactly per-row training's (prefix, target) pairs, and its loss and
gradients equal per-row training's on the same rows (causal models, dropout off)."""
from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.config import CSRecConfig
from recbole_csrec.data.all_positions import POSITION_ROWS_FIELD, AllPositionLoader
from recbole_csrec.errors import CSRecError
from recbole_csrec.model import CSRecStudent
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.soft_labels.cache import build_soft_label_cache
from recbole_csrec.lookups import get_model
from tests.conftest import TINY_NAME, fast_config

CAUSAL = ["GRU4Rec", "SASRec", "NextItNetLastItem"]


def _train_data(data_path: str, model: str = "GRU4Rec", **overrides):
    config = CSRecConfig(model=model, dataset=TINY_NAME, config_dict=fast_config(
        data_path, beta=0.4, temperature=2.0, dropout_prob=0.0, hidden_dropout_prob=0.0,
        attn_dropout_prob=0.0, train_batch_size=16, **overrides))
    init_seed(0, True)
    return config, data_preparation(config, create_dataset(config))[0]


def test_an_epoch_visits_every_training_pair_once(tiny_data):
    config, train_data = _train_data(tiny_data)
    feat = train_data._dataset.inter_feat
    seqs, lengths = feat["item_id_list"], feat["item_length"]
    loader = AllPositionLoader(train_data)
    seen, steps = [], 0
    for batch in loader:
        steps += 1
        rows_at = batch[POSITION_ROWS_FIELD]
        assert int((rows_at >= 0).sum()) <= config["train_batch_size"] or len(rows_at) == 1
        for anchor_seq, rows in zip(batch["item_id_list"], rows_at):
            for position, row in enumerate(rows.tolist()):
                if row < 0:
                    continue
                seen.append(row)
                # the anchor's prefix at this position is the row's own history
                assert int(lengths[row]) == position + 1
                assert torch.equal(anchor_seq[:position + 1], seqs[row, :position + 1])
    assert sorted(seen) == list(range(len(feat)))  # every (prefix, target) row once
    assert steps == len(loader) or steps > 0
    assert len(loader.anchors) < len(feat)  # fewer forward passes than rows
    assert set(range(len(feat))) == set(seen)


def test_batches_follow_the_loaders_generator(tiny_data):
    _, train_data = _train_data(tiny_data)
    loader = AllPositionLoader(train_data)
    train_data.generator.manual_seed(3)
    first = [b[POSITION_ROWS_FIELD].tolist() for b in loader]
    train_data.generator.manual_seed(3)
    assert len(loader) == len(first)  # len() does not consume the generator
    assert [b[POSITION_ROWS_FIELD].tolist() for b in loader] == first


@pytest.mark.parametrize("model", CAUSAL)
@pytest.mark.parametrize("teacher", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_all_position_loss_equals_per_row_loss(tiny_data, model, teacher, fused):
    config, train_data = _train_data(tiny_data, model, fused_output=fused)
    dataset = train_data._dataset
    soft_labels = None
    if teacher:
        init_seed(9, True)
        soft_labels = build_soft_label_cache(TeacherEnsemble([get_model(model)(config, dataset).eval()]), dataset)
    batch = next(iter(AllPositionLoader(train_data)))
    rows = batch[POSITION_ROWS_FIELD]
    rows = rows[rows >= 0]
    results = {}
    for all_positions, data in ((True, batch), (False, dataset.inter_feat[rows])):
        config["all_positions"] = all_positions
        init_seed(5, True)
        student = CSRecStudent(config, dataset, get_model(model)(config, dataset), soft_labels)
        student.train()
        parts = student.calculate_loss(data)
        parts = parts if isinstance(parts, tuple) else (parts,)
        sum(parts).backward()
        results[all_positions] = ([p.item() for p in parts],
                                  {n: p.grad.clone() for n, p in student.named_parameters() if p.grad is not None})
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-4, abs=1e-5)
    for name, grad in results[False][1].items():
        assert torch.allclose(results[True][1][name], grad, atol=1e-5, rtol=1e-3), name


def test_non_causal_models_are_refused(tiny_data):
    config, train_data = _train_data(tiny_data, "NARM", all_positions=True)
    with pytest.raises(CSRecError, match="all_positions=True needs a causal model.*not 'NARM'"):
        CSRecStudent(config, train_data._dataset, get_model("NARM")(config, train_data._dataset))


def test_a_run_trains_with_all_positions(tiny_data):
    from recbole_csrec import run_recbole_csrec

    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data, all_positions=True, epochs=2))
    assert result["test_result"]["ndcg@10"] >= 0.0


def test_plain_models_train_the_same_way(tiny_data):
    """Teachers and Base through the store are plain RecBole models: the trainer steps them as a
    student without soft labels, so all_positions (and fused_output) apply to them too."""
    from recbole_csrec.trainer import CSRecTrainer

    config, train_data = _train_data(tiny_data, "GRU4Rec", all_positions=True)
    model = get_model("GRU4Rec")(config, train_data._dataset)
    trainer = CSRecTrainer(config, model, phase="teacher-1", write_files=False)
    steps = []
    model.calculate_loss = lambda interaction: steps.append(interaction) or torch.zeros((), requires_grad=True)
    trainer._train_epoch(train_data, 0)
    assert trainer._stepper(train_data).all_positions
    assert steps and all(POSITION_ROWS_FIELD in batch.interaction for batch in steps)  # whole sequences
    assert len(steps) == len(AllPositionLoader(train_data))
    config["all_positions"] = False
    per_row = CSRecTrainer(config, get_model("GRU4Rec")(config, train_data._dataset), write_files=False)
    assert not per_row._stepper(train_data).all_positions
