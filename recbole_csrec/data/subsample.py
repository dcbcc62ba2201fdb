"""Training-data subsets for data-level teachers, and per-phase shuffling seeds."""
from __future__ import annotations

import numpy as np
import torch
from recbole.data.dataloader import TrainDataLoader


def reseed_loader(loader: TrainDataLoader, seed: int) -> None:
    """Give a phase its own shuffling order, independent of which phase ran before."""
    loader.generator.manual_seed(int(seed))


def subsample_sequences(loader: TrainDataLoader, ratio: float, seed: int) -> TrainDataLoader:
    """A loader over a random `ratio` of the training sequences, sampled without replacement.

    A sequence is a user (RecBole's protocol) or a window (the paper's protocol, where each
    window has its own user id); it is kept or dropped whole, with all its training samples.
    Validation and test data are not touched.
    """
    dataset = loader._dataset
    user_ids = dataset.inter_feat[dataset.uid_field].numpy()
    users = np.unique(user_ids)
    keep = max(1, int(round(ratio * len(users))))
    chosen = np.random.default_rng(int(seed)).choice(users, size=keep, replace=False)
    mask = torch.from_numpy(np.isin(user_ids, chosen))
    subset = dataset.copy(dataset.inter_feat[mask])
    sub_loader = type(loader)(loader.config, subset, loader._sampler, shuffle=loader.shuffle)
    reseed_loader(sub_loader, seed)
    return sub_loader
