"""Catalogue-scale costs on a prepared dataset (`run_scripts/bench_scale.py --dataset yelp`): the
student trained on the disk-backed exact soft-label cache (soft_labels/disk_cache.py) against
Base, epochs alternated in one process, with the process's peak RSS during the student's epochs.

Teachers are randomly initialised: a step's cost does not depend on what the teachers learned.
The cache goes to a temporary teacher store (removed afterwards unless --keep_store).
Not built yet (issue 29): the synthetic cost curve (`--synthetic`) and the CSRec-T lines.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.anomaly import import_recbole_sequential_models
from recbole_csrec.benchmark.memory import PeakMemory
from recbole_csrec.benchmark.speed import Phase
from recbole_csrec.data import ensure_dataset_files, reseed_loader, subsample_sequences
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.model import CSRecStudent
from recbole_csrec.overrides import OneLineParser, check_command_line, recbole_argv
from recbole_csrec.quick_start import build_configs
from recbole_csrec.soft_labels import DiskSoftLabels, TeacherEnsemble, cache_soft_labels
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.utils import get_model

MB = 2 ** 20


def run(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    import_recbole_sequential_models()
    store = tempfile.mkdtemp(prefix="bench-scale-store-", dir=args.store_parent)
    files = args.config_files.split() if args.config_files else None
    try:
        with recbole_argv(overrides):
            config, _ = build_configs(args.model, args.dataset, "model", files,
                                      {"show_progress": False, "reuse_teachers": True, "teacher_store": store,
                                       "state": "WARNING"})
        ensure_dataset_files(config)
        init_seed(config["seed"], config["reproducibility"])
        train_data = data_preparation(config, create_dataset(config))[0]
        if args.train_fraction < 1.0:
            train_data = subsample_sequences(train_data, args.train_fraction, int(config["seed"]))
        dataset = train_data._dataset

        def model(seed: int):
            init_seed(seed, True)
            return get_model(args.model)(config, dataset)

        ensemble = TeacherEnsemble([model(1), model(2)], config["ensemble"])
        start = time.perf_counter()
        cache = cache_soft_labels(ensemble, config, train_data, os.path.join(store, "soft_labels", "bench.pt"))
        build = time.perf_counter() - start
        if not isinstance(cache, DiskSoftLabels):
            raise CSRecError(f"the soft labels went to '{getattr(cache, 'path', 'on-the-fly')}', not to disk: "
                             "lower soft_label_cache_mb below the table's size to measure the disk cache")
        start = time.perf_counter()
        cache._tempered_table(float(config["temperature"]))
        temper = time.perf_counter() - start
        print(f"[scale] {args.model} on {args.dataset}: {len(dataset)} training rows x {dataset.item_num} items; "
              f"disk cache {cache.nbytes / MB:.0f} MB built in {build:.1f}s, tempered (T={config['temperature']}) "
              f"in {temper:.1f}s; torch threads {torch.get_num_threads()}", flush=True)

        def phase(name: str, soft_labels) -> Phase:
            student = CSRecStudent(config, dataset, model(int(config["seed"])), soft_labels)
            trainer = CSRecTrainer(config, student, phase="bench", weights_file="", write_files=False)
            return Phase(name, trainer, train_data, False)

        base, student = phase("Base", None), phase("CSRec student, disk cache", cache)
        reseed_loader(train_data, int(config["seed"]))
        peak_rss = 0
        for epoch in range(args.epochs):
            base.epoch()
            with PeakMemory(torch.device("cpu")) as memory:
                student.epoch()
            peak_rss = max(peak_rss, memory.start + memory.peak)
            print(f"[scale] epoch {epoch + 1}/{args.epochs}: Base {base.seconds[-1]:.2f}s, "
                  f"student (disk cache) {student.seconds[-1]:.2f}s", flush=True)
        ratio = student.per_epoch / base.per_epoch
        print(f"disk_cache_student/base epoch ratio: {ratio:.2f}")
        print(f"peak rss mb: {peak_rss / MB:.0f} (soft_label_cache_mb {config['soft_label_cache_mb']})")
        return {"ratio": ratio, "peak_rss_mb": peak_rss / MB, "build_seconds": build, "temper_seconds": temper}
    finally:
        if not args.keep_store:
            shutil.rmtree(store, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="bench_scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="GRU4Rec")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train_fraction", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--store_parent", default=None, help="where the temporary teacher store goes")
    parser.add_argument("--keep_store", action="store_true")
    argv = sys.argv[1:] if argv is None else argv

    def measure() -> None:
        args, overrides = parser.parse_known_args(argv)
        check_command_line(args.model, args.dataset, args.config_files.split() if args.config_files else None,
                           overrides)
        if not 0.0 < args.train_fraction <= 1.0 or args.epochs < 1:
            raise CSRecError("--train_fraction must be in (0, 1] and --epochs >= 1")
        run(args, overrides)

    return exit_code("bench_scale.py", measure)
