"""`python run_hyper_csrec.py --model=NARM --teacher=model --dataset=lastfm
--params_file=properties/hyper/paper_grid.yaml [--num_samples N] [--scheduler asha]
[--address auto|ray://host:port] [--cpus_per_trial C --gpus_per_trial G] [--num_cpus N]
[--max_concurrent_trials N] [--output DIR] [--resume] [--trials_from DIR]`;
any other --key=value is fixed for every trial (e.g. --epochs=5)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from recbole_csrec.errors import exit_code
from recbole_csrec.overrides import GivenOnce, OneLineParser, parse_flag, parse_overrides

PROG = "run_hyper_csrec"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG, allow_abbrev=False,
        description="Ray Tune search over CSRec/RecBole keys; other --key=value are fixed for all trials.")
    parser.add_argument("--model", "-m", default="GRU4Rec", action=GivenOnce)
    parser.add_argument("--dataset", "-d", default="ml", action=GivenOnce)
    parser.add_argument("--teacher", "-t", default=None, action=GivenOnce)
    parser.add_argument("--config_files", action=GivenOnce, type=str, default=None, help="space-separated yaml files")
    parser.add_argument("--params_file", action=GivenOnce, required=True, help="search space yaml")
    parser.add_argument("--num_samples", action=GivenOnce, type=int, default=1, help="repeats of the grid / samples")
    parser.add_argument("--scheduler", action=GivenOnce, default="fifo", help="fifo | asha")
    parser.add_argument("--address", action=GivenOnce, default=None, help="existing Ray cluster: auto | ray://host:port")
    parser.add_argument("--cpus_per_trial", action=GivenOnce, type=float, default=1)
    parser.add_argument("--gpus_per_trial", action=GivenOnce, type=float, default=0)
    parser.add_argument("--num_cpus", action=GivenOnce, type=int, default=None,
                        help="CPUs the local Ray may use (default: all); e.g. 1 leaves a core free")
    parser.add_argument("--max_concurrent_trials", action=GivenOnce, type=int, default=None,
                        help="trials running at once (default: as many as the CPUs allow)")
    parser.add_argument("--output", action=GivenOnce, default=None, help="default results/hyper/<model>-<dataset>-<teacher>")
    parser.add_argument("--resume", nargs="?", const=True, default=False, type=parse_flag,
                        action=GivenOnce, help="continue the interrupted search in --output "
                        "(finished trials kept); starts one if there is none")
    parser.add_argument("--trials_from", action=GivenOnce, default=None,
                        help="folder of an earlier run of this grid search (its trials.csv and "
                        "search.json, e.g. a committed copy): its finished points are not run again")
    parser.add_argument("--dry_run", nargs="?", const=True, default=False, type=parse_flag,
                        action=GivenOnce, help="check everything, print the configuration, the trials "
                        "and the teachers they share; write nothing")
    return parser


def parse_fixed(extra: list[str]) -> dict[str, Any]:
    """`--key=value` pairs, values converted exactly as RecBole's Config converts them
    (1e-3 -> float, [a,b] -> list); bare words and repeated keys are errors."""
    return parse_overrides(extra)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)

    def run() -> None:
        from recbole_csrec.tune.runner import run_hyper_csrec

        args, extra = build_parser().parse_known_args(argv)
        result = run_hyper_csrec(
            model=args.model, dataset=args.dataset, teacher=args.teacher,
            config_file_list=args.config_files.split() if args.config_files else None,
            params_file=args.params_file, fixed=parse_fixed(extra), num_samples=args.num_samples,
            scheduler=args.scheduler, address=args.address, cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial, num_cpus=args.num_cpus,
            max_concurrent_trials=args.max_concurrent_trials, output=args.output, dry_run=args.dry_run,
            check_keys=True, resume=args.resume, trials_from=args.trials_from)
        if args.dry_run:
            print(result["plan"])

    return exit_code(PROG, run)


if __name__ == "__main__":
    sys.exit(main())
