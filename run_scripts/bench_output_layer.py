"""The output layer and its CE alone (forward + backward) at a catalogue's shapes: RecBole's path
(matmul, then CE on the logits) against the fused layer at several row-block sizes, measured
interleaved in one process, with each one's peak memory.

    python run_scripts/bench_output_layer.py [--rows 256] [--items 20034] [--dim 64]
        [--block_rows 32 64 128 256] [--repeats 20] [--threads 1]

Prints ms (median) and peak MB per variant and `fused/unfused ratio: R` for each block size.
How docs/performance.md chose BLOCK_ELEMENTS (recbole_csrec/model/output_layer.py).
"""
from __future__ import annotations

import argparse
import sys

import torch

from recbole_csrec.benchmark.roofline import time_output_layer
from recbole_csrec.model import output_layer


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench_output_layer.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--items", type=int, default=20034)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--block_rows", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if min(args.rows, args.items, args.dim, args.repeats, args.threads, *args.block_rows) < 1:
        parser.error("every size must be >= 1")
    torch.set_num_threads(args.threads)
    print(f"output layer + CE, forward + backward: {args.rows} rows x {args.items} items x dim {args.dim}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats}")
    default = output_layer.BLOCK_ELEMENTS
    for rows in args.block_rows:
        output_layer.BLOCK_ELEMENTS = rows * args.items
        r = time_output_layer(args.rows, args.items, args.dim, bf16=False, repeats=args.repeats)
        print(f"block {rows:>4} rows: unfused {1e3 * r['unfused']:7.1f} ms ({r['unfused peak bytes'] / 2 ** 20:6.1f} MB), "
              f"fused {1e3 * r['fused']:7.1f} ms ({r['fused peak bytes'] / 2 ** 20:6.1f} MB); "
              f"fused/unfused ratio: {r['fused'] / r['unfused']:.2f}")
    output_layer.BLOCK_ELEMENTS = default
    print(f"shipped BLOCK_ELEMENTS = {default} ({default // args.items} rows at {args.items} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
