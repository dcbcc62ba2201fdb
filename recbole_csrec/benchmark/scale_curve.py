"""The cost curve (`bench_scale.py --synthetic`): what one training step, evaluation and memory
cost as the catalogue grows (5k-100k items, the same training rows), and what loading, training
and evaluation hold in memory as the interactions grow (0.3M-3M, 20k items).

Each point runs in its own process (`python -m recbole_csrec.benchmark.scale_curve --point ...`),
so that its peak RSS is its own. Teachers are randomly initialised: a step's cost does not depend
on what they learned. Every phase trains the same `--steps` batches of 256 rows; a step's time is
the median of `--repeats` passes over them after one warm-up pass.
"""
from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import torch

MB = 2 ** 20
ITEM_SIZES = (5_000, 20_000, 50_000, 100_000)
INTERACTION_SIZES = (300_000, 1_000_000, 3_000_000)
CATALOGUE_USERS = 12_000      # x window 10 = 120k interactions: covers a 100k-item catalogue
INTERACTIONS_ITEMS = 20_000
WINDOW = 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def prepare_synthetic(root: str, name: str, users: int, items: int) -> str:
    """A sequences file of `users` windows over exactly `items` items, prepared with the paper's
    protocol (disjoint windows of 10, no k-core: a 100k catalogue from 120k interactions would not
    survive 5-core). Returns the prepared yaml."""
    from recbole_csrec.data.synthetic import write_sequences_file
    from recbole_csrec.prepare_cli import main as prepare

    source = write_sequences_file(os.path.join(root, f"{name}.txt"), users, items, WINDOW)
    code = prepare(["--input", source, "--format", "sequences", "--name", name, "--window", str(WINDOW),
                    "--min-count", "1", "--output-dir", root])
    if code != 0:
        raise RuntimeError(f"prepare_cli failed on {source}")
    return os.path.join(root, name, f"{name}.yaml")


def _step_seconds(trainer, batches: list, repeats: int) -> float:
    trainer.model.train()
    trainer._train_epoch(batches, 0, show_progress=False)  # warm-up: allocator, optimizer state
    seconds = []
    for repeat in range(repeats):
        start = time.perf_counter()
        trainer._train_epoch(batches, repeat + 1, show_progress=False)
        seconds.append((time.perf_counter() - start) / len(batches))
    return statistics.median(seconds)


def _setup(model_name: str, yaml_file: str, root: str, name: str, overrides: dict[str, Any]):
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recbole_csrec.anomaly import import_recbole_sequential_models
    from recbole_csrec.quick_start import build_configs

    import_recbole_sequential_models()
    torch.autograd.set_detect_anomaly(False)  # as the trainer runs by default (detect_anomaly)
    config, _ = build_configs(model_name, name, "model", [yaml_file], {
        "data_path": root, "show_progress": False, "state": "WARNING", "train_batch_size": 256,
        "eval_batch_size": 1024, "reuse_teachers": True, "teacher_store": os.path.join(root, "store"),
        "embedding_size": 64, "hidden_size": 64, **overrides})
    init_seed(config["seed"], config["reproducibility"])
    start = time.perf_counter()
    train_data, valid_data, _ = data_preparation(config, create_dataset(config))
    return config, train_data, valid_data, time.perf_counter() - start


def _with_compiled_loss(config, measure: Callable[[], float]) -> float:
    """`measure()` with `compiled_loss` on while its phase is built (the recorder reads it then)."""
    config["compiled_loss"] = True
    try:
        return measure()
    finally:
        config["compiled_loss"] = False


def catalogue_point(model_name: str, items: int, steps: int, repeats: int, root: str,
                    users: int = CATALOGUE_USERS) -> dict[str, Any]:
    """Step seconds of Base, the student (RAM and disk cache), the CSRec-T main teacher, and
    evaluation seconds per 1,000 users, on a synthetic catalogue of `items` items."""
    from recbole.utils import init_seed

    from recbole_csrec.data import subsample_sequences
    from recbole_csrec.model import CSRecStudent
    from recbole_csrec.model.main_teacher import MainTeacher
    from recbole_csrec.soft_labels import DiskSoftLabels, TeacherEnsemble, cache_soft_labels
    from recbole_csrec.trainer import CSRecTrainer
    from recbole_csrec.lookups import get_model

    name = f"synthetic_{items}"
    yaml_file = prepare_synthetic(root, name, users, items)
    config, train_data, valid_data, _ = _setup(model_name, yaml_file, root, name,
                                               {"noise_normalizer": "importance"})
    rows = steps * 256
    train_data = subsample_sequences(train_data, min(1.0, rows / len(train_data._dataset)), 0)
    dataset = train_data._dataset

    def first_batches() -> list:  # read after a cache is built: it adds the row-id field it answers by
        return [batch for _, batch in zip(range(steps), train_data)]

    def model(seed: int):
        init_seed(seed, True)
        return get_model(model_name)(config, dataset)

    def trainer(module, **kwargs) -> CSRecTrainer:
        return CSRecTrainer(config, module, phase="bench", weights_file="", write_files=False, **kwargs)

    ensemble = TeacherEnsemble([model(1), model(2)], config["ensemble"])
    costs: dict[str, Callable[[], float]] = {}
    costs["base"] = lambda: _step_seconds(trainer(CSRecStudent(config, dataset, model(0))), first_batches(), repeats)

    def student(budget_mb: float, want_disk: bool) -> float:
        config["soft_label_cache_mb"] = budget_mb
        cache = cache_soft_labels(ensemble, config, train_data,
                                  os.path.join(root, "store", "soft_labels", f"{name}-{budget_mb}.pt"))
        if cache is ensemble or isinstance(cache, DiskSoftLabels) != want_disk:
            raise RuntimeError(f"soft labels went to {type(cache).__name__} with budget {budget_mb} MB")
        return _step_seconds(trainer(CSRecStudent(config, dataset, model(0), cache)), first_batches(), repeats)

    table_mb = len(dataset) * dataset.item_num * 2 / MB
    costs["student_ram"] = lambda: student(table_mb * 2 + 64, want_disk=False)
    costs["student_disk"] = lambda: student(table_mb / 4, want_disk=True)
    costs["csrec_t"] = lambda: _step_seconds(
        trainer(MainTeacher(config, dataset, model(3), model(4), alpha=0.5)), first_batches(), repeats)
    for key in ("student_ram", "student_disk", "csrec_t"):  # `compiled_loss` beside each
        costs[f"{key}_compiled"] = lambda key=key: _with_compiled_loss(config, costs[key])
    result: dict[str, Any] = {"model": model_name, "items": dataset.item_num - 1, "rows": len(dataset)}
    for key, measure in costs.items():
        result[f"{key}_step_s"] = measure()
    evaluator = trainer(model(0))
    start = time.perf_counter()
    evaluator.evaluate(valid_data, load_best_model=False, show_progress=False)
    users = len(valid_data._dataset)
    result["eval_s_per_1000_users"] = (time.perf_counter() - start) / users * 1000
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def interactions_point(model_name: str, interactions: int, steps: int, root: str) -> dict[str, Any]:
    """Load seconds and the peak RSS after loading, after `steps` Base training steps and after
    one full validation pass, for `interactions` interactions over 20k items."""
    from recbole_csrec.model import CSRecStudent
    from recbole_csrec.trainer import CSRecTrainer
    from recbole_csrec.lookups import get_model

    name = f"interactions_{interactions}"
    yaml_file = prepare_synthetic(root, name, interactions // WINDOW, INTERACTIONS_ITEMS)
    before = peak_rss_mb()
    config, train_data, valid_data, load_seconds = _setup(model_name, yaml_file, root, name, {})
    result: dict[str, Any] = {"model": model_name, "interactions": interactions,
                              "training_rows": len(train_data._dataset), "load_s": load_seconds,
                              "rss_before_load_mb": before, "peak_rss_load_mb": peak_rss_mb()}
    trainer = CSRecTrainer(config, CSRecStudent(config, train_data._dataset,
                                                get_model(model_name)(config, train_data._dataset)),
                           phase="bench", weights_file="", write_files=False)
    batches = [batch for _, batch in zip(range(steps), train_data)]
    trainer._train_epoch(batches, 0, show_progress=False)
    result["peak_rss_train_mb"] = peak_rss_mb()
    start = time.perf_counter()
    trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
    result["eval_s"] = time.perf_counter() - start
    result["peak_rss_eval_mb"] = peak_rss_mb()
    return result


def fitted_exponent(sizes: list[float], costs: list[float]) -> float:
    """Least-squares slope of log(cost) against log(size): cost ~ size ** exponent."""
    if len(set(sizes)) < 2:
        raise ValueError(f"an exponent needs two or more sizes, got {sorted(set(sizes))}")
    xs, ys = [math.log(s) for s in sizes], [math.log(c) for c in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def run_point(argv: list[str]) -> dict[str, Any]:
    """One point in this process (the child side of `curve`)."""
    kind, model_name, size, steps, repeats, threads = argv
    torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as root:
        os.chdir(root)  # RecBole's log/ and log_tensorboard/ go to the temporary folder, not the caller's
        if kind == "catalogue":
            return catalogue_point(model_name, int(size), int(steps), int(repeats), root)
        return interactions_point(model_name, int(size), int(steps), root)


def _child(kind: str, model_name: str, size: int, steps: int, repeats: int, threads: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "recbole_csrec.benchmark.scale_curve", "--point", kind, model_name,
               str(size), str(steps), str(repeats), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


CATALOGUE_COLUMNS = ("base", "student_ram", "student_disk", "csrec_t")


def compiled_table(points: list[dict[str, Any]]) -> str:
    """`compiled_loss` (the student's block compiled) against the eager fused block at each point."""
    lines = ["| model | items | Base ms/step | student, RAM cache: eager / compiled ms/step (/ base) | "
             "student, disk cache: eager / compiled ms/step (/ base) | CSRec-T main teacher: eager / compiled ms/step "
             "(/ base) |", "|---|---|---|---|---|---|"]
    for p in points:
        base = p["base_step_s"]
        cells = [f"{p[f'student_{where}_step_s'] * 1000:.1f} / {p[f'student_{where}_compiled_step_s'] * 1000:.1f} "
                 f"({p[f'student_{where}_step_s'] / base:.2f} / {p[f'student_{where}_compiled_step_s'] / base:.2f})"
                 for where in ("ram", "disk")]
        cells.append(f"{p['csrec_t_step_s'] * 1000:.1f} / {p['csrec_t_compiled_step_s'] * 1000:.1f} "
                     f"({p['csrec_t_step_s'] / base:.2f} / {p['csrec_t_compiled_step_s'] / base:.2f})")
        lines.append(f"| {p['model']} | {p['items']:,} | {base * 1000:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve(models: list[str], item_sizes: list[int], interaction_sizes: list[int], steps: int, repeats: int,
          threads: int) -> dict[str, Any]:
    """Both axes, printed as markdown tables with the fitted exponents."""
    points = []
    print("| model | items | training rows | Base ms/step | student (RAM) ms/step | student (disk) ms/step | "
          "CSRec-T main teacher ms/step | eval s / 1,000 users | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model_name in models:
        for items in item_sizes:
            p = _child("catalogue", model_name, items, steps, repeats, threads)
            points.append(p)
            print(f"| {model_name} | {p['items']:,} | {p['rows']:,} | " + " | ".join(
                f"{p[f'{c}_step_s'] * 1000:.1f}" for c in CATALOGUE_COLUMNS)
                + f" | {p['eval_s_per_1000_users']:.3f} | {p['peak_rss_mb']:.0f} |", flush=True)
    print("\n" + compiled_table(points))
    exponents: dict[str, float] = {}
    sloped_columns = CATALOGUE_COLUMNS + ("eval_s_per_1000_users",)
    if len(set(item_sizes)) < 2:  # one catalogue: the steps above are the measurement, no slope
        print("exponents: n/a (one catalogue size; --items needs two or more for a slope)")
        sloped_columns = ()
    for column in sloped_columns:
        key = column if column.startswith("eval") else f"{column}_step_s"
        per_model = [fitted_exponent([p["items"] for p in points if p["model"] == m],
                                     [p[key] for p in points if p["model"] == m]) for m in models]
        exponents[column] = max(per_model)
        print(f"exponent of {column} against items: " + ", ".join(
            f"{m} {e:.2f}" for m, e in zip(models, per_model)))
    if exponents:
        print(f"base exponent: {exponents['base']:.2f}")
        print(f"student exponent: {max(exponents['student_ram'], exponents['student_disk']):.2f}")
        print(f"csrec_t exponent: {exponents['csrec_t']:.2f}")
    rows = []
    if interaction_sizes:
        print("\n| interactions | training rows | load s | peak RSS after load MB | after training MB | "
              "after evaluation MB | evaluation s |")
        print("|---|---|---|---|---|---|---|")
    for interactions in interaction_sizes:
        p = _child("interactions", models[0], interactions, steps, repeats, threads)
        rows.append(p)
        print(f"| {interactions:,} | {p['training_rows']:,} | {p['load_s']:.1f} | {p['peak_rss_load_mb']:.0f} | "
              f"{p['peak_rss_train_mb']:.0f} | {p['peak_rss_eval_mb']:.0f} | {p['eval_s']:.1f} |", flush=True)
    return {"catalogue": points, "interactions": rows, "exponents": exponents}


if __name__ == "__main__" and sys.argv[1:2] == ["--point"]:
    print(json.dumps(run_point(sys.argv[2:])))
