"""The matmul floor of a CSRec-T main-teacher step against a Base step, at a catalogue's shapes:

    python run_scripts/csrec_t_floor.py [--items 20034] [--batch 256] [--dim 64] [--rank 64] [--samples 256]

Times (one thread unless OMP_NUM_THREADS says otherwise, median of --repeats) each matrix product a
step cannot avoid, with the shapes of GRU4Rec on the paper's Yelp:

- Base: the output layer's three products (logits, and the gradients of hidden and W);
- CSRec-T main teacher: g1's three, g2's logits (frozen), the expectation term's three
  (P_g1 N^T and its two gradients) and the importance normaliser's four (K control rows, K
  columns and their two gradients).

Everything else a step does (the sequence model, softmaxes, the KLs, Adam) comes on top of
these, so `csrec_t/base matmul floor` bounds from below what any fusion of the elementwise work can
reach: Base pays its own elementwise work on top too, so the real ratio is above this floor
whenever the CSRec-T elementwise work is larger than Base's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="csrec_t_floor.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20034)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--samples", type=int, default=256, help="noise_sample_size K")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    B, n, d, r, K = args.batch, args.items, args.dim, args.rank, args.samples
    h, W, dz = torch.randn(B, d), torch.randn(n, d), torch.randn(B, n)
    M, N, p = torch.randn(n, r), torch.randn(r, n), torch.randn(B, n)
    Mt, cols = torch.randn(B, r), torch.randn(n, K)
    output_layer = {
        "logits h W^T": lambda: h @ W.t(),
        "grad hidden dz W": lambda: dz @ W,
        "grad W dz^T h": lambda: dz.t() @ h,
    }
    products = {f"g1 {k}": v for k, v in output_layer.items()}
    products.update({
        "g2 logits (frozen)": lambda: h @ W.t(),
        "expectation P N^T": lambda: p @ N.t(),
        "expectation grad P (g M[t]) N": lambda: Mt @ N,
        "expectation grad N M[t]^T P": lambda: Mt.t() @ p,
        "normaliser control rows M[K] N": lambda: M[:K] @ N,
        "normaliser columns M N[:, K]": lambda: M @ N[:, :K],
        "normaliser grad M (w) N[:, K]^T": lambda: cols @ N[:, :K].t(),
        "normaliser grad N M^T (w)": lambda: M.t() @ cols,
    })
    base = {k: _median_ms(v, args.repeats) for k, v in output_layer.items()}
    csrec_t = {k: _median_ms(v, args.repeats) for k, v in products.items()}
    print(f"{n} items, batch {B}, dim {d}, rank {r}, K {K}, {torch.get_num_threads()} thread(s)")
    for name, ms in csrec_t.items():
        print(f"  {name:34s} {ms:7.2f} ms")
    print(f"base matmul floor ms: {sum(base.values()):.2f}")
    print(f"csrec_t matmul floor ms: {sum(csrec_t.values()):.2f}")
    print(f"csrec_t/base matmul floor: {sum(csrec_t.values()) / sum(base.values()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
