"""Command line: `recbole-csrec` / `python run_recbole_csrec.py`, RecBole-style arguments.

`--model`, `--dataset`, `--teacher` and `--config_files` are read here; every other
`--key=value` flows to RecBole's Config untouched, as with RecBole's run_recbole.py.
"""
from __future__ import annotations

import argparse
import sys

from recbole_csrec.errors import exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recbole-csrec", allow_abbrev=False,
        description="Train a RecBole sequential model with CSRec soft labels. Any other "
                    "--key=value is a RecBole/CSRec config override (e.g. --epochs=5 --beta=0.25).")
    parser.add_argument("--model", "-m", default="GRU4Rec", help="student model (RecBole name)")
    parser.add_argument("--dataset", "-d", default="ml", help="dataset name (default: ml)")
    parser.add_argument("--teacher", "-t", default=None,
                        help="none | pop | model | data | training (default: the config's, else none)")
    parser.add_argument("--config_files", type=str, default=None,
                        help="space-separated yaml files, e.g. --config_files=\"a.yaml b.yaml\"")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, _ = build_parser().parse_known_args(argv)
    config_files = args.config_files.strip().split(" ") if args.config_files else None

    def run() -> None:
        from recbole_csrec.quick_start import run_recbole_csrec

        run_recbole_csrec(model=args.model, dataset=args.dataset, teacher=args.teacher,
                          config_file_list=config_files)

    return exit_code("recbole-csrec", run)


if __name__ == "__main__":
    sys.exit(main())
