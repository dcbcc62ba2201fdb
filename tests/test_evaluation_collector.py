"""TopkCollector collects exactly what RecBole's Collector collects, without the [users x items]
position matrix."""
from __future__ import annotations

import pytest
import torch
from recbole.evaluator import Collector

from recbole_csrec.config import CSRecConfig
from recbole_csrec.evaluation_collector import TopkCollector, topk_hits
from tests.conftest import TINY_NAME, fast_config


@pytest.mark.parametrize("seed", range(5))
def test_topk_hits_equal_recboles_matrix(seed):
    generator = torch.Generator().manual_seed(seed)
    rows, items = 37, 50
    scores = torch.randn(rows, items, generator=generator)
    n_pos = int(torch.randint(1, 90, (1,), generator=generator))
    positive_u = torch.randint(0, rows, (n_pos,), generator=generator)  # duplicates, empty rows
    positive_i = torch.randint(0, items, (n_pos,), generator=generator)
    _, topk_idx = torch.topk(scores, 10, dim=-1)
    pos_matrix = torch.zeros_like(scores, dtype=torch.int)  # RecBole 1.2.1's construction
    pos_matrix[positive_u, positive_i] = 1
    expected = torch.cat((torch.gather(pos_matrix, 1, topk_idx), pos_matrix.sum(dim=1, keepdim=True)), dim=1)
    got = topk_hits(topk_idx, positive_u, positive_i, items)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


def test_collector_data_equals_recboles(tiny_data):
    config = CSRecConfig(model="GRU4Rec", dataset=TINY_NAME, config_dict=fast_config(
        tiny_data, metrics=["Recall", "NDCG", "MRR", "Hit", "Precision", "ItemCoverage", "recall+"]))
    generator = torch.Generator().manual_seed(0)
    collectors = (Collector(config), TopkCollector(config))
    for _ in range(3):
        scores = torch.randn(16, 31, generator=generator)
        positive_u = torch.arange(16)
        positive_i = torch.randint(1, 31, (16,), generator=generator)
        from recbole.data.interaction import Interaction
        interaction = Interaction({"rating": torch.randint(1, 6, (16,), generator=generator).float()})
        for collector in collectors:
            collector.eval_batch_collect(scores.clone(), interaction, positive_u, positive_i)
    ours, theirs = collectors[1].get_data_struct(), collectors[0].get_data_struct()
    assert set(ours._data_dict) == set(theirs._data_dict) and "rec.topk" in theirs._data_dict
    for key, value in theirs._data_dict.items():
        assert torch.equal(ours._data_dict[key], value), key
