"""Cache build from one all-position pass per longest row: same table as row-by-row inference."""
from __future__ import annotations

import logging

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, init_seed

from recbole_csrec.config import CSRecConfig
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.soft_labels.cache import build_soft_label_cache
from recbole_csrec.soft_labels.prefix_sharing import prefix_anchors
from tests.conftest import TINY_NAME, fast_config


def _teachers(data_path: str, model: str, **overrides):
    config = CSRecConfig(model=model, dataset=TINY_NAME, config_dict=fast_config(data_path, **overrides))
    init_seed(config["seed"], config["reproducibility"])
    train_data, _, _ = data_preparation(config, create_dataset(config))
    teachers = []
    for seed in (1, 2):
        init_seed(seed, True)
        teachers.append(get_model(model)(config, train_data._dataset))
    return train_data._dataset, TeacherEnsemble(teachers, config["ensemble"])


def test_prefix_anchors_point_at_longer_rows_of_the_same_user(tiny_data):
    dataset, _ = _teachers(tiny_data, "GRU4Rec")
    anchor, position = prefix_anchors(dataset)
    feat = dataset.inter_feat
    lists, lengths, users = feat["item_id_list"], feat["item_length"], feat["user_id"]
    assert torch.unique(anchor).numel() < len(anchor) / 3  # most rows share a pass
    for row in range(len(anchor)):
        a, n = int(anchor[row]), int(lengths[row])
        assert users[a] == users[row] and int(position[row]) == n - 1
        assert torch.equal(lists[a, :n], lists[row, :n])


@pytest.mark.parametrize("model,ensemble", [("GRU4Rec", "logits"), ("SASRec", "probs")])
def test_shared_build_equals_row_by_row(tiny_data, caplog, model, ensemble):
    dataset, source = _teachers(tiny_data, model, ensemble=ensemble)
    with caplog.at_level(logging.INFO):
        shared = build_soft_label_cache(source, dataset, batch_size=50)
    assert "teacher inference shares prefixes" in caplog.text
    by_row = build_soft_label_cache(source, dataset, batch_size=50, share_prefixes=False)
    a, b = shared.tensors["table"].float(), by_row.tensors["table"].float()
    assert torch.equal(torch.isinf(a), torch.isinf(b))
    finite = torch.isfinite(b)
    assert torch.allclose(a[finite], b[finite], atol=2e-3)  # fp16 steps of values near 0


def test_models_without_all_positions_build_row_by_row(tiny_data, caplog):
    dataset, source = _teachers(tiny_data, "NARM")  # attention reads every position
    with caplog.at_level(logging.INFO):
        cache = build_soft_label_cache(source, dataset, batch_size=50)
    assert "teacher inference row by row (NARM does not output every position)" in caplog.text
    expected = build_soft_label_cache(source, dataset, batch_size=50, share_prefixes=False)
    assert torch.equal(cache.tensors["table"], expected.tensors["table"])


def test_sliding_windows_are_not_prefixes(tiny_data, caplog):
    # histories longer than MAX_ITEM_LIST_LENGTH are cut from the left: not prefixes of each other
    dataset, source = _teachers(tiny_data, "GRU4Rec", MAX_ITEM_LIST_LENGTH=3)
    anchor, _ = prefix_anchors(dataset)
    lists, lengths = dataset.inter_feat["item_id_list"], dataset.inter_feat["item_length"]
    for row in range(len(anchor)):
        n = int(lengths[row])
        assert torch.equal(lists[int(anchor[row]), :n], lists[row, :n])
    shared = build_soft_label_cache(source, dataset, batch_size=50)
    by_row = build_soft_label_cache(source, dataset, batch_size=50, share_prefixes=False)
    finite = torch.isfinite(by_row.tensors["table"])
    assert torch.allclose(shared.tensors["table"][finite].float(), by_row.tensors["table"][finite].float(),
                          atol=2e-3)
