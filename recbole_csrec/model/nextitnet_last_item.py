"""NextItNet read at each sequence's last item, instead of at the last column.

RecBole 1.2.1's `NextItNet.forward` returns the output of the last column of the padded input
(`dilate_outputs[:, -1, :]`). RecBole pads sequences on the right, so for every sequence shorter
than MAX_ITEM_LIST_LENGTH that column is padding: on Last.FM (inputs of up to 19 items, training
prefixes of 1-17) the model is trained almost only on padding positions and tested on full ones.
This subclass reads the causal convolution's output at the last real item, as GRU4Rec, NARM and
SASRec do with `gather_indexes`; everything else (blocks, loss, regulariser, prediction) is
RecBole's NextItNet. `--model=NextItNet` stays RecBole's own model.
"""
from __future__ import annotations

import torch
from recbole.model.sequential_recommender.nextitnet import NextItNet


class NextItNetLastItem(NextItNet):
    """RecBole's NextItNet whose sequence representation is the output at the last item."""

    def forward(self, item_seq: torch.Tensor) -> torch.Tensor:
        outputs = self.residual_blocks(self.item_embedding(item_seq))  # [B, L, d], causal
        # RecBole's callers pass only item_seq; its padding id is 0 and sits on the right.
        last = (item_seq != 0).sum(dim=1).clamp(min=1) - 1
        return self.final_layer(self.gather_indexes(outputs, last))
