"""Seconds per training epoch and per validation pass of plain RecBole training (one teacher phase).

    python run_scripts/epoch_seconds.py --models NARM GRU4Rec --dataset ml [--threads 1] [--key=value ...]

Uses the shipped defaults (package yaml) plus any --key=value; builds built-in datasets if needed.
"""
from __future__ import annotations

import sys
from time import perf_counter

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, init_seed

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.config import CSRecConfig
from recbole_csrec.data import ensure_dataset_files
from recbole_csrec.errors import exit_code
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import check_command_line
from recbole_csrec.trainer import CSRecTrainer


def main() -> int:
    return exit_code("epoch_seconds.py", measure)


def measure() -> None:
    parser = OneLineParser()
    parser.add_argument("--models", nargs="+", default=["NARM", "GRU4Rec"])
    parser.add_argument("--dataset", default="ml")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args, rest = parser.parse_known_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    for model_name in args.models:
        check_command_line(model_name, args.dataset, None, rest)  # unknown keys refused first
        with recbole_argv(rest):  # other --key=value go to RecBole's Config
            config = CSRecConfig(model=model_name, dataset=args.dataset,
                                 config_dict={"show_progress": False, "state": "WARNING"})
        ensure_dataset_files(config)
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train, valid, _ = data_preparation(config, dataset)
        model = get_model(model_name)(config, train._dataset).to(config["device"])
        trainer = CSRecTrainer(config, model, phase="timing", weights_file="", write_files=False)
        start = perf_counter()
        with anomaly_mode(config["detect_anomaly"]):
            trainer._train_epoch(train, 0, show_progress=False)
        train_s = perf_counter() - start
        start = perf_counter()
        trainer._valid_epoch(valid, show_progress=False)
        valid_s = perf_counter() - start
        print(f"{model_name} on {args.dataset}: {len(train._dataset)} training samples, "
              f"batch {config['train_batch_size']}: train epoch {train_s:.1f} s, validation {valid_s:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
