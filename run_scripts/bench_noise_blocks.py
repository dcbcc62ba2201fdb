"""The noise normaliser of CSRec-T in cache-sized blocks against whole column chunks, side by side:

    python run_scripts/bench_noise_blocks.py [--items 20033] [--rank 64] [--samples 256] [--repeats 15]

Times (one thread unless OMP_NUM_THREADS says otherwise; the two layouts alternate repeat by
repeat, median ms) what the normaliser computes each main-teacher step:

- importance, control rows: log Z over K uniformly drawn rows for every column (no gradient);
- importance, exact columns: log Z over all rows for K columns, forward and backward;
- exact (all |I| x |I|), forward and backward, at --exact_items (Last.FM's size by default).

"whole chunks" is the layout before 2026-12-08 (columns in chunks of 4M / rows entries, all rows
at once: blocks of 16 MiB); "blocks" is model/noise.py's default (COLUMN_CHUNK columns x
BLOCK_ELEMENTS / COLUMN_CHUNK rows, 1 MiB, merged with an online logsumexp). Prints each median,
the ratio whole/blocks, and the largest difference between the two layouts' log Z.
"""
from __future__ import annotations

import statistics
import sys
import time
from typing import Callable

import torch

from recbole_csrec.errors import exit_code
from recbole_csrec.model.noise import column_log_normalizer
from recbole_csrec.overrides import OneLineParser

WHOLE_CHUNK_ELEMENTS = 1 << 22  # the former layout's block: 4M entries, 16 MiB in float32


def whole_chunk_layout(rows: int) -> dict:
    """Arguments of column_log_normalizer that reproduce the former layout for `rows` rows."""
    return {"chunk_size": max(1, WHOLE_CHUNK_ELEMENTS // rows), "block_elements": WHOLE_CHUNK_ELEMENTS}


def _factors(items: int, rank: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    std = 1.0 / rank ** 0.25  # scores S = M N with standard deviation ~1
    M = (torch.randn(items, rank, generator=generator) * std).requires_grad_()
    N = (torch.randn(rank, items, generator=generator) * std).requires_grad_()
    return M, N


def _forward_backward(M: torch.Tensor, N: torch.Tensor, weights: torch.Tensor, layout: dict) -> torch.Tensor:
    M.grad = N.grad = None
    log_z = column_log_normalizer(M, N, **layout)
    (log_z * weights).sum().backward()
    return log_z.detach()


def _no_grad(M: torch.Tensor, N: torch.Tensor, layout: dict) -> torch.Tensor:
    with torch.no_grad():
        return column_log_normalizer(M, N, **layout)


def compare(name: str, run: Callable[[dict], torch.Tensor], rows: int, repeats: int) -> None:
    layouts = {"whole chunks": whole_chunk_layout(rows), "blocks": {}}
    results = {label: run(layout) for label, layout in layouts.items()}  # warm-up, and the values
    times: dict[str, list[float]] = {label: [] for label in layouts}
    for _ in range(repeats):
        for label, layout in layouts.items():
            start = time.perf_counter()
            run(layout)
            times[label].append((time.perf_counter() - start) * 1000)
    whole, blocks = (statistics.median(times[label]) for label in layouts)
    diff = (results["whole chunks"] - results["blocks"]).abs().max().item()
    print(f"| {name} | {whole:.1f} | {blocks:.1f} | {whole / blocks:.2f} | {diff:.1e} |")


def run() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20033)
    parser.add_argument("--exact_items", type=int, default=3646)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("items", "exact_items", "rank", "samples", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)} must be a positive integer")
    generator = torch.Generator().manual_seed(args.seed)
    M, N = _factors(args.items, args.rank, generator)
    control_rows = M.detach()[torch.randperm(args.items, generator=generator)[:args.samples]]
    columns = N.detach()[:, torch.randint(0, args.items, (args.samples,), generator=generator)].requires_grad_()
    column_weights = torch.rand(args.samples, generator=generator)
    exact_M, exact_N = _factors(args.exact_items, args.rank, generator)
    exact_weights = torch.softmax(torch.randn(args.exact_items, generator=generator), dim=0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; rank {args.rank}, "
          f"K = {args.samples}; median of {args.repeats} alternating repeats")
    print("| normaliser part | whole chunks ms | blocks ms | whole/blocks | max abs. log Z difference |")
    print("|---|---|---|---|---|")
    compare(f"importance, control rows [{args.samples} x {args.items}]",
            lambda layout: _no_grad(control_rows, N.detach(), layout), args.samples, args.repeats)
    compare(f"importance, exact columns [{args.items} x {args.samples}], fwd+bwd",
            lambda layout: _forward_backward(M, columns, column_weights, layout), args.items, args.repeats)
    compare(f"exact [{args.exact_items} x {args.exact_items}], fwd+bwd",
            lambda layout: _forward_backward(exact_M, exact_N, exact_weights, layout), args.exact_items,
            args.repeats)


if __name__ == "__main__":
    sys.exit(exit_code("bench_noise_blocks.py", run))
