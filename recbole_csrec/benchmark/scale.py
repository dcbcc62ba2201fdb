"""Catalogue-scale costs.

On a prepared dataset (`run_scripts/bench_scale.py --dataset yelp --config_files=...`): Base, the
CSRec-T main teacher (g1 + h beside a frozen g2) and the student trained on the disk-backed exact
soft-label cache (soft_labels/disk_cache.py), epochs alternated in one process; the peak RSS
during the student's epochs; and the relative error of the main teacher's normaliser (as
configured) against the exact one, on the dataset's own batches after those epochs.

`--synthetic`: the cost curve against catalogue size and interactions (benchmark/scale_curve.py).

Teachers are randomly initialised: a step's cost does not depend on what the teachers learned.
The cache goes to a temporary teacher store (removed afterwards unless --keep_store).
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
from recbole_csrec.benchmark.scale_curve import INTERACTION_SIZES, ITEM_SIZES, curve
from recbole_csrec.benchmark.speed import Phase
from recbole_csrec.data import ensure_dataset_files, reseed_loader, subsample_sequences
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.model import CSRecStudent
from recbole_csrec.model.main_teacher import MainTeacher
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import build_configs, check_command_line
from recbole_csrec.soft_labels import DiskSoftLabels, TeacherEnsemble, cache_soft_labels
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.lookups import get_model

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

        cache, build, temper = _disk_cache(TeacherEnsemble([model(1), model(2)], config["ensemble"]),
                                           config, train_data, store)
        print(f"[scale] {args.model} on {args.dataset}: {len(dataset)} training rows x {dataset.item_num} items; "
              f"disk cache {cache.nbytes / MB:.0f} MB built in {build:.1f}s, tempered (T={config['temperature']}) "
              f"in {temper:.1f}s; torch threads {torch.get_num_threads()}", flush=True)

        def phase(name: str, soft_labels) -> Phase:
            student = CSRecStudent(config, dataset, model(int(config["seed"])), soft_labels)
            trainer = CSRecTrainer(config, student, phase="bench", weights_file="", write_files=False)
            return Phase(name, trainer, train_data, False)

        main_teacher = MainTeacher(config, dataset, model(3), model(4), alpha=float(config["alpha"]))
        base, student = phase("Base", None), phase("CSRec student, disk cache", cache)
        csrec_t = Phase("CSRec-T main teacher", CSRecTrainer(config, main_teacher, phase="bench", weights_file="",
                                                             write_files=False), train_data, False)
        reseed_loader(train_data, int(config["seed"]))
        peak_rss = _alternate(base, csrec_t, student, args.epochs, main_teacher.noise.normalizer)
        result = {"csrec_t_ratio": csrec_t.per_epoch / base.per_epoch, "ratio": student.per_epoch / base.per_epoch,
                  "peak_rss_mb": peak_rss / MB, "build_seconds": build, "temper_seconds": temper,
                  "normalizer_error": normalizer_error(main_teacher, train_data, args.error_batches)}
        print(f"csrec_t/base epoch ratio: {result['csrec_t_ratio']:.2f}")
        print(f"disk_cache_student/base epoch ratio: {result['ratio']:.2f}")
        print(f"normalizer relative error: {result['normalizer_error']:.5f} ({main_teacher.noise.normalizer}, "
              f"mean |estimate - exact| / exact over {args.error_batches} batches x 5 draws)")
        print(f"peak rss mb: {peak_rss / MB:.0f} (soft_label_cache_mb {config['soft_label_cache_mb']})")
        return result
    finally:
        if not args.keep_store:
            shutil.rmtree(store, ignore_errors=True)


def _disk_cache(ensemble: TeacherEnsemble, config, train_data, store: str) -> tuple[DiskSoftLabels, float, float]:
    """The exact table on disk under the temporary store, and the seconds to build and temper it."""
    start = time.perf_counter()
    cache = cache_soft_labels(ensemble, config, train_data, os.path.join(store, "soft_labels", "bench.pt"))
    build = time.perf_counter() - start
    if not isinstance(cache, DiskSoftLabels):
        raise CSRecError(f"the soft labels went to '{getattr(cache, 'path', 'on-the-fly')}', not to disk: "
                         "lower soft_label_cache_mb below the table's size to measure the disk cache")
    start = time.perf_counter()
    cache._tempered_table(float(config["temperature"]))
    return cache, build, time.perf_counter() - start


def _alternate(base: Phase, csrec_t: Phase, student: Phase, epochs: int, normalizer: str) -> int:
    """Epochs alternated phase by phase; returns the peak RSS (bytes) of the student's epochs."""
    peak_rss = 0
    for epoch in range(epochs):
        base.epoch()
        csrec_t.epoch()
        with PeakMemory(torch.device("cpu")) as memory:
            student.epoch()
        peak_rss = max(peak_rss, memory.start + memory.peak)
        print(f"[scale] epoch {epoch + 1}/{epochs}: Base {base.seconds[-1]:.2f}s, CSRec-T main teacher "
              f"{csrec_t.seconds[-1]:.2f}s ({normalizer} normaliser), "
              f"student (disk cache) {student.seconds[-1]:.2f}s", flush=True)
    return peak_rss


@torch.no_grad()
def normalizer_error(main_teacher: MainTeacher, train_data, batches: int, draws: int = 5) -> float:
    """Mean relative error of the expectation term with the configured normaliser against the
    exact one (computed here once per batch, whatever its cost), on the first training batches."""
    noise, g1 = main_teacher.noise, main_teacher.g1
    configured = noise.normalizer
    errors = []
    main_teacher.eval()
    for _, batch in zip(range(batches), train_data):
        p1 = torch.softmax(g1.full_sort_predict(batch)[:, 1:].float(), dim=-1)
        target = batch[main_teacher.POS_ITEM_ID]
        try:
            noise.normalizer = "exact"
            exact = float(noise.expectation_term(target, p1))
        finally:
            noise.normalizer = configured
        errors += [abs(float(noise.expectation_term(target, p1)) - exact) / abs(exact) for _ in range(draws)]
    return sum(errors) / len(errors)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="bench_scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="GRU4Rec")
    parser.add_argument("--dataset", default=None, help="a prepared or built-in dataset (or --synthetic)")
    parser.add_argument("--synthetic", action="store_true", help="the cost curve on synthetic data")
    parser.add_argument("--models", nargs="+", default=["GRU4Rec", "SASRec"], help="--synthetic: models")
    parser.add_argument("--items", type=int, nargs="+", default=list(ITEM_SIZES), help="--synthetic: catalogues")
    parser.add_argument("--interactions", type=int, nargs="*", default=list(INTERACTION_SIZES),
                        help="--synthetic: interaction counts (20k items)")
    parser.add_argument("--steps", type=int, default=12, help="--synthetic: batches per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="--synthetic: timed passes per phase")
    parser.add_argument("--error_batches", type=int, default=4, help="batches for the normaliser's error")
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train_fraction", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--store_parent", default=None, help="where the temporary teacher store goes")
    parser.add_argument("--keep_store", action="store_true")
    argv = sys.argv[1:] if argv is None else argv

    def measure() -> None:
        args, overrides = parser.parse_known_args(argv)
        if args.synthetic:
            if overrides or args.dataset:
                raise CSRecError("--synthetic takes no --dataset and no --key=value settings")
            curve(args.models, args.items, args.interactions, args.steps, args.repeats, args.threads)
            return
        if not args.dataset:
            raise CSRecError("give --dataset=NAME (a prepared or built-in dataset) or --synthetic")
        check_command_line(args.model, args.dataset, args.config_files.split() if args.config_files else None,
                           overrides)
        if not 0.0 < args.train_fraction <= 1.0 or args.epochs < 1:
            raise CSRecError("--train_fraction must be in (0, 1] and --epochs >= 1")
        run(args, overrides)

    return exit_code("bench_scale.py", measure)
