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
import datetime
import json
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
from recbole_csrec.atomic import write_atomic
from recbole_csrec.benchmark.roofline import probe_machine, ratio_lines, roofline_table, speed_figures
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


def run(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    import_recbole_sequential_models()
    recbole_anomaly = torch.is_anomaly_enabled()  # as importing RecBole leaves it (on, in 1.2.1)
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
    epochs, device = int(config["epochs"]), torch.device(config["device"])
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    if not 0.0 < args.train_fraction <= 1.0:
        raise CSRecError(f"--train_fraction={args.train_fraction} is outside (0, 1]")
    if args.train_fraction < 1.0:
        train_data = subsample_sequences(train_data, args.train_fraction, int(config["seed"]))
    ctx = TeacherContext(config=config, teacher_config=teacher_config, dataset=dataset,
                         train_data=train_data, valid_data=valid_data, test_data=test_data,
                         run_dir=tempfile.mkdtemp(prefix="bench-"), saved=False)
    m = int(config["num_teachers"])
    print(f"[bench] {config['model']} on {config['dataset']}: {len(train_data._dataset)} training rows, "
          f"{dataset.item_num} items, batch {config['train_batch_size']}, {epochs} epochs, "
          f"{m} teachers ({args.teacher}), device {device}", flush=True)

    start = time.perf_counter()
    with anomaly_mode(config["detect_anomaly"]):
        ensemble = TEACHERS[args.teacher](ctx)
    teacher_seconds = time.perf_counter() - start
    teacher_fit = sum(p.seconds for p in ctx.phases)
    print(f"[bench] teachers: {teacher_seconds:.2f}s ({teacher_fit:.2f}s training)", flush=True)

    with PeakMemory(device) as build_memory:
        start = time.perf_counter()
        cache = cache_soft_labels(ensemble, config, train_data)
        build_seconds = time.perf_counter() - start
    cached = cache is not ensemble
    print(f"[bench] cache: {'built' if cached else 'NOT built (over budget)'} in {build_seconds:.2f}s, "
          f"{getattr(cache, 'nbytes', 0) / MB:.1f} MB", flush=True)
    diagnostics = diagnostics_cost(ctx, ensemble, valid_data)
    print(f"[bench] diagnostics pass {diagnostics['diagnostics_seconds']:.2f}s on kept scores "
          f"({diagnostics['kept_teachers']} teachers), {diagnostics['diagnostics_forward_seconds']:.2f}s "
          f"with teachers run forward; one validation evaluation per teacher "
          f"{diagnostics['teacher_evaluation_seconds']:.2f}s in all "
          f"({diagnostics['keeping_evaluation_seconds']:.2f}s keeping the scores)", flush=True)

    def model(seed: int):
        init_seed(seed, config["reproducibility"])
        return get_model(config["model"])(config, train_data._dataset).to(device)

    seed = int(config["seed"])
    ours = bool(config["detect_anomaly"])

    def csrec_trainer(model) -> CSRecTrainer:
        return CSRecTrainer(config, model.to(device), phase="bench", weights_file="", write_files=False)

    def student_phase(name: str, soft_labels=None, **keys) -> Phase:
        """A CSRec student (Base without soft labels) built with these keys set."""
        saved = {key: config[key] for key in keys}
        for key, value in keys.items():
            config[key] = value
        try:
            trainer = csrec_trainer(CSRecStudent(config, train_data._dataset, model(seed), soft_labels))
        finally:
            for key, value in saved.items():
                config[key] = value
        return Phase(name, trainer, train_data, ours, soft_labels)

    bf16_ok, bf16_found = bf16_units(device.type)
    all_positions_ok = is_causal_model(get_model(config["model"]))
    phases = [
        Phase("RecBole as shipped", Trainer(config, model(seed)), train_data, recbole_anomaly),
        student_phase("Base, unfused", fused_output=False, all_positions=False, bf16=False),
        student_phase("Base", fused_output=True, all_positions=False, bf16=False),
        *([student_phase("Base, bf16", fused_output=True, all_positions=False, bf16=True)] if bf16_ok else []),
        *([student_phase("Base, all positions", fused_output=True, all_positions=True, bf16=False)]
          if all_positions_ok else []),
        student_phase("CSRec student, cached", cache, fused_output=True, all_positions=False, bf16=False),
        *([student_phase("CSRec student, cached, all positions", cache, fused_output=True, all_positions=True,
                         bf16=False)] if all_positions_ok and cached else []),
        student_phase("CSRec student, on-the-fly", ensemble, fused_output=True, all_positions=False, bf16=False),
    ]
    rates = probe_machine(bf16=bf16_ok)
    print(f"[bench] {rates.describe()}", flush=True)
    reseed_loader(train_data, seed)
    for epoch in range(epochs):  # alternate, so that load from other jobs hits every phase alike
        for phase in phases:
            phase.epoch()
        print(f"[bench] epoch {epoch + 1}/{epochs}: "
              + ", ".join(f"{p.name} {p.seconds[-1]:.2f}s" for p in phases), flush=True)
    # Memory after timing: the allocator setting that makes RSS measurable slows large allocations.
    use_measurable_allocator()
    batches = [batch for _, batch in zip(range(args.memory_batches), train_data)]
    for phase in phases:
        phase.measure_memory(phase_batches(phase, batches, args.memory_batches))
    use_measurable_allocator(GLIBC_MMAP_THRESHOLD)  # a caller in this process (a test) runs on as before
    print("[bench] peak memory over " + str(len(batches)) + " batches: "
          + ", ".join(f"{p.name} {p.peak / MB:.1f} MB" for p in phases), flush=True)

    by_name = {p.name: p for p in phases}
    recbole, base, student, on_the_fly = (by_name[n] for n in ("RecBole as shipped", "Base", "CSRec student, cached",
                                                                 "CSRec student, on-the-fly"))
    speed = speed_figures(phases, by_name, batches[0], rates, int(config["train_batch_size"]),
                          int(dataset.item_num), bf16_ok, bf16_found, all_positions_ok)
    base_wall, student_wall = sum(base.seconds), sum(student.seconds)
    csrec_wall = teacher_fit + build_seconds + student_wall
    cache_mb = getattr(cache, "nbytes", 0) / MB
    memory_limit = (base.peak / MB + cache_mb) * 1.2
    return {
        "model": config["model"], "dataset": config["dataset"], "teacher": args.teacher, "m": m,
        "epochs": epochs, "rows": len(train_data._dataset), "train_fraction": args.train_fraction, "items": int(dataset.item_num),
        "batch": int(config["train_batch_size"]), "max_len": int(config["MAX_ITEM_LIST_LENGTH"]),
        "cached": cached, "recbole_anomaly": recbole_anomaly, "detect_anomaly": ours,
        "recbole_epoch": recbole.per_epoch, "base_recbole_ratio": base.per_epoch / recbole.per_epoch,
        "recbole_peak_mb": recbole.peak / MB, "base_epoch": base.per_epoch, "student_epoch": student.per_epoch,
        "otf_epoch": on_the_fly.per_epoch, "ratio": student.per_epoch / base.per_epoch,
        "otf_ratio": on_the_fly.per_epoch / base.per_epoch, "build_seconds": build_seconds,
        **diagnostics,
        "diagnostics_ratio": diagnostics["diagnostics_seconds"] / diagnostics["teacher_evaluation_seconds"],
        "diagnostics_forward_ratio": (diagnostics["diagnostics_forward_seconds"]
                                      / diagnostics["teacher_evaluation_seconds"]),
        "keeping_ratio": diagnostics["keeping_evaluation_seconds"] / diagnostics["teacher_evaluation_seconds"],
        "build_per_teacher": build_seconds / m / base.per_epoch, "cache_mb": cache_mb,
        "build_peak_mb": build_memory.peak / MB, "memory_batches": len(batches),
        "base_peak_mb": base.peak / MB, "student_peak_mb": student.peak / MB,
        "otf_peak_mb": on_the_fly.peak / MB, "memory_limit_mb": memory_limit,
        "teacher_fit": teacher_fit, "base_wall": base_wall, "csrec_wall": csrec_wall,
        "wall_ratio": csrec_wall / base_wall, "wall_target": (m + 1) * 1.1,
        "machine": machine_info(device), **speed,
    }


def report_lines(r: dict[str, Any]) -> list[str]:
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    path = "cached" if r["cached"] else "on-the-fly (cache over budget)"
    base_target = 0.65 if r["model"] == "SASRec" else 0.5
    on_off = lambda flag: "on" if flag else "off"  # noqa: E731
    return [
        "| phase | autograd anomaly | s/epoch | / Base | / RecBole as shipped | peak MB |",
        "|---|---|---|---|---|---|",
        f"| RecBole as shipped ({r['model']}, RecBole Trainer) | {on_off(r['recbole_anomaly'])} | "
        f"{r['recbole_epoch']:.3f} | {r['recbole_epoch'] / r['base_epoch']:.2f} | 1.00 | {r['recbole_peak_mb']:.1f} |",
        f"| Base (CSRec, teacher none) | {on_off(r['detect_anomaly'])} | {r['base_epoch']:.3f} | 1.00 | "
        f"{r['base_recbole_ratio']:.2f} | {r['base_peak_mb']:.1f} |",
        f"| CSRec student, {path} | {on_off(r['detect_anomaly'])} | {r['student_epoch']:.3f} | {r['ratio']:.2f} | "
        f"{r['student_epoch'] / r['recbole_epoch']:.2f} | {r['student_peak_mb']:.1f} |",
        f"| CSRec student, on-the-fly teachers | {on_off(r['detect_anomaly'])} | {r['otf_epoch']:.3f} | "
        f"{r['otf_ratio']:.2f} | {r['otf_epoch'] / r['recbole_epoch']:.2f} | {r['otf_peak_mb']:.1f} |",
        "",
        f"- base/recbole epoch ratio: **{r['base_recbole_ratio']:.2f}** (target <= {base_target}: "
        f"{ok(r['base_recbole_ratio'] <= base_target)})",
        f"- student/base epoch ratio (cached): **{r['ratio']:.2f}** (target <= 1.10: {ok(r['ratio'] <= 1.10)}); "
        f"on-the-fly: {r['otf_ratio']:.2f}",
        f"- soft-label diagnostics pass: {r['diagnostics_seconds']:.2f}s on the teachers' kept validation scores "
        f"vs one validation evaluation of each teacher {r['teacher_evaluation_seconds']:.2f}s: ratio "
        f"{r['diagnostics_ratio']:.2f} (target < 1: {ok(r['diagnostics_ratio'] < 1)}); teachers loaded from "
        f"the store (run forward again): {r['diagnostics_forward_seconds']:.2f}s, ratio "
        f"{r['diagnostics_forward_ratio']:.2f}; keeping the scores makes a validation evaluation "
        f"{r['keeping_ratio']:.2f}x as long",
        f"- cache build (one-off): {r['build_seconds']:.2f}s = {r['build_per_teacher']:.2f} Base epochs per "
        f"teacher (target <= 0.50: {ok(r['build_per_teacher'] <= 0.5)}); cache {r['cache_mb']:.1f} MB fp16, "
        f"build peak {r['build_peak_mb']:.1f} MB (default allocator)",
        f"- peak memory of the student phase: {r['student_peak_mb']:.1f} MB vs (Base {r['base_peak_mb']:.1f} + "
        f"cache {r['cache_mb']:.1f}) x 1.2 = {r['memory_limit_mb']:.1f} MB "
        f"({ok(r['student_peak_mb'] <= r['memory_limit_mb'])})",
        f"- end-to-end at {r['epochs']} epochs each: CSRec-{r['teacher'][0].upper()} {r['csrec_wall']:.2f}s "
        f"(teachers {r['teacher_fit']:.2f}s + cache {r['build_seconds']:.2f}s + student) / Base "
        f"{r['base_wall']:.2f}s = {r['wall_ratio']:.2f} (target <= (m+1) x 1.1 = {r['wall_target']:.2f}: "
        f"{ok(r['wall_ratio'] <= r['wall_target'])})",
        "", *(roofline_table(r) if "roofline" in r else []), "",
        *[f"- {line}" for line in (ratio_lines(r) if "roofline" in r else [])],
    ]


DOC_HEAD = """# Performance: CSRec student vs plain RecBole training

Generated by `run_scripts/bench_speed.py` (do not edit by hand: rerun the command of a section
to refresh it). Each section is one invocation: m teachers trained for the same number of epochs
(no validation), the soft-label cache built once, then RecBole as shipped (RecBole's model and
Trainer, autograd anomaly mode as importing RecBole leaves it: on), Base (the same model as CSRec
trains it for `--teacher=none`: anomaly mode off), the CSRec student on the cache and the CSRec
student with on-the-fly teacher inference, trained alternately epoch by epoch on the same loader
and batch size. s/epoch is the median of epochs 2..N (the
first epoch pays one-off allocations). Peak memory of a phase = peak allocation during a memory
pass of a few batches run after the timed epochs (so that the allocator setting that makes CPU
RSS measurable does not slow the timed epochs) above what was allocated before + what it keeps
resident (parameters, Adam state, cache or teachers); RSS sampled every 2 ms on CPU,
`torch.cuda.max_memory_allocated` on GPU. End-to-end wall time counts training epochs only
(validation is the same per epoch for every model).
"""


def summary_table(sections: dict[str, str]) -> str:
    """One row per section, from its raw figures: the targets side by side."""
    rows = ["", "## Summary (one row per section below)", "",
            "| model | dataset | torch threads | epochs | base/recbole | student/base | diagnostics / teacher evaluations "
            "| student peak MB (bound) |", "|---|---|---|---|---|---|---|---|"]
    for body in sections.values():
        found = re.search(r"```json\n(.*?)\n```", body, re.S)
        if not found:
            continue
        r = json.loads(found.group(1))
        threads = re.search(r"torch threads (\d+)", r.get("machine", {}).get("cpu", ""))
        cells = [r["model"], r["dataset"], threads.group(1) if threads else "?", str(r["epochs"])]
        for key in ("base_recbole_ratio", "ratio", "diagnostics_ratio"):
            cells.append(f"{r[key]:.2f}" if key in r else "n/a")
        cells.append(f"{r['student_peak_mb']:.0f} ({r['memory_limit_mb']:.0f})")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def write_doc(path: str, result: dict[str, Any], command: str, note: str) -> None:
    """Replace (or add) this model/dataset/teacher section of the doc and the summary above the
    sections; atomic write. Text between
    `<!-- notes -->` and `<!-- /notes -->` (written by hand, with its own commands) is kept."""
    key = f"{result['model']}-{result['dataset']}-{result['teacher']}"
    sections: dict[str, str] = {}
    notes = ""
    if os.path.isfile(path):
        with open(path) as handle:
            text = handle.read()
        for name, body in re.findall(r"<!-- bench:(\S+) -->\n(.*?)<!-- /bench -->\n", text, re.S):
            sections[name] = body
        kept = re.search(r"\n<!-- notes -->\n.*?<!-- /notes -->\n", text, re.S)
        notes = kept.group(0) if kept else ""
    machine = "; ".join(f"{k}: {v}" for k, v in result["machine"].items())
    body = [f"## {result['model']} on {result['dataset']} (teacher {result['teacher']}, m={result['m']})", "",
            f"`{command}`", "",
            f"{datetime.date.today().isoformat()}; {result['rows']} training rows"
            + (f" ({result['train_fraction']:g} of the sequences)" if result.get("train_fraction", 1) < 1 else "")
            + f", {result['items']} items, "
            f"batch {result['batch']}, MAX_ITEM_LIST_LENGTH {result['max_len']}, {result['epochs']} epochs.",
            f"Machine: {machine}.", *([f"Note: {note}"] if note else []), "",
            *report_lines(result), "",
            f"<details><summary>raw</summary>\n\n```json\n{json.dumps(result, indent=1, default=str)}\n```\n</details>",
            ""]
    sections[key] = "\n".join(body) + "\n"
    text = (DOC_HEAD + summary_table(sections) + notes
            + "".join(f"\n<!-- bench:{k} -->\n{v}<!-- /bench -->\n" for k, v in sections.items()))
    write_atomic(path, text)


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
