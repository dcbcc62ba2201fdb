"""Command line: `recbole-csrec` / `python run_recbole_csrec.py`, RecBole-style arguments.

`--model`, `--dataset`, `--teacher`, `--config_files` and `--dry_run` are read here; every other
`--key=value` flows to RecBole's Config (as with RecBole's run_recbole.py), after checks: a
key no configuration layer knows, or a key given twice, is an error (exit 2).
"""
from __future__ import annotations

import argparse
import sys

from recbole_csrec.errors import exit_code
from recbole_csrec.overrides import GivenOnce, OneLineParser, parse_flag

PROG = "recbole-csrec"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG, allow_abbrev=False,
        description="Train a RecBole sequential model with CSRec soft labels. Any other "
                    "--key=value is a RecBole/CSRec config override (e.g. --epochs=5 --beta=0.25).")
    parser.add_argument("--model", "-m", default="GRU4Rec", action=GivenOnce,
                        help="student model (RecBole name)")
    parser.add_argument("--dataset", "-d", default="ml", action=GivenOnce,
                        help="dataset name (default: ml)")
    parser.add_argument("--teacher", "-t", default=None, action=GivenOnce,
                        help="none | pop | model | data | training (default: the config's, else none)")
    parser.add_argument("--config_files", type=str, default=None, action=GivenOnce,
                        help="space-separated yaml files, e.g. --config_files=\"a.yaml b.yaml\"")
    parser.add_argument("--dry_run", nargs="?", const=True, default=False, type=parse_flag,
                        action=GivenOnce,
                        help="check everything, print the resolved configuration and the plan, "
                             "write nothing")
    return parser


def split_config_files(value: str | None) -> list[str] | None:
    return value.split() if value and value.strip() else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)

    def run() -> None:
        from recbole_csrec.overrides import check_known_keys, parse_overrides, recbole_argv
        from recbole_csrec.quick_start import build_configs

        args, extra = build_parser().parse_known_args(argv)
        overrides = parse_overrides(extra)  # bare words, repeated keys, unreadable values
        config_files = split_config_files(args.config_files)
        # --teacher goes to RecBole as a command-line setting, so the dry run names its source.
        handed = extra + ([f"--teacher={args.teacher}"] if args.teacher is not None else [])
        with recbole_argv(handed):
            config, teacher_config = build_configs(args.model, args.dataset, None, config_files)
            check_known_keys(overrides, config.known_keys() | teacher_config.known_keys())
            if args.dry_run:
                from recbole_csrec.dry_run import dry_run_report

                print(dry_run_report(config, teacher_config))
                return
            from recbole_csrec.quick_start import run_recbole_csrec

            run_recbole_csrec(model=args.model, dataset=args.dataset, teacher=args.teacher,
                              config_file_list=config_files)

    return exit_code(PROG, run)


if __name__ == "__main__":
    sys.exit(main())
