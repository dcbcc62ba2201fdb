"""Teacher logits for all prefixes of a sequence from one forward pass (cache build speed-up).

RecBole's sequential training data holds every prefix of a user's sequence as its own row. For a
causal model (GRU4Rec, SASRec, ...) the output at position k of the longest row is the output for
the row whose history is its first k+1 items, so one forward pass over the longest row ("anchor")
gives the logits of all its prefixes. RecBole's sequential models pick the last position with
`gather_indexes(output, item_seq_len - 1)`; shadowing that method on the instance makes
`full_sort_predict` return every position instead. Models that do not work this way (NARM's
attention reads all positions, NextItNet takes the last column) either fail the shape check or
the spot check against ordinary per-row inference (`plan_prefix_sharing`), and the cache is then
built row by row. `soft_labels/cache.py` stores what either path yields.
"""
from __future__ import annotations

from typing import Iterator

import torch
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender

from recbole_csrec.soft_labels.ensemble import TeacherEnsemble

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


def shared_prefix_logits(source: TeacherEnsemble, dataset, anchor: torch.Tensor, position: torch.Tensor,
                         batch_size: int, device, only: torch.Tensor | None = None,
                         ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rows, [k, len(rows), n_items] logits) chunks, as the cache stores them (k = 1: the
    teachers' mean for `ensemble: logits`; k = m for `probs`), from one all-position pass per
    anchor row; `only`: a subset of the anchors (the spot check)."""
    unique = torch.unique(anchor)
    rank = torch.searchsorted(unique, anchor)                # row -> its anchor's index in `unique`
    order = torch.argsort(rank, stable=True)
    bounds = torch.searchsorted(rank[order], torch.arange(len(unique) + 1))  # rows of anchor k
    ranks = torch.arange(len(unique)) if only is None else torch.searchsorted(unique, only)
    seq_len = int(dataset.inter_feat[source.teachers[0].ITEM_SEQ].size(1))
    per_batch = max(1, batch_size // seq_len)  # an anchor costs seq_len rows of logits
    for first in range(0, len(ranks), per_batch):
        chunk = ranks[first:first + per_batch]
        counts = bounds[chunk + 1] - bounds[chunk]
        rows = torch.cat([order[bounds[k]:bounds[k + 1]] for k in chunk.tolist()])
        local = torch.repeat_interleave(torch.arange(len(chunk)), counts).to(device)
        pos = position[rows].to(device)
        batch = dataset[unique[chunk]].to(device)
        picked = []
        for teacher in source.teachers:
            scores = all_position_logits(teacher, batch)
            if scores is None:
                raise _NoSharing(f"{type(teacher).__name__} does not output every position")
            logits = scores[local, pos].float()
            if source.mode == "logits" and picked:  # only the mean is stored: sum in place
                picked[0].add_(logits)
            else:
                picked.append(logits)
        if source.mode == "logits":
            picked = [picked[0].div_(len(source.teachers))]
        for logits in picked:
            logits[:, 0] = float("-inf")  # padding item, as mask_padding does
        yield rows, torch.stack(picked) if len(picked) > 1 else picked[0].unsqueeze(0)


class _NoSharing(Exception):
    """Prefix sharing does not apply to these teachers."""


def plan_prefix_sharing(source: TeacherEnsemble, dataset, batch_size: int,
                        device) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, str]:
    """((anchor, position), reason) when the teachers' logits of all prefixes can come from one
    pass over each longest row, checked on a sample against row-by-row inference; else (None, reason)."""
    anchor, position = prefix_anchors(dataset)
    n_anchors = int(torch.unique(anchor).numel())
    if n_anchors > 0.9 * len(anchor):
        return None, f"{n_anchors} of {len(anchor)} rows would need their own pass"
    prefixes = (anchor != torch.arange(len(anchor))).nonzero().squeeze(1)[:SPOT_CHECK_ROWS]
    if prefixes.numel() == 0:
        return None, "no row is a prefix of another"
    sample = torch.unique(anchor[prefixes])
    try:
        shared = dict()
        for rows, logits in shared_prefix_logits(source, dataset, anchor, position, batch_size, device,
                                                 only=sample):
            for i, row in enumerate(rows.tolist()):
                shared[row] = logits[:, i]
    except _NoSharing as why:
        return None, str(why)
    expected = source.teacher_logits(dataset[prefixes].to(device))
    if source.mode == "logits":  # the shared pass yields the teachers' mean, as the cache stores
        expected = expected.mean(dim=0, keepdim=True)
    got = torch.stack([shared[row] for row in prefixes.tolist()], dim=1)
    real = (slice(None), slice(None), slice(1, None))
    error = (got[real] - expected[real]).abs().max().item()
    scale = expected[real].abs().max().item()
    if not error <= SPOT_CHECK_TOLERANCE * scale + 1e-6:  # same sums in another order: ~1e-6 relative
        return None, f"spot check failed (max |difference| {error:.2e} on {prefixes.numel()} prefix rows)"
    return (anchor, position), (f"one pass per longest row: {n_anchors} passes for {len(anchor)} rows "
                                f"(spot check on {prefixes.numel()} prefix rows: max |difference| {error:.1e})")
