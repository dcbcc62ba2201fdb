"""`python -m recbole_csrec.prepare_cli`: raw interactions -> RecBole pre-split files (paper protocol).

    python -m recbole_csrec.prepare_cli --input FILE --format {atomic,csv,sequences} --name NAME --window L
        [--min-count 5] [--window-alignment disjoint|end_aligned] [--user-col user_id --item-col item_id --rating-col rating --time-col timestamp]
        [--sep SEP] [--output-dir dataset]
    python -m recbole_csrec.prepare_cli stats NAME [--output-dir dataset]

The first form writes dataset/NAME/NAME.{train,valid,test}.inter and the RecBole settings
dataset/NAME/NAME.yaml (run with --config_files=dataset/NAME/NAME.yaml) and prints the statistics;
the second prints the statistics (the paper's Table 1 columns) of a prepared or built-in dataset.

Ids may be anything (spaces, quotes, commas, non-ASCII, any length): unsafe ones are re-encoded to
tokens, and dataset/NAME/NAME.id_map.json maps tokens back (recbole_csrec.data.ids.load_id_map).
A BOM, CRLF line ends, duplicate rows and missing ratings or timestamps are accepted; what was
assumed is printed ("assumed: ...") and kept in the manifest.
"""
from __future__ import annotations

import argparse
import os
import sys

from recbole_csrec.data.readers import INPUT_FORMATS
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.overrides import OneLineParser


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m recbole_csrec.prepare_cli", allow_abbrev=False,
                           description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="raw interaction file")
    parser.add_argument("--format", required=True, choices=list(INPUT_FORMATS),
                        help="; ".join(f"{name}: {what}" for name, what in INPUT_FORMATS.items()))
    parser.add_argument("--name", required=True, help="dataset name (folder and file prefix)")
    parser.add_argument("--window", type=int, required=True, help="window length L (>= 3)")
    parser.add_argument("--min-count", type=int, default=5, help="k of the iterated k-core filter")
    parser.add_argument("--window-alignment", default="disjoint", choices=["disjoint", "end_aligned"],
                        help="disjoint (default): consecutive non-overlapping windows; end_aligned: "
                             "the authors' code (head window + windows aligned to the sequence end; "
                             "they overlap, leaking validation/test items into training)")
    parser.add_argument("--user-col", default="user_id")
    parser.add_argument("--item-col", default="item_id")
    parser.add_argument("--rating-col", default=None, help="default: 'rating' if present")
    parser.add_argument("--time-col", default=None,
                        help="default: 'timestamp' if present; without one, file order is the order")
    parser.add_argument("--sep", default=None,
                        help="field separator (default: tab for atomic, ',' for csv, whitespace for sequences)")
    parser.add_argument("--output-dir", default="dataset", help="data_path: NAME/ is written under it")
    return parser


def _stats_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m recbole_csrec.prepare_cli stats", allow_abbrev=False,
                           description="Statistics of a prepared or built-in dataset")
    parser.add_argument("name")
    parser.add_argument("--output-dir", default="dataset", help="data_path that holds NAME/")
    return parser


def stats_command(name: str, output_dir: str) -> str:
    """Table 1 of a prepared dataset (built-in ones are built first when missing or broken)."""
    from recbole_csrec.data.builtin import BUILTIN_DATASETS, build_builtin, builtin_is_current
    from recbole_csrec.data.protocol import format_stats, read_manifest

    folder = os.path.join(output_dir, name)
    if name in BUILTIN_DATASETS and not builtin_is_current(name, folder):
        build_builtin(name, folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise CSRecError(f"no complete prepared dataset '{name}' in {folder} (missing or changed "
                         "files): run python -m recbole_csrec.prepare_cli --name ... first")
    return format_stats(name, manifest["stats"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv

    def run() -> None:
        if argv and argv[0] == "stats":
            args = _stats_parser().parse_args(argv[1:])
            print(stats_command(args.name, args.output_dir))
            return
        args = _build_parser().parse_args(argv)
        from recbole_csrec.data.protocol import Columns, dataset_yaml_path, format_stats, prepare_dataset

        columns = Columns(user=args.user_col, item=args.item_col,
                          rating=args.rating_col or "rating", time=args.time_col or "timestamp")
        explicit = tuple(r for r, v in (("rating", args.rating_col), ("time", args.time_col)) if v)
        stats = prepare_dataset(args.input, args.format, args.name, args.window, args.min_count,
                                columns=columns, output_dir=args.output_dir,
                                sep=args.sep, explicit=explicit,
                                window_alignment=args.window_alignment)
        print(f"wrote {os.path.join(args.output_dir, args.name)}; run with "
              f"--config_files={dataset_yaml_path(args.output_dir, args.name)}")
        print(format_stats(args.name, stats))

    return exit_code("recbole-csrec prepare", run)


if __name__ == "__main__":
    sys.exit(main())
