"""Error of CSRec-T's estimated noise normalisers against the exact one, and the cost of each.

For a catalogue of |I| items, a random noise model h = M N (scores S with standard deviation
`--score_std`) and a batch of peaked g1 distributions, it prints the expectation term
-mean_b sum_j P_g1(j|s_b) log h(i_b|j) computed exactly (chunked) and with each estimated
normaliser (`--normalizers`: sampled, importance; K = `noise_sample_size` per draw, `--draws`
draws), the mean signed and mean absolute relative error over the draws, and the seconds of one
forward+backward of each (the best of 3).

    python run_scripts/noise_normalizer_error.py --items 20034 --samples 128 256 512 --draws 5
"""
from __future__ import annotations

import sys
import time

import torch

from recbole_csrec.errors import exit_code
from recbole_csrec.model.noise import NoiseModel
from recbole_csrec.overrides import OneLineParser


def random_noise_model(num_items: int, rank: int, score_std: float, normalizer: str, sample_size: int) -> NoiseModel:
    model = NoiseModel(num_items + 1, rank, normalizer, sample_size=sample_size)
    with torch.no_grad():
        std = score_std ** 0.5 / rank ** 0.25  # std of (M N)[i, j] = score_std
        model.M.normal_(0.0, std)
        model.N.normal_(0.0, std)
    return model


def step_seconds(model: NoiseModel, target: torch.Tensor, log_p: torch.Tensor, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        model.zero_grad()
        start = time.perf_counter()
        model.expectation_term(target, log_p.exp()).backward()
        best = min(best, time.perf_counter() - start)
    return best


def run() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[1682, 3646])
    parser.add_argument("--samples", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--score_std", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--normalizers", nargs="+", default=["sampled", "importance"],
                        choices=["sampled", "importance"])
    args = parser.parse_args()

    print(f"rank {args.rank}, batch {args.batch}, {args.draws} draws per row, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print("| items | S std | normaliser | K | exact | estimate mean | mean rel. error | mean abs. rel. error | "
          "max abs. rel. error | exact s/step | estimate s/step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for num_items in args.items:
        for score_std in args.score_std:
            torch.manual_seed(args.seed)
            exact = random_noise_model(num_items, args.rank, score_std, "exact", 1)
            target = torch.randint(1, num_items + 1, (args.batch,))
            log_p = torch.log_softmax(3.0 * torch.randn(args.batch, num_items), dim=-1)  # peaked, like a trained g1
            with torch.no_grad():
                exact_value = exact.expectation_term(target, log_p.exp()).item()
            exact_seconds = step_seconds(exact, target, log_p)
            for normalizer in args.normalizers:
                for k in args.samples:
                    if k >= num_items:
                        continue
                    estimate = random_noise_model(num_items, args.rank, score_std, normalizer, k)
                    estimate.load_state_dict(exact.state_dict())
                    with torch.no_grad():
                        values = torch.tensor([estimate.expectation_term(target, log_p.exp()).item()
                                               for _ in range(args.draws)])
                    rel = (values - exact_value) / abs(exact_value)
                    print(f"| {num_items} | {score_std:g} | {normalizer} | {k} | {exact_value:.4f} | "
                          f"{values.mean().item():.4f} | {rel.mean().item():+.3%} | {rel.abs().mean().item():.3%} | "
                          f"{rel.abs().max().item():.3%} | {exact_seconds:.3f} | "
                          f"{step_seconds(estimate, target, log_p):.3f} |")


def main() -> int:
    return exit_code("noise_normalizer_error.py", run)


if __name__ == "__main__":
    sys.exit(main())
