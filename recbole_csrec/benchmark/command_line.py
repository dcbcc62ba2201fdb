"""The shared start of the measurement scripts: `--model`, `--dataset`, `--config_files`,
`--threads` and any `--key=value`, checked as the runner checks them, then the data split."""
from __future__ import annotations

import argparse

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.config import CSRecConfig
from recbole_csrec.data import ensure_dataset_files
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import check_command_line


def measurement_parser(prog: str, model: str = "GRU4Rec", dataset: str = "lastfm", threads: int = 1) -> OneLineParser:
    parser = OneLineParser(prog=prog)
    parser.add_argument("--model", default=model)
    parser.add_argument("--dataset", default=dataset)
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--threads", type=int, default=threads, help="torch threads (0: torch's default)")
    return parser


def config_and_data(args: argparse.Namespace, overrides: list[str]) -> tuple[CSRecConfig, tuple]:
    """The config the command line describes (quiet, no progress bars) and its (train, valid,
    test) loaders; sets the torch threads first."""
    if args.threads:
        torch.set_num_threads(args.threads)
    files = args.config_files.split() if args.config_files else None
    check_command_line(args.model, args.dataset, files, overrides)
    with recbole_argv(overrides):
        config = CSRecConfig(model=args.model, dataset=args.dataset, config_file_list=files,
                             config_dict={"show_progress": False, "state": "WARNING"})
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    return config, data_preparation(config, create_dataset(config))
