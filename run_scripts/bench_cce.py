"""Apple's Cut Cross-Entropy (`cut-cross-entropy` 25.1.1) at our output-layer shapes, beside
RecBole's path and our fused layer, where it runs. Its package imports Triton at import time and
its kernels are GPU kernels; its `torch_compile` implementation may run on a CPU. Not a
dependency of this package: run it in a scratch environment that has it,
`pip install cut-cross-entropy==25.1.1 triton`, with this checkout on PYTHONPATH.

    python run_scripts/bench_cce.py [--rows 256] [--items 20034] [--dim 64] [--repeats 10]

It supports hard targets only (no soft labels), so it could replace the Base CE at most.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def _median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench_cce.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--items", type=int, default=20034)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    try:
        from cut_cross_entropy import linear_cross_entropy
    except ImportError as error:
        print(f"bench_cce.py: error: cut-cross-entropy does not import here ({error}); "
              "pip install cut-cross-entropy==25.1.1 triton", file=sys.stderr)
        return 2
    from recbole_csrec.model.output_layer import ItemScores, fused_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(args.rows, args.dim, requires_grad=True)
    weight = (0.1 * torch.randn(args.items, args.dim)).requires_grad_()
    target = torch.randint(1, args.items, (args.rows,))
    variants = {
        "unfused (RecBole)": lambda: torch.nn.functional.cross_entropy(hidden @ weight.t(), target),
        "fused (ours)": lambda: fused_cross_entropy(ItemScores(hidden, weight), target),
        "cce torch_compile": lambda: linear_cross_entropy(hidden, weight, target, impl="torch_compile"),
    }
    print(f"{args.rows} rows x {args.items} items x dim {args.dim}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    for name, loss_fn in variants.items():
        def step():
            hidden.grad = weight.grad = None
            loss_fn().backward()
        try:
            print(f"{name}: {_median_ms(step, args.repeats):.1f} ms forward + backward")
        except Exception as error:  # a backend that cannot run here: say so, go on
            print(f"{name}: does not run here: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
