"""All-position training (`all_positions: True`): one forward pass per sequence, the loss over
every training prefix of it.

RecBole's sequential training data holds every prefix of a sequence as its own row, and its
trainer runs the model over each row's whole prefix: a window's k training prefixes cost k
forward passes. For a causal model the output at position p of the longest row of a sequence is
the output for its prefix of p+1 items, so one pass gives all k. This loader yields batches of
those longest rows ("anchors", from soft_labels/prefix_sharing.prefix_anchors), each with
`csrec_position_rows` [B, L]: the training row whose prefix ends at each position (-1: none).
The student scores the positions that hold a row, with that row's own target and soft labels
(model/student.py), so an epoch visits exactly the (prefix, target) pairs of per-row training,
each once.

Batch size counts training pairs (rows), not sequences: anchors are packed in shuffled order
until the next one would take the batch past `train_batch_size` pairs. An epoch then has about as
many optimizer steps as per-row training, and each step averages its loss over about as many
targets, so the learning rate and epoch budgets of per-row training carry over. Rows of one
sequence share one dropout draw (per-row training draws one per row): the one difference.
"""
from __future__ import annotations

from typing import Iterator

import torch
from recbole.data.interaction import Interaction

from recbole_csrec.soft_labels.prefix_sharing import prefix_anchors

POSITION_ROWS_FIELD = "csrec_position_rows"
# Causal models whose forward picks the last position with gather_indexes (RecBole's GRU4Rec and
# SASRec, this package's NextItNetLastItem) and their subclasses; tests/test_all_positions.py
# checks each against per-row inference. NARM's attention reads the whole sequence; RecBole's
# NextItNet reads the last column.
CAUSAL_MODELS = ("GRU4Rec", "SASRec", "NextItNetLastItem")


def is_causal_model(model_class: type) -> bool:
    return any(cls.__name__ in CAUSAL_MODELS for cls in model_class.__mro__)


def anchor_table(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchors [S], position_rows [S, L]): every training row sits at the position where its
    prefix ends in exactly one anchor's row of position_rows. Rows that are no prefix of a longer
    row of their sequence, or that would share a position with another row, anchor themselves."""
    anchor, position = prefix_anchors(dataset)
    n_rows = len(anchor)
    rows = torch.arange(n_rows)
    seq_len = int(dataset.inter_feat[dataset.config["ITEM_ID_FIELD"] + dataset.config["LIST_SUFFIX"]].size(1))
    # a (anchor, position) slot taken by two rows: every row but the first anchors itself
    slot = anchor * seq_len + position
    order = torch.argsort(slot, stable=True)
    duplicate = torch.zeros(n_rows, dtype=torch.bool)
    duplicate[order[1:]] = slot[order[1:]] == slot[order[:-1]]
    anchor = torch.where(duplicate, rows, anchor)
    anchors, rank = torch.unique(anchor, return_inverse=True)
    position_rows = torch.full((len(anchors), seq_len), -1, dtype=torch.long)
    position_rows[rank, position] = rows
    return anchors, position_rows


class AllPositionLoader:
    """Wraps RecBole's training loader: same dataset, same shuffling generator (so `reseed_loader`
    and RecBole's seeding still decide the order), batches of anchors with their position rows."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self._dataset = loader._dataset
        self.anchors, self.position_rows = anchor_table(self._dataset)
        self.pairs_per_anchor = (self.position_rows >= 0).sum(dim=1)
        self.batch_pairs = int(loader.config["train_batch_size"])

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def _batches(self, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        order = (torch.randperm(len(self.anchors), generator=generator or self.loader.generator)
                 if self.loader.shuffle else torch.arange(len(self.anchors)))
        batches, start, filled = [], 0, 0
        counts = self.pairs_per_anchor[order].tolist()
        for i, count in enumerate(counts):
            if filled and filled + count > self.batch_pairs:
                batches.append(order[start:i])
                start, filled = i, 0
            filled += count
        if start < len(order):
            batches.append(order[start:])
        return batches

    def __iter__(self) -> Iterator[Interaction]:
        feat = self._dataset.inter_feat
        for ranks in self._batches():
            batch = feat[self.anchors[ranks]]
            batch.update(Interaction({POSITION_ROWS_FIELD: self.position_rows[ranks]}))
            yield batch

    def __len__(self) -> int:
        """Batches of the next epoch, drawn on a copy of the generator (its state is not consumed)."""
        copy = torch.Generator()
        copy.set_state(self.loader.generator.get_state())
        return len(self._batches(copy))
