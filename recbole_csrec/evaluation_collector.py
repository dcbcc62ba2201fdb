"""RecBole's full-ranking Collector without its [users x items] passes besides the scores' top-k.

For `rec.topk` (every top-k metric: Recall, NDCG, Recall+, ...) RecBole 1.2.1's Collector fills a
zero int matrix the size of the scores, sets the positives, sums it per row and gathers the
top-k columns from it: three more passes over [users x items] for an answer that needs only
[users x k]. This Collector computes the same tensor from the positives directly (a
membership test of each top-k item, and a count of each row's distinct positives) and leaves
everything else (`rec.items`, `rec.meanrank`, `rec.score`, data.label, ...) to RecBole's code.
`tests/test_evaluation_collector.py` checks that the collected tensors are identical.
"""
from __future__ import annotations

import torch
from recbole.evaluator import Collector

_DONE_HERE = ("rec.topk", "rec.items")


class _Without:
    """A view of RecBole's metric register that no longer needs some keys."""

    def __init__(self, register, keys) -> None:
        self.register, self.keys = register, keys

    def need(self, key: str) -> bool:
        return key not in self.keys and self.register.need(key)

    def __getattr__(self, name: str):
        return getattr(self.register, name)


def topk_hits(topk_idx: torch.Tensor, positive_u: torch.Tensor, positive_i: torch.Tensor,
              n_items: int) -> torch.Tensor:
    """RecBole's `rec.topk` rows: [users, k + 1] int64 (its int32 matrix's sum promotes), 1 where a top-k item is a positive of its
    row, and the row's number of distinct positives last."""
    n_rows = topk_idx.size(0)
    keys = torch.unique(positive_u.to(topk_idx.device).long() * n_items + positive_i.to(topk_idx.device).long())
    rows = torch.arange(n_rows, device=topk_idx.device).unsqueeze(1)
    hits = torch.isin(rows * n_items + topk_idx, keys).long()
    counts = torch.bincount(keys // n_items, minlength=n_rows).unsqueeze(1)
    return torch.cat((hits, counts), dim=1)


class TopkCollector(Collector):
    def eval_batch_collect(self, scores_tensor: torch.Tensor, interaction, positive_u: torch.Tensor,
                           positive_i: torch.Tensor):
        register = self.register
        done = tuple(key for key in _DONE_HERE if register.need(key))
        if done:
            _, topk_idx = torch.topk(scores_tensor, max(self.topk), dim=-1)  # once for both keys
            if "rec.items" in done:
                self.data_struct.update_tensor("rec.items", topk_idx)
            if "rec.topk" in done:
                self.data_struct.update_tensor("rec.topk", topk_hits(topk_idx, positive_u, positive_i,
                                                                     scores_tensor.size(1)))
        self.register = _Without(register, done)
        try:
            super().eval_batch_collect(scores_tensor, interaction, positive_u, positive_i)
        finally:
            self.register = register
