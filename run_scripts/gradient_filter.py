"""Would Cut Cross-Entropy's gradient filter pay here? On a trained model's training batches, the
share of the output layer's gradient tiles (row block x item block, items sorted by training
frequency as CCE sorts its vocabulary) whose softmax entries are all below eps, i.e. tiles whose
two gradient matmuls could be skipped without changing the fp32 (eps = 2^-24) or bf16 (2^-12)
accumulation:

    python run_scripts/gradient_filter.py --weights <store>/<key>/weights.pth [--batches 20]
        [--row_block 256] [--item_blocks 256 1024 4096]

The weights are a trained phase (a teacher store entry or a run's weight file); its data is
rebuilt from the settings saved in the file (recbole_csrec.quick_start.load_data_and_model).
"""
from __future__ import annotations

import argparse
import sys

import torch

EPSILONS = {"fp32 (2^-24)": 2.0 ** -24, "2^-16": 2.0 ** -16, "bf16 (2^-12)": 2.0 ** -12}


def skippable_shares(probs: torch.Tensor, row_block: int, item_block: int) -> dict[str, float]:
    """Share of [row_block x item_block] tiles of `probs` [rows x items] whose largest entry is
    below each eps (the last tile of each axis may be smaller)."""
    shares = {}
    for name, eps in EPSILONS.items():
        skip = total = 0
        for r in range(0, probs.size(0), row_block):
            tile_max = torch.stack([probs[r:r + row_block, c:c + item_block].amax()
                                    for c in range(0, probs.size(1), item_block)])
            skip += int((tile_max < eps).sum())
            total += tile_max.numel()
        shares[name] = skip / total
    return shares


def main(argv: list[str] | None = None) -> int:
    from recbole_csrec.data.item_counts import training_item_counts
    from recbole_csrec.quick_start import load_data_and_model

    parser = argparse.ArgumentParser(prog="gradient_filter.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--row_block", type=int, default=256)
    parser.add_argument("--item_blocks", type=int, nargs="+", default=[256, 1024, 4096])
    args = parser.parse_args(argv)
    config, model, _, train_data, _, _ = load_data_and_model(args.weights, {"use_gpu": False})
    order = training_item_counts(train_data).argsort(descending=True)  # most frequent items first
    sums = {(b, name): 0.0 for b in args.item_blocks for name in EPSILONS}
    below = dict.fromkeys(EPSILONS, 0.0)
    with torch.no_grad():
        for number, batch in zip(range(args.batches), train_data):
            probs = model.full_sort_predict(batch).softmax(dim=-1)[:, order]
            for name, eps in EPSILONS.items():
                below[name] += float((probs < eps).float().mean())
            for block in args.item_blocks:
                for name, share in skippable_shares(probs, args.row_block, block).items():
                    sums[(block, name)] += share
    n = min(args.batches, len(train_data))
    print(f"{config['model']} on {config['dataset']}: {model.n_items} item ids, {n} training batches of "
          f"{config['train_batch_size']}, row blocks of {args.row_block}")
    print("| eps | entries below eps | " + " | ".join(f"skippable tiles, item blocks of {b}" for b in args.item_blocks) + " |")
    print("|---|---|" + "---|" * len(args.item_blocks))
    for name in EPSILONS:
        print(f"| {name} | {below[name] / n:.1%} | " + " | ".join(f"{sums[(b, name)] / n:.1%}" for b in args.item_blocks) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
