"""Speed of a CSRec student against plain RecBole training, measured side by side in one run.

    python run_scripts/bench_speed.py --model GRU4Rec --dataset ml --teacher model [--epochs 3]
        [--quick] [--output docs/performance.md] [--note "..."] [--key=value ...]

1. trains the m teachers (--teacher model|data) for --epochs epochs each (no validation), timed
   (`reuse_teachers` is off: a stored teacher would hide their cost);
2. builds the soft-label cache once (timed);
3. then, alternating epoch by epoch on the same training loader and batch size:
   - RecBole as shipped: RecBole's model and Trainer, with autograd anomaly mode as importing
     RecBole leaves it (on, in 1.2.1);
   - Base: the same model as CSRec runs it for `--teacher=none` (CSRecTrainer, `detect_anomaly`
     from the config: off by default);
   - the CSRec student on the cache, and the CSRec student with on-the-fly teacher inference
     (the authors' way);
4. after the timed epochs, measures each phase's peak memory over --memory_batches batches;
5. prints seconds/epoch, ratios, cache build cost, peak memory and the end-to-end CSRec/Base wall
   time at equal epochs, and rewrites this run's section of --output (docs/performance.md).

The last two printed lines are exactly `base/recbole epoch ratio: R` and
`student/base epoch ratio: R` (the cached path).
Other `--key=value` arguments go to RecBole's Config (e.g. --MAX_ITEM_LIST_LENGTH=20).

Peak memory of a phase = (peak during its memory pass - what was allocated just before it) + what
the phase itself keeps resident (its parameters, optimizer state, and the cache or the teachers).
On a GPU the peak comes from torch.cuda.max_memory_allocated; on CPU from the process RSS sampled
every 2 ms, with glibc told to return large blocks at once (`use_measurable_allocator`, switched
on only after the timed epochs, since it slows them). The cache build's peak is sampled under the
default allocator (informative; its large blocks are mmap-ed either way).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import statistics
import time
from typing import Any

import torch
from recbole.data import create_dataset, data_preparation
from recbole.trainer import Trainer
from recbole.utils import init_seed

from recbole_csrec.anomaly import anomaly_mode, import_recbole_sequential_models
from recbole_csrec.benchmark.roofline import probe_machine, ratio_lines, speed_figures
from recbole_csrec.benchmark.speed_report import report_lines, write_doc
from recbole_csrec.benchmark.memory import (GLIBC_MMAP_THRESHOLD, PeakMemory, tensor_bytes,
                                            use_measurable_allocator)
from recbole_csrec.data import ensure_dataset_files, reseed_loader, subsample_sequences
from recbole_csrec.data.all_positions import is_causal_model
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.model import CSRecStudent
from recbole_csrec.precision import bf16_units
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import build_configs, check_command_line
from recbole_csrec.run_logger import init_logger
from recbole_csrec.soft_labels import TeacherEnsemble, cache_soft_labels
from recbole_csrec.soft_labels.diagnostics import diagnose_teachers
from recbole_csrec.teachers import TEACHERS, TeacherContext
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.lookups import get_model

QUICK = {"epochs": 1, "train_batch_size": 64, "eval_batch_size": 256, "embedding_size": 16,
         "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10}
MB = 2 ** 20


class Phase:
    """One model trained epoch by epoch by a trainer (`_train_epoch`, the step RecBole's trainers
    override), under its own autograd anomaly setting; timed and measured."""

    def __init__(self, name: str, trainer: Trainer, train_data, anomaly: bool,
                 resident: Any = None) -> None:
        self.name, self.trainer, self.train_data, self.resident = name, trainer, train_data, resident
        self.model, self.anomaly = trainer.model, anomaly
        self.device = torch.device(trainer.config["device"])
        self.seconds: list[float] = []
        self.peak = 0

    def epoch(self) -> None:
        """One timed training epoch, no memory sampling."""
        self.model.train()
        with anomaly_mode(self.anomaly):
            start = time.perf_counter()
            self.trainer._train_epoch(self.train_data, len(self.seconds), show_progress=False)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.seconds.append(time.perf_counter() - start)

    def measure_memory(self, batches: list) -> None:
        """Peak memory over `batches` (every full batch costs the same): the step's peak above
        what was allocated before, plus what the phase keeps resident."""
        resident = tensor_bytes(self.model, self.trainer.optimizer, self.resident)
        self.model.train()
        with anomaly_mode(self.anomaly), PeakMemory(self.device) as memory:
            self.trainer._train_epoch(batches, len(self.seconds), show_progress=False)
        self.peak = memory.peak + resident

    @property
    def per_epoch(self) -> float:
        # the first epoch pays one-off costs (allocator warm-up, optimizer state): report the
        # median of the rest (robust to one epoch slowed by the machine's other work)
        return statistics.median(self.seconds[1:] if len(self.seconds) > 1 else self.seconds)


def phase_batches(phase: Phase, per_row: list, count: int) -> list:
    """The first `count` batches the phase trains on: per-row batches, or whole sequences."""
    if not isinstance(phase.trainer, CSRecTrainer) or not phase.trainer._stepper(phase.train_data).all_positions:
        return per_row
    loader = phase.trainer._all_position_loader(phase.train_data)
    return [batch for _, batch in zip(range(count), loader)]


def machine_info(device: torch.device) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = re.findall(r"model name\s*:\s*(.+)", handle.read())
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    info = {"cpu": f"{cpu}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}",
            "python / torch": f"{platform.python_version()} / {torch.__version__}",
            "device": str(device), "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bench_speed.py", allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="GRU4Rec")
    parser.add_argument("--dataset", default="ml")
    parser.add_argument("--teacher", default="model", choices=["model", "data"])
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every phase (default 3, 1 with --quick; >= 2 recommended)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 epoch (for tests)")
    parser.add_argument("--config_files", default=None)
    parser.add_argument("--output", default=os.path.join("docs", "performance.md"))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (1 is steadier on a shared machine)")
    parser.add_argument("--memory_batches", type=int, default=8,
                        help="training batches of each phase's memory pass (after the timed epochs)")
    parser.add_argument("--train_fraction", type=float, default=1.0,
                        help="time epochs over this share of the training sequences (item count and step "
                             "shapes unchanged; epoch seconds scale with it, ratios do not)")
    parser.add_argument("--note", default="", help="a line about the machine, written to the doc")
    return parser


def diagnostics_cost(ctx: TeacherContext, ensemble: TeacherEnsemble, valid_data) -> dict[str, float]:
    """Seconds of one RecBole validation evaluation of every teacher, without and with its scores
    kept (what each validation epoch of a teacher phase costs when `diagnostics` is on), then of
    the soft-label diagnostics pass on the kept scores (a run's teachers) and with every teacher
    run forward again (teachers loaded from the store), one after the other. The pass must cost
    less than the evaluations."""
    def evaluate_all(keep_mb: float) -> float:
        start = time.perf_counter()
        for phase, teacher in zip(ctx.phases, ensemble.teachers):  # CSRec-M/-D: one phase per teacher
            trainer = CSRecTrainer(ctx.config, teacher, phase="bench", weights_file="", write_files=False,
                                   keep_valid_scores_mb=keep_mb)
            phase.valid_scores = trainer.validate_keeping_scores(valid_data)
        return time.perf_counter() - start

    def diagnose() -> float:
        start = time.perf_counter()
        diagnose_teachers(ctx, ensemble)
        return time.perf_counter() - start

    plain = evaluate_all(0.0)
    keeping = evaluate_all(ctx.valid_scores_budget_mb())
    kept = sum(phase.valid_scores is not None for phase in ctx.phases)
    on_kept = diagnose()  # frees the kept scores: the next pass runs every teacher forward
    forward = diagnose()
    return {"teacher_evaluation_seconds": plain, "keeping_evaluation_seconds": keeping,
            "kept_teachers": kept, "diagnostics_seconds": on_kept, "diagnostics_forward_seconds": forward}


def _setup(args: argparse.Namespace, overrides: list[str]):
    """The config, data and teacher context of the measured run."""
    config_dict = {"num_teachers": 2, "epochs": args.epochs or 3, "show_progress": False,
                   "eval_step": 0,  # teachers: training epochs only, no validation
                   # teachers are trained here and timed: never loaded from a teacher store
                   "reuse_teachers": False}
    if args.quick:
        config_dict.update({k: v for k, v in QUICK.items() if k != "epochs" or args.epochs is None})
    config_files = args.config_files.split() if args.config_files else None
    with recbole_argv(overrides):
        config, teacher_config = build_configs(args.model, args.dataset, args.teacher, config_files,
                                               config_dict)
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    if not 0.0 < args.train_fraction <= 1.0:
        raise CSRecError(f"--train_fraction={args.train_fraction} is outside (0, 1]")
    if args.train_fraction < 1.0:
        train_data = subsample_sequences(train_data, args.train_fraction, int(config["seed"]))
    return TeacherContext(config=config, teacher_config=teacher_config, dataset=dataset,
                          train_data=train_data, valid_data=valid_data, test_data=test_data,
                          run_dir=tempfile.mkdtemp(prefix="bench-"), saved=False)


def _teachers_and_cache(ctx: TeacherContext, teacher: str) -> dict[str, Any]:
    """Train the teachers and build the soft-label cache, timed; the diagnostics pass's cost."""
    config = ctx.config
    start = time.perf_counter()
    with anomaly_mode(config["detect_anomaly"]):
        ensemble = TEACHERS[teacher](ctx)
    teacher_seconds = time.perf_counter() - start
    teacher_fit = sum(p.seconds for p in ctx.phases)
    print(f"[bench] teachers: {teacher_seconds:.2f}s ({teacher_fit:.2f}s training)", flush=True)
    with PeakMemory(torch.device(config["device"])) as build_memory:
        start = time.perf_counter()
        cache = cache_soft_labels(ensemble, config, ctx.train_data)
        build_seconds = time.perf_counter() - start
    cached = cache is not ensemble
    print(f"[bench] cache: {'built' if cached else 'NOT built (over budget)'} in {build_seconds:.2f}s, "
          f"{getattr(cache, 'nbytes', 0) / MB:.1f} MB", flush=True)
    diagnostics = diagnostics_cost(ctx, ensemble, ctx.valid_data)
    print(f"[bench] diagnostics pass {diagnostics['diagnostics_seconds']:.2f}s on kept scores "
          f"({diagnostics['kept_teachers']} teachers), {diagnostics['diagnostics_forward_seconds']:.2f}s "
          f"with teachers run forward; one validation evaluation per teacher "
          f"{diagnostics['teacher_evaluation_seconds']:.2f}s in all "
          f"({diagnostics['keeping_evaluation_seconds']:.2f}s keeping the scores)", flush=True)
    return {"ensemble": ensemble, "cache": cache, "cached": cached, "teacher_fit": teacher_fit,
            "build_seconds": build_seconds, "build_peak": build_memory.peak, "diagnostics": diagnostics}


def _phases(ctx: TeacherContext, ensemble, cache, cached: bool, recbole_anomaly: bool) -> list[Phase]:
    """RecBole as shipped, Base (unfused, fused, bf16, all positions) and the students."""
    config, train_data = ctx.config, ctx.train_data
    device = torch.device(config["device"])
    seed, ours = int(config["seed"]), bool(config["detect_anomaly"])

    def model(seed: int):
        init_seed(seed, config["reproducibility"])
        return get_model(config["model"])(config, train_data._dataset).to(device)

    def student_phase(name: str, soft_labels=None, **keys) -> Phase:
        """A CSRec student (Base without soft labels) built with these keys set."""
        saved = {key: config[key] for key in keys}
        config.final_config_dict.update(keys)
        try:
            student = CSRecStudent(config, train_data._dataset, model(seed), soft_labels)
            trainer = CSRecTrainer(config, student.to(device), phase="bench", weights_file="", write_files=False)
        finally:
            config.final_config_dict.update(saved)
        return Phase(name, trainer, train_data, ours, soft_labels)

    bf16_ok, _ = bf16_units(device.type)
    causal = is_causal_model(get_model(config["model"]))
    plain = {"fused_output": True, "all_positions": False, "bf16": False}
    return [
        Phase("RecBole as shipped", Trainer(config, model(seed)), train_data, recbole_anomaly),
        student_phase("Base, unfused", **{**plain, "fused_output": False}),
        student_phase("Base", **plain),
        *([student_phase("Base, bf16", **{**plain, "bf16": True})] if bf16_ok else []),
        *([student_phase("Base, all positions", **{**plain, "all_positions": True})] if causal else []),
        student_phase("CSRec student, cached", cache, **plain),
        *([student_phase("CSRec student, cached, all positions", cache, **{**plain, "all_positions": True})]
          if causal and cached else []),
        student_phase("CSRec student, on-the-fly", ensemble, **plain),
    ]


def _measure(phases: list[Phase], train_data, epochs: int, seed: int, memory_batches: int) -> list:
    """Epochs alternated phase by phase (load from other jobs hits every phase alike), then each
    phase's peak memory over the first batches; returns those batches."""
    reseed_loader(train_data, seed)
    for epoch in range(epochs):
        for phase in phases:
            phase.epoch()
        print(f"[bench] epoch {epoch + 1}/{epochs}: "
              + ", ".join(f"{p.name} {p.seconds[-1]:.2f}s" for p in phases), flush=True)
    # Memory after timing: the allocator setting that makes RSS measurable slows large allocations.
    use_measurable_allocator()
    batches = [batch for _, batch in zip(range(memory_batches), train_data)]
    for phase in phases:
        phase.measure_memory(phase_batches(phase, batches, memory_batches))
    use_measurable_allocator(GLIBC_MMAP_THRESHOLD)  # a caller in this process (a test) runs on as before
    print("[bench] peak memory over " + str(len(batches)) + " batches: "
          + ", ".join(f"{p.name} {p.peak / MB:.1f} MB" for p in phases), flush=True)
    return batches


def run(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    import_recbole_sequential_models()
    recbole_anomaly = torch.is_anomaly_enabled()  # as importing RecBole leaves it (on, in 1.2.1)
    ctx = _setup(args, overrides)
    config, train_data, dataset = ctx.config, ctx.train_data, ctx.dataset
    epochs, device, m = int(config["epochs"]), torch.device(config["device"]), int(config["num_teachers"])
    print(f"[bench] {config['model']} on {config['dataset']}: {len(train_data._dataset)} training rows, "
          f"{dataset.item_num} items, batch {config['train_batch_size']}, {epochs} epochs, "
          f"{m} teachers ({args.teacher}), device {device}", flush=True)
    t = _teachers_and_cache(ctx, args.teacher)
    phases = _phases(ctx, t["ensemble"], t["cache"], t["cached"], recbole_anomaly)
    bf16_ok, bf16_found = bf16_units(device.type)
    rates = probe_machine(bf16=bf16_ok)
    print(f"[bench] {rates.describe()}", flush=True)
    batches = _measure(phases, train_data, epochs, int(config["seed"]), args.memory_batches)
    by_name = {p.name: p for p in phases}
    speed = speed_figures(phases, by_name, batches[0], rates, int(config["train_batch_size"]),
                          int(dataset.item_num), bf16_ok, bf16_found, is_causal_model(get_model(config["model"])))
    return _result(args, config, by_name, t, len(batches), recbole_anomaly, speed, device)


def _result(args, config, by_name: dict[str, Phase], t: dict[str, Any], memory_batches: int,
            recbole_anomaly: bool, speed: dict[str, Any], device: torch.device) -> dict[str, Any]:
    recbole, base, student, on_the_fly = (by_name[n] for n in ("RecBole as shipped", "Base", "CSRec student, cached",
                                                                 "CSRec student, on-the-fly"))
    m, diagnostics, build_seconds = int(config["num_teachers"]), t["diagnostics"], t["build_seconds"]
    base_wall, student_wall = sum(base.seconds), sum(student.seconds)
    csrec_wall = t["teacher_fit"] + build_seconds + student_wall
    cache_mb = getattr(t["cache"], "nbytes", 0) / MB
    evaluation = diagnostics["teacher_evaluation_seconds"]
    train = base.trainer.model  # any phase: the data sizes are the same
    return {
        "model": config["model"], "dataset": config["dataset"], "teacher": args.teacher, "m": m,
        "epochs": int(config["epochs"]), "rows": len(base.train_data._dataset), "train_fraction": args.train_fraction,
        "items": int(train.n_items), "batch": int(config["train_batch_size"]),
        "max_len": int(config["MAX_ITEM_LIST_LENGTH"]), "cached": t["cached"], "recbole_anomaly": recbole_anomaly,
        "detect_anomaly": bool(config["detect_anomaly"]),
        "recbole_epoch": recbole.per_epoch, "base_recbole_ratio": base.per_epoch / recbole.per_epoch,
        "recbole_peak_mb": recbole.peak / MB, "base_epoch": base.per_epoch, "student_epoch": student.per_epoch,
        "otf_epoch": on_the_fly.per_epoch, "ratio": student.per_epoch / base.per_epoch,
        "otf_ratio": on_the_fly.per_epoch / base.per_epoch, "build_seconds": build_seconds,
        **diagnostics,
        "diagnostics_ratio": diagnostics["diagnostics_seconds"] / evaluation,
        "diagnostics_forward_ratio": diagnostics["diagnostics_forward_seconds"] / evaluation,
        "keeping_ratio": diagnostics["keeping_evaluation_seconds"] / evaluation,
        "build_per_teacher": build_seconds / m / base.per_epoch, "cache_mb": cache_mb,
        "build_peak_mb": t["build_peak"] / MB, "memory_batches": memory_batches,
        "base_peak_mb": base.peak / MB, "student_peak_mb": student.peak / MB,
        "otf_peak_mb": on_the_fly.peak / MB, "memory_limit_mb": (base.peak / MB + cache_mb) * 1.2,
        "teacher_fit": t["teacher_fit"], "base_wall": base_wall, "csrec_wall": csrec_wall,
        "wall_ratio": csrec_wall / base_wall, "wall_target": (m + 1) * 1.1,
        "machine": machine_info(device), **speed,
    }


def _without_doc_args(argv: list[str]) -> list[str]:
    """The command line as it reproduces the figures: --output and --note dropped."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--output", "--note"):
            skip = True
        elif not arg.startswith(("--output=", "--note=")):
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv

    def bench() -> None:
        args, overrides = build_parser().parse_known_args(argv)
        # Unknown --key=value settings are refused (with a did-you-mean) before anything trains.
        check_command_line(args.model, args.dataset, args.config_files.split() if args.config_files else None,
                           overrides, {"num_teachers": 2})
        result = run(args, overrides)
        command = "python run_scripts/bench_speed.py " + " ".join(_without_doc_args(argv))
        for line in report_lines(result):
            print(line)
        write_doc(args.output, result, command, args.note)
        print(f"[bench] wrote {args.output}")
        print(f"base/recbole epoch ratio: {result['base_recbole_ratio']:.2f}")
        for line in ratio_lines(result):
            print(line)

    return exit_code("bench_speed", bench)


if __name__ == "__main__":
    sys.exit(main())
