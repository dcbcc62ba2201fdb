"""Teacher pieces: ensemble mean, data-level subsamples, SoftRec counts, student loss, weights."""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender import GRU4Rec
from recbole.utils import init_seed

from recbole_csrec.checkpoint import save_weights
from recbole_csrec.config import CSRecConfig
from recbole_csrec.data import subsample_sequences
from recbole_csrec.data.item_counts import training_item_counts
from recbole_csrec.model import CSRecStudent
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.popularity import popularity_logits
from tests.conftest import TINY_NAME, fast_config


def _prepare(data_path: str, **overrides):
    config = CSRecConfig(model="GRU4Rec", dataset=TINY_NAME, config_dict=fast_config(data_path, **overrides))
    init_seed(config["seed"], True)
    dataset = create_dataset(config)
    return config, dataset, *data_preparation(config, dataset)


class _FixedTeacher(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def full_sort_predict(self, interaction):
        return self.logits.expand(len(interaction), -1)


class _Rows(list):
    """Stands in for an Interaction: only its length is read."""


@pytest.mark.parametrize("mode", ["logits", "probs"])
def test_ensemble_averages_teachers(mode):
    a, b, T = [5.0, 1.0, 2.0, 3.0], [5.0, 3.0, 0.0, 1.0], 2.0
    got = TeacherEnsemble([_FixedTeacher(a), _FixedTeacher(b)], mode).log_probs(_Rows([0, 0]), T)
    assert got.shape == (2, 4)
    assert torch.isinf(got[:, 0]).all()  # padding gets no mass
    def softmax(xs):
        e = [math.exp(x / T) for x in xs]
        return [v / sum(e) for v in e]
    if mode == "logits":
        expected = softmax([(x + y) / 2 for x, y in zip(a[1:], b[1:])])
    else:
        expected = [(x + y) / 2 for x, y in zip(softmax(a[1:]), softmax(b[1:]))]
    assert got[0, 1:].exp().tolist() == pytest.approx(expected, rel=1e-5)


def test_subsample_keeps_whole_users_and_differs_by_seed(tiny_data):
    config, dataset, train, valid, test = _prepare(tiny_data)
    users = train._dataset.inter_feat["user_id"].numpy()
    sub1 = subsample_sequences(train, 0.5, seed=1)
    sub2 = subsample_sequences(train, 0.5, seed=2)
    kept1 = np.unique(sub1._dataset.inter_feat["user_id"].numpy())
    kept2 = np.unique(sub2._dataset.inter_feat["user_id"].numpy())
    n_users = len(np.unique(users))
    assert len(kept1) == len(kept2) == round(0.5 * n_users)
    assert set(kept1) != set(kept2)
    # every training sample of a chosen user is kept, nothing else
    assert len(sub1._dataset) == int(np.isin(users, kept1).sum())
    assert len(train._dataset) == len(users)  # the original loader is untouched
    assert subsample_sequences(train, 1.0, seed=3)._dataset.inter_num == len(users)


def test_softrec_counts_training_interactions_only(tiny_data):
    config, dataset, train, valid, test = _prepare(tiny_data)
    raw = pd.read_csv(os.path.join(tiny_data, TINY_NAME, f"{TINY_NAME}.inter"), sep="\t")
    raw.columns = ["user_id", "item_id", "rating", "timestamp"]
    expected = np.zeros(dataset.item_num)
    for _, rows in raw.sort_values(["user_id", "timestamp"]).groupby("user_id"):
        for token in rows["item_id"].tolist()[:-2]:  # last two are validation and test targets
            expected[dataset.token2id("item_id", str(token))] += 1
    counts = training_item_counts(train).numpy()
    assert counts.tolist() == expected.tolist()
    logits = popularity_logits(torch.tensor(expected, dtype=torch.float))
    assert logits[1:].min().item() == pytest.approx(-5.0) and logits[1:].max().item() == pytest.approx(5.0)


def test_student_with_beta_zero_is_plain_ce(tiny_data):
    config, dataset, train, valid, test = _prepare(tiny_data, beta=0.0)
    batch = next(iter(train))
    init_seed(0, True)
    plain = GRU4Rec(config, train._dataset).eval()
    init_seed(0, True)
    backbone = GRU4Rec(config, train._dataset)
    teacher = TeacherEnsemble([_FixedTeacher(torch.randn(dataset.item_num).tolist())])
    student = CSRecStudent(config, train._dataset, backbone, teacher).eval()
    ce_part, kl_part = student.calculate_loss(batch)
    assert kl_part.item() == 0.0
    assert ce_part.item() == pytest.approx(plain.calculate_loss(batch).item(), rel=1e-6)
    config["beta"] = 0.5
    student = CSRecStudent(config, train._dataset, backbone, teacher).eval()
    ce_half, kl_half = student.calculate_loss(batch)
    assert ce_half.item() == pytest.approx(0.5 * plain.calculate_loss(batch).item(), rel=1e-6)
    assert kl_half.item() > 0


def test_student_weights_load_into_plain_recbole_model(tiny_data, tmp_path):
    config, dataset, train, valid, test = _prepare(tiny_data)
    student = CSRecStudent(config, train._dataset, GRU4Rec(config, train._dataset))
    path = str(tmp_path / "w.pth")
    save_weights(student, path, {"phase": "student"})
    checkpoint = torch.load(path, weights_only=True)
    plain = GRU4Rec(config, train._dataset)
    plain.load_state_dict(checkpoint["state_dict"])  # strict: same keys as a RecBole model
    assert checkpoint["meta"]["phase"] == "student"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
