"""A small synthetic RecBole atomic dataset, for tests and benchmarks that must not depend on
downloaded data: users walk a noisy item chain, so sequence models have something to learn."""
from __future__ import annotations

import os

import numpy as np


def write_chain_dataset(root: str, name: str, users: int, items: int, length: int, seed: int = 0,
                        follow: float = 0.7) -> str:
    """Write `<root>/<name>/<name>.inter` (user_id, item_id, rating 1-5, timestamp); return root.

    Each step moves to the next item of the chain with probability `follow`, else to a random item.
    """
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(1, users + 1):
        item = int(rng.integers(1, items + 1))
        for step in range(length):
            rating = int(rng.integers(1, 6))
            lines.append(f"{user}\t{item}\t{rating}\t{step + 1}")
            item = (item % items) + 1 if rng.random() < follow else int(rng.integers(1, items + 1))
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return root


def write_sequences_file(path: str, users: int, items: int, length: int, seed: int = 0) -> str:
    """Write `user item item ...` lines (prepare_cli's `sequences` format) for `users` users of
    `length` items each, over a catalogue of exactly `items` items: the first `items` slots hold
    every item once (in random order), the rest are drawn uniformly. Returns `path`."""
    slots = users * length
    if slots < items:
        raise ValueError(f"{users} users x {length} items cannot cover a catalogue of {items} items")
    rng = np.random.default_rng(seed)
    sequence = np.concatenate([rng.permutation(items) + 1, rng.integers(1, items + 1, slots - items)])
    rows = rng.permutation(sequence).reshape(users, length)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as handle:
        for user, row in enumerate(rows, start=1):
            handle.write(f"{user} " + " ".join(map(str, row)) + "\n")
    os.replace(tmp, path)
    return path
