"""Teacher logits for all prefixes of a sequence from one forward pass (cache build speed-up).

RecBole's sequential training data holds every prefix of a user's sequence as its own row. For a
causal model (GRU4Rec, SASRec, ...) the output at position k of the longest row is the output for
the row whose history is its first k+1 items, so one forward pass over the longest row ("anchor")
gives the logits of all its prefixes. RecBole's sequential models pick the last position with
`gather_indexes(output, item_seq_len - 1)`; shadowing that method on the instance makes
`full_sort_predict` return every position instead. Models that do not work this way (NARM's
attention reads all positions, NextItNet takes the last column) either fail the shape check or
the spot check against ordinary per-row inference, and the cache is then built row by row.
"""
from __future__ import annotations

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

SPOT_CHECK_ROWS = 32
SPOT_CHECK_TOLERANCE = 1e-4  # relative to the largest |logit|


def prefix_anchors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchor, position) per training row: row i's logits are position `position[i]` of the
    all-position output of row `anchor[i]`. A row is anchored to the longest row of its user when
    its history is a prefix of that row's history, else to itself."""
    feat = dataset.inter_feat
    users = feat[dataset.uid_field].long()
    lists = feat[dataset.config["ITEM_ID_FIELD"] + dataset.config["LIST_SUFFIX"]]
    lengths = feat[dataset.config["ITEM_LIST_LENGTH_FIELD"]].long()
    n_rows = len(lengths)
    rows = torch.arange(n_rows)
    _, group = torch.unique(users, return_inverse=True)
    # the longest row of each user (ties: the last one), via one scatter of length*n + row
    key = lengths * n_rows + rows
    best = torch.full((int(group.max()) + 1 if n_rows else 0,), -1, dtype=torch.long)
    best.scatter_reduce_(0, group, key, reduce="amax")
    candidate = best[group] % max(n_rows, 1)
    inside = torch.arange(lists.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
    is_prefix = ((lists[candidate] == lists) | ~inside).all(dim=1) & (lengths <= lengths[candidate])
    anchor = torch.where(is_prefix, candidate, rows)
    return anchor, (lengths - 1).clamp(min=0)


@torch.no_grad()
def all_position_logits(model: SequentialRecommender, interaction: Interaction) -> torch.Tensor | None:
    """[B, L, n_items] full-sort logits at every position, or None when `model` does not
    produce them through `gather_indexes` (or fails trying)."""
    model.gather_indexes = lambda output, gather_index: output  # shadows the method
    try:
        scores = model.full_sort_predict(interaction)
    except (RuntimeError, ValueError, IndexError):
        return None
    finally:
        del model.gather_indexes
    seq_len = interaction[model.ITEM_SEQ].size(1)
    if scores.dim() != 3 or scores.size(1) != seq_len:
        return None
    return scores
