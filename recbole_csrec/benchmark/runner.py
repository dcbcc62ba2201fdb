"""Run every (dataset, model, teacher, seed) combination once; append one row per run.

Resumable: a combination whose (model, dataset, teacher, seed, config_hash) is already in the
results CSV is skipped, so a rerun after a crash, or with more seeds or models, only runs
what is missing. Per-user ranks of each run go to `<results folder>/per_user/<run_id>.csv.gz`.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from datetime import datetime
from logging import getLogger
from typing import Any, Callable, Sequence

import torch

from recbole_csrec.benchmark.memory import PeakMemory
from recbole_csrec.benchmark.results import (append_rows, config_hash, diagnostic_cells, done_keys,
                                             machine_description, phase_cell, read_results, write_frame)
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.names import method_name
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import check_command_line

RESERVED_KEYS = ("model", "dataset", "teacher", "seed")
# Options that say where files go, not what is trained: they stay out of the config hash, so that
# a landed row stays landed when the teacher store or the checkpoint folder moves.
LOCATION_KEYS = ("checkpoint_dir", "teacher_store", "dataset_save_path", "dataloaders_save_path")


def registered_teachers() -> list[str]:
    from recbole_csrec.teachers import TEACHERS

    return list(TEACHERS)


def check_teachers(teachers: Sequence[str]) -> None:
    accepted = registered_teachers()
    for teacher in teachers:
        if teacher not in accepted:
            raise CSRecError(f"unknown teacher '{teacher}': accepted are {', '.join(accepted)}")


def argv_key(arg: str) -> str:
    """`key` of a `--key=value` argument."""
    return arg[2:].split("=", 1)[0]


def check_extra_argv(extra_argv: Sequence[str], reserved: Sequence[str] = RESERVED_KEYS) -> None:
    for arg in extra_argv:
        if not arg.startswith("--") or "=" not in arg:
            raise CSRecError(f"argument '{arg}' is not accepted: extra settings are --key=value")
        key = argv_key(arg)
        if key in reserved:
            raise CSRecError(f"--{key}=... is set by the suite itself (use --{key}s ...); "
                             f"accepted extras are other --key=value settings")


def results_paths(output: str) -> tuple[str, str]:
    """(results CSV, per-user folder) for --output: a .csv file or a folder (-> results.csv)."""
    csv_path = output if output.endswith(".csv") else os.path.join(output, "results.csv")
    return csv_path, os.path.join(os.path.dirname(os.path.abspath(csv_path)), "per_user")


def _default_run(**kwargs) -> dict[str, Any]:
    from recbole_csrec.quick_start import run_recbole_csrec

    return run_recbole_csrec(**kwargs)


def run_benchmark(models: Sequence[str], datasets: Sequence[str], teachers: Sequence[str],
                  seeds: Sequence[int], output: str = "results",
                  config_files: Sequence[str] | None = None,
                  config_dict: dict[str, Any] | None = None,
                  extra_argv: Sequence[str] = (),
                  hash_settings: dict[str, Any] | None = None,
                  extra_columns: dict[str, Any] | None = None,
                  run_fn: Callable[..., dict[str, Any]] = _default_run,
                  command: str | None = None) -> dict[str, int]:
    """Run the missing combinations; returns counts {'ran', 'skipped', 'failed'}.

    `config_dict` goes to every run; `hash_settings` (default: config_dict) together with the
    extra --key=value arguments and the config files' contents make the config hash.
    A CSRecError (bad input) stops the suite; any other failure is logged and the suite goes on.
    """
    config_files, config_dict = list(config_files or []), dict(config_dict or {})
    _check_suite(models, datasets, teachers, config_files, config_dict, extra_argv)
    settings = {"config_dict": config_dict if hash_settings is None else hash_settings,
                "argv": sorted(arg for arg in extra_argv if argv_key(arg) not in LOCATION_KEYS)}
    chash = config_hash(config_files, settings)
    # rows landed before LOCATION_KEYS left the hash carry the hash of the whole argv
    legacy_hash = config_hash(config_files, {**settings, "argv": sorted(extra_argv)})
    csv_path, per_user_dir = results_paths(output)
    done = done_keys(read_results(csv_path))
    logger = getLogger()
    counts = {"ran": 0, "skipped": 0, "failed": 0}
    machine = machine_description()
    for dataset, model, teacher, seed in itertools.product(datasets, models, teachers, seeds):
        run_id = f"{model}-{dataset}-{teacher}-{seed}-{chash}"
        if {(model, dataset, teacher, str(seed), h) for h in (chash, legacy_hash)} & done:
            counts["skipped"] += 1
            print(f"[benchmark] skip {run_id}: already in {csv_path}", flush=True)
            continue
        print(f"[benchmark] run  {run_id}", flush=True)
        start = time.time()
        try:
            # the run's own peak RSS (ru_maxrss would carry an earlier run's peak in this process)
            with recbole_argv(extra_argv), PeakMemory(torch.device("cpu"), interval=0.05) as memory:
                result = run_fn(model=model, dataset=dataset, teacher=teacher,
                                config_file_list=config_files or None,
                                config_dict={**config_dict, "seed": int(seed)}, per_user=True)
        except CSRecError:
            raise
        except Exception as error:  # keep the suite going; the row stays missing for a rerun
            counts["failed"] += 1
            logger.exception(f"[benchmark] {run_id} failed")
            print(f"[benchmark] FAILED {run_id}: {type(error).__name__}: {error}", flush=True)
            continue
        seconds = time.time() - start
        row = _result_row(result, model, dataset, teacher, seed, run_id, seconds, memory.start + memory.peak,
                          per_user_dir, csv_path)
        row.update({"config_hash": chash, "config_files": " ".join(config_files),
                    "overrides": " ".join([f"--{k}={v}" for k, v in sorted(config_dict.items())]
                                          + list(extra_argv)),
                    "machine": machine, "command": command or ""})
        row.update(extra_columns or {})
        append_rows(csv_path, [row])
        done.add((model, dataset, teacher, str(seed), chash))
        counts["ran"] += 1
    return counts


def _check_suite(models, datasets, teachers, config_files: list[str], config_dict: dict[str, Any],
                 extra_argv: Sequence[str]) -> None:
    """Bad input stops the suite before any run: teachers, extra arguments, config files."""
    check_teachers(teachers)
    check_extra_argv(extra_argv)
    for path in config_files:
        if not os.path.isfile(path):
            raise CSRecError(f"config file '{path}' does not exist")
    if extra_argv:  # a typo such as --bta=0.5 would otherwise run the whole suite wrongly
        for dataset, model in itertools.product(datasets, models):
            check_command_line(model, dataset, config_files, extra_argv, config_dict)


def stopped_early(epochs: int | None, cap: int | None) -> str:
    """'True' when the student stopped before the epoch cap (early stopping on validation), ''
    when unknown (a run function that reports neither)."""
    if epochs in (None, "") or cap in (None, ""):
        return ""
    return str(int(epochs) < int(cap))


def _result_row(result: dict[str, Any], model: str, dataset: str, teacher: str, seed: int, run_id: str,
                seconds: float, peak_rss: int, per_user_dir: str, csv_path: str) -> dict[str, Any]:
    """One results row of a finished run (its per-user ranks written beside the CSV)."""
    per_user_file = ""
    if result.get("per_user") is not None:
        path = os.path.join(per_user_dir, f"{run_id}.csv.gz")
        write_frame(path, result["per_user"], compression="gzip")
        per_user_file = os.path.relpath(path, os.path.dirname(os.path.abspath(csv_path)))
    student = result.get("phases", {}).get("student", {})
    row: dict[str, Any] = {"model": model, "dataset": dataset, "teacher": teacher,
                           "method": method_name(teacher), "seed": int(seed)}
    row.update({f"valid_{k}": float(v) for k, v in (result.get("best_valid_result") or {}).items()})
    row.update({f"test_{k}": float(v) for k, v in (result.get("test_result") or {}).items()})
    row.update(diagnostic_cells(result.get("diagnostics")))
    row.update({
        "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss / 2 ** 20),
        "epochs": student.get("epochs", ""), "best_epoch": student.get("best_epoch", ""),
        "stopped_early": stopped_early(student.get("epochs"), result.get("epoch_cap")),
        "phases": phase_cell(result.get("phases")), "run_id": run_id, "per_user_file": per_user_file,
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    })
    return row


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="benchmark.py", allow_abbrev=False,
        description="Run every model x teacher x dataset x seed with run_recbole_csrec, append "
                    "one row per run to a results CSV (resumable), then print the Table 2 "
                    "summary. Any other --key=value is a RecBole/CSRec setting for every run.")
    parser.add_argument("--models", nargs="+", default=["GRU4Rec"])
    parser.add_argument("--teachers", nargs="+", default=None,
                        help="teacher values (default: every registered one: "
                             "none=Base, pop=SoftRec, model=CSRec-M, data=CSRec-D, ...)")
    parser.add_argument("--datasets", nargs="+", default=["ml"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[2020])
    parser.add_argument("--config_files", nargs="+", default=None,
                        help="yaml files given unchanged to every run (space-separated)")
    parser.add_argument("--output", default="results",
                        help="results folder (-> results.csv) or a .csv path (default: results)")
    parser.add_argument("--no_table", action="store_true", help="do not aggregate at the end")
    return parser


def split_files(values: Sequence[str] | None) -> list[str]:
    """Accept both `--config_files a.yaml b.yaml` and RecBole's `--config_files="a.yaml b.yaml"`."""
    return [p for v in values or [] for p in v.split(" ") if p]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        args, extra = build_parser().parse_known_args(argv)
        teachers = args.teachers or registered_teachers()
        counts = run_benchmark(args.models, args.datasets, teachers, args.seeds, args.output,
                               config_files=split_files(args.config_files), extra_argv=extra,
                               command="python run_scripts/benchmark.py " + " ".join(argv))
        print(f"[benchmark] ran {counts['ran']}, skipped {counts['skipped']} (already present), "
              f"failed {counts['failed']}", flush=True)
        if not args.no_table:
            from recbole_csrec.benchmark.aggregate import write_tables

            csv_path, _ = results_paths(args.output)
            stem = os.path.splitext(csv_path)[0] + "_table2"
            print(write_tables([csv_path], stem))
        return 1 if counts["failed"] else 0

    return exit_code("benchmark", run)
