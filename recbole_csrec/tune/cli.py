"""`python run_hyper_csrec.py --model=NARM --teacher=model --dataset=lastfm
--params_file=properties/hyper/paper_grid.yaml [--num_samples N] [--scheduler asha]
[--address auto|ray://host:port] [--cpus_per_trial C --gpus_per_trial G] [--output DIR]`;
any other --key=value is fixed for every trial (e.g. --epochs=5)."""
from __future__ import annotations

import argparse
import sys

import yaml

from recbole_csrec.errors import CSRecError, exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_hyper_csrec", allow_abbrev=False,
        description="Ray Tune search over CSRec/RecBole keys; other --key=value are fixed for all trials.")
    parser.add_argument("--model", "-m", default="GRU4Rec")
    parser.add_argument("--dataset", "-d", default="ml")
    parser.add_argument("--teacher", "-t", default=None)
    parser.add_argument("--config_files", type=str, default=None, help="space-separated yaml files")
    parser.add_argument("--params_file", required=True, help="search space yaml")
    parser.add_argument("--num_samples", type=int, default=1, help="repeats of the grid / samples")
    parser.add_argument("--scheduler", default="fifo", help="fifo | asha")
    parser.add_argument("--address", default=None, help="existing Ray cluster: auto | ray://host:port")
    parser.add_argument("--cpus_per_trial", type=float, default=1)
    parser.add_argument("--gpus_per_trial", type=float, default=0)
    parser.add_argument("--output", default=None, help="default results/hyper/<model>-<dataset>-<teacher>")
    return parser


def parse_fixed(extra: list[str]) -> dict:
    """`--key=value` pairs, values read as yaml scalars/lists (5 -> int, [a,b] -> list)."""
    fixed = {}
    for arg in extra:
        if not arg.startswith("--") or "=" not in arg:
            raise CSRecError(f"argument '{arg}' is not accepted: use --key=value")
        key, value = arg[2:].split("=", 1)
        try:
            fixed[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            fixed[key] = value
    return fixed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, extra = build_parser().parse_known_args(argv)

    def run() -> None:
        from recbole_csrec.tune.runner import run_hyper_csrec

        run_hyper_csrec(model=args.model, dataset=args.dataset, teacher=args.teacher,
                        config_file_list=args.config_files.split() if args.config_files else None,
                        params_file=args.params_file, fixed=parse_fixed(extra),
                        num_samples=args.num_samples, scheduler=args.scheduler, address=args.address,
                        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                        output=args.output)

    return exit_code("run_hyper_csrec", run)


if __name__ == "__main__":
    sys.exit(main())
