"""How often each item occurs in the training data (SoftRec's teacher, popular-item analyses)."""
from __future__ import annotations

import torch
from recbole.data.dataloader import TrainDataLoader


def training_item_counts(train_data: TrainDataLoader) -> torch.Tensor:
    """How often each item occurs in the training sequences; validation/test targets never count.

    Every training interaction is the target of one training row, except the first item of
    each sequence, which is the history of the row with item_length == 1.
    """
    dataset = train_data._dataset
    feat = dataset.inter_feat
    seq_field = dataset.iid_field + train_data.config["LIST_SUFFIX"]
    first_items = feat[seq_field][feat[train_data.config["ITEM_LIST_LENGTH_FIELD"]] == 1, 0]
    items = torch.cat([feat[dataset.iid_field], first_items])
    return torch.bincount(items, minlength=dataset.item_num).float()
