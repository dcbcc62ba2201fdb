"""The output layer and its CE alone (forward + backward) at a catalogue's shapes: RecBole's path
(matmul, then CE on the logits) against the fused layer at several row-block sizes, measured
interleaved in one process, with each one's peak memory; with `--packages`, also the maintained
alternatives that could run on this machine, measured the same way.

    python run_scripts/bench_output_layer.py [--rows 256] [--items 20034] [--dim 64]
        [--block_rows 32 64 128 256] [--repeats 20] [--threads 1] [--packages]

Prints ms (median) and peak MB per variant and `fused/unfused ratio: R` for each block size.
How docs/performance.md chose BLOCK_ELEMENTS (recbole_csrec/model/output_layer.py) and why no
package replaced the fused layer. `--packages` measures torch.compile of RecBole's path (Inductor's
CPU code generation) and cut-cross-entropy's `impl="torch_compile"` when it is installed (it is
not a dependency: `pip install cut-cross-entropy`), and reports what liger-kernel does on CPU.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Callable

import torch

from recbole_csrec.benchmark.roofline import time_output_layer
from recbole_csrec.model import output_layer


def _optional(module: str):
    """An optional package's module, or the one-line reason it is unavailable."""
    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, or a package that fails while importing (no GPU)
        return f"not importable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def package_variants(rows: int, n_items: int, dim: int) -> tuple[dict[str, Callable[[], None]], list[str]]:
    """Forward + backward closures for the alternatives to the fused layer (all hard-target CE:
    none of them takes the student's soft targets), and a line for each that cannot run here."""
    torch.manual_seed(0)
    hidden = torch.randn(rows, dim, requires_grad=True)
    weight = (0.1 * torch.randn(n_items, dim)).requires_grad_()
    target = torch.randint(1, n_items, (rows,))

    def clear() -> None:
        hidden.grad = weight.grad = None

    def unfused_ce(h, w, t):
        return torch.nn.functional.cross_entropy(h @ w.t(), t)

    compiled = torch.compile(unfused_ce)
    variants = {
        "unfused": lambda: (clear(), unfused_ce(hidden, weight, target).backward()),
        "fused (ours)": lambda: (clear(), output_layer.fused_cross_entropy(
            output_layer.ItemScores(hidden, weight), target).backward()),
        "torch.compile(unfused)": lambda: (clear(), compiled(hidden, weight, target).backward()),
    }
    notes = []
    cce = _optional("cut_cross_entropy")
    if isinstance(cce, str):
        notes.append(f"cut-cross-entropy: {cce}")
    else:
        variants["cut-cross-entropy torch_compile"] = lambda: (clear(), cce.linear_cross_entropy(
            hidden, weight, target, impl="torch_compile").backward())
        try:
            cce.linear_cross_entropy(hidden, weight, target, impl="cce")
        except Exception as error:
            notes.append(f"cut-cross-entropy impl=cce (Triton kernels) on CPU tensors: "
                         f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
    liger = _optional("liger_kernel.ops.fused_linear_cross_entropy")
    if isinstance(liger, str):
        notes.append(f"liger-kernel: {liger}")
    else:
        try:
            liger.LigerFusedLinearCrossEntropyFunction.apply(hidden, weight, target)
            notes.append("liger-kernel: ran on CPU tensors (unexpected: measure it)")
        except Exception as error:
            notes.append(f"liger-kernel FusedLinearCrossEntropy on CPU tensors: "
                         f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
    return variants, notes


def time_interleaved(variants: dict[str, Callable[[], None]], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds of each closure, run in turn so that machine noise hits each alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in range(repeats + warmup):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            if step >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: sorted(values)[len(values) // 2] for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench_output_layer.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--items", type=int, default=20034)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--block_rows", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--packages", action="store_true",
                        help="also torch.compile, cut-cross-entropy (if installed) and liger-kernel")
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
    if args.packages:
        variants, notes = package_variants(args.rows, args.items, args.dim)
        seconds = time_interleaved(variants, args.repeats)
        for name, value in seconds.items():
            print(f"{name:>32}: {1e3 * value:7.1f} ms, / unfused {value / seconds['unfused']:.2f}")
        for note in notes:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
