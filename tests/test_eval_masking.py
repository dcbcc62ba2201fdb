"""mask_input_items: the authors' evaluation (input items -inf except the target), applied the
same way to RecBole's metrics and to the per-user ranks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recbole_csrec import run_recbole_csrec
from recbole_csrec.trainer import mask_input_items
from tests.conftest import TINY_NAME, fast_config


def test_mask_input_items_by_hand():
    scores = torch.arange(12, dtype=torch.float).view(2, 6)
    scores[:, 0] = float("-inf")
    item_seq = torch.tensor([[3, 5, 0], [2, 2, 4]])
    out = mask_input_items(scores, item_seq, torch.tensor([0, 1]), torch.tensor([5, 1]))
    inf = float("-inf")
    assert out.tolist() == [[inf, 1, 2, inf, 4, 5], [inf, 7, inf, 9, inf, 11]]


def _run(tiny_data, mask: bool) -> dict:
    return run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="none", per_user=True,
                             config_dict=fast_config(tiny_data, mask_input_items=mask, epochs=1,
                                                     metrics=["Recall", "NDCG", "Recall+", "NDCG+"],
                                                     checkpoint_dir=f"saved-{mask}"))


def test_masked_evaluation_ranks_targets_higher_and_metrics_follow_the_ranks(tiny_data):
    plain, masked = _run(tiny_data, False), _run(tiny_data, True)
    # one epoch, same seed: the same weights, only the evaluation differs
    ranks_plain, ranks_masked = plain["per_user"]["rank"].to_numpy(), masked["per_user"]["rank"].to_numpy()
    assert len(ranks_plain) == len(ranks_masked) > 0
    assert (ranks_masked <= ranks_plain).all() and (ranks_masked < ranks_plain).any()
    for result, ranks in ((plain, ranks_plain), (masked, ranks_masked)):
        assert result["test_result"]["recall@10"] == pytest.approx(np.mean(ranks <= 10), abs=1e-4)
        # Recall+/NDCG+ read the same (masked) scores: rows whose target is rated >= 4
        rated = result["per_user"]["rating"].to_numpy() >= 4
        kept = result["per_user"]["rank"].to_numpy()[rated]
        assert 0 < rated.sum() < len(rated)
        assert result["test_result"]["recall+@10"] == pytest.approx(np.mean(kept <= 10), abs=1e-4)
        ndcg = np.where(kept <= 10, 1 / np.log2(kept + 1), 0.0)
        assert result["test_result"]["ndcg+@10"] == pytest.approx(ndcg.mean(), abs=1e-4)
    assert masked["test_result"]["recall@10"] >= plain["test_result"]["recall@10"]


def test_mask_input_items_must_be_a_bool(tiny_data):
    from recbole_csrec import CSRecError

    with pytest.raises(CSRecError, match="mask_input_items"):
        _run(tiny_data, "yes")


def test_diagnostics_rank_teachers_as_the_masked_evaluator_does(tiny_data):
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data, epochs=2, mask_input_items=True))
    for phase in ("teacher-1", "teacher-2"):
        for metric in ("recall@10", "ndcg@10"):
            assert result["diagnostics"][f"{phase}_{metric}"] == pytest.approx(
                result["phases"][phase]["best_valid_result"][metric], abs=5.1e-5)
