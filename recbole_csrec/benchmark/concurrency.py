"""Concurrent readers and writers on one teacher store: four processes at once, checked against
the same runs one after another.

The runs are what a search or a benchmark does to a shared store (CSRec-M, `teacher_store` and a
soft-label budget below the table, so the soft labels live in the disk cache):

- `reader-1`, `reader-2`: students on teacher set A (differing in beta), reading A's cache;
- `builder`: a student on teacher set B (the next seed), building B's cache;
- `deleter`: `rm -rf` of an old run (its saved folder and its soft-label cache) in the same store.

Serial: the three students, one after another, in a fresh store (the first trains set A and
builds its cache, the third trains set B and builds its cache). Concurrent: a second store that
holds the serial store's teachers and A's cache (hard links: no copy of a 15 GB table) and an old
run, and the four processes started together. Every process must exit 0, each student's test
result must equal its serial one, B's cache must have the serial content (its crc32), the old run
must be gone, and each process's peak RSS (from wait4) must stay within `soft_label_cache_mb`
plus the allowance. Children run with one torch thread (the results are deterministic then).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

RSS_ALLOWANCE_MB = 1536  # a disk-cache student's peak RSS target above its budget (issue 29)
STUDENTS = {"reader-1": ("A", 0.25), "reader-2": ("A", 0.75), "builder": ("B", 0.5)}


@dataclass
class Run:
    name: str
    exit_code: int
    seconds: float
    peak_rss_mb: float
    result: dict[str, Any] = field(default_factory=dict)


def student_settings(name: str, settings: dict[str, Any], root: str) -> dict[str, Any]:
    """The config of one student: teacher set A is seed S, set B seed S + 1."""
    teacher_set, beta = STUDENTS[name]
    seed = int(settings.get("seed", 2020)) + (teacher_set == "B")
    return {**settings, "teacher": "model", "seed": seed, "beta": beta,
            "teacher_store": os.path.join(root, "store"), "checkpoint_dir": os.path.join(root, "saved")}


def child_main(spec_file: str) -> None:
    """Entry point of one student process: train it, write what the parent compares."""
    from recbole_csrec.quick_start import run_recbole_csrec

    with open(spec_file) as handle:
        spec = json.load(handle)
    result = run_recbole_csrec(spec["model"], spec["dataset"], config_file_list=spec["config_files"],
                               config_dict=spec["config"])
    out = {"test_result": {k: float(v) for k, v in result["test_result"].items()}, "run_dir": result["run_dir"]}
    with open(spec["out"], "w") as handle:
        json.dump(out, handle)


def _start_student(name: str, root: str, model: str, dataset: str, config_files: list[str] | None,
                   settings: dict[str, Any]) -> tuple[subprocess.Popen, str]:
    spec = {"model": model, "dataset": dataset, "config_files": config_files,
            "config": student_settings(name, settings, root), "out": os.path.join(root, f"{name}.json")}
    spec_file = os.path.join(root, f"{name}.spec.json")
    with open(spec_file, "w") as handle:
        json.dump(spec, handle)
    code = f"from recbole_csrec.benchmark.concurrency import child_main; child_main({spec_file!r})"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(os.path.join(root, f"{name}.log"), "w") as log:  # the child keeps its own copy
        return subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=log, stderr=log), spec["out"]


def _wait(process: subprocess.Popen, started: float) -> tuple[int, float, float]:
    """Exit code, seconds and peak RSS (MB, from the kernel's rusage of that child)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def _collect(name: str, process: subprocess.Popen, out: str, started: float) -> Run:
    code, seconds, rss = _wait(process, started)
    result = {}
    if code == 0 and os.path.isfile(out):
        with open(out) as handle:
            result = json.load(handle)
    return Run(name, code, seconds, rss, result)


def run_serial(root: str, model: str, dataset: str, config_files: list[str] | None,
               settings: dict[str, Any], log: Callable[[str], None]) -> tuple[dict[str, Run], dict[str, str]]:
    """The three students one after another in a fresh store; also returns each teacher set's
    cache folder (the one that appeared while its first student ran)."""
    os.makedirs(root, exist_ok=True)
    runs, caches = {}, {}
    for name, (teacher_set, _) in STUDENTS.items():
        before = set(_cache_folders(os.path.join(root, "store")))
        started = time.perf_counter()
        process, out = _start_student(name, root, model, dataset, config_files, settings)
        runs[name] = _collect(name, process, out, started)
        log(_line("serial", runs[name], root))
        new = set(_cache_folders(os.path.join(root, "store"))) - before
        if teacher_set not in caches and len(new) == 1:
            caches[teacher_set] = new.pop()
    return runs, caches


def _cache_folders(store: str) -> list[str]:
    folder = os.path.join(store, "soft_labels")
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if os.path.isdir(folder) else []


def _link_tree(source: str, target: str) -> None:
    """A copy of `source` whose files are hard links (same bytes and mtimes, no disk used)."""
    shutil.copytree(source, target, copy_function=os.link)


def seed_concurrent_store(serial_root: str, root: str, serial: dict[str, Run], caches: dict[str, str]) -> dict[str, str]:
    """The concurrent store: the serial store's teacher entries and A's cache, plus an old run
    (a saved folder and a cache folder) for the deleter. Returns the old run's paths."""
    store, serial_store = os.path.join(root, "store"), os.path.join(serial_root, "store")
    os.makedirs(os.path.join(store, "soft_labels"))
    for key in os.listdir(serial_store):
        manifest = os.path.join(serial_store, key, "manifest.json")
        if os.path.isfile(manifest):
            with open(manifest) as handle:
                is_student = "student" in json.load(handle).get("trained_as", "")
            if not is_student:
                _link_tree(os.path.join(serial_store, key), os.path.join(store, key))
    _link_tree(os.path.join(serial_store, "soft_labels", caches["A"]), os.path.join(store, "soft_labels", caches["A"]))
    old = {"cache": os.path.join(store, "soft_labels", "old-run" + os.path.splitext(caches["B"])[1]),
           "saved": os.path.join(root, "saved", "old-run")}
    _link_tree(os.path.join(serial_store, "soft_labels", caches["B"]), old["cache"])
    _link_tree(serial["reader-1"].result["run_dir"], old["saved"])
    return old


def run_concurrent(root: str, model: str, dataset: str, config_files: list[str] | None,
                   settings: dict[str, Any], cache_a: str, old: dict[str, str],
                   log: Callable[[str], None]) -> dict[str, Run]:
    """The four processes started together; the deleter waits until a reader has mapped A's cache."""
    started = time.perf_counter()
    children = {name: _start_student(name, root, model, dataset, config_files, settings) for name in STUDENTS}
    reader = children["reader-1"][0]
    while not _exited(reader.pid) and cache_a not in _read(f"/proc/{reader.pid}/maps"):
        time.sleep(0.1)
    deleter = subprocess.Popen(["rm", "-rf", old["saved"], old["cache"]])
    runs = {"deleter": Run("deleter", *_wait(deleter, started))}
    runs.update({name: _collect(name, process, out, started) for name, (process, out) in children.items()})
    for run in runs.values():
        log(_line("concurrent", run, root))
    return runs


def _exited(pid: int) -> bool:
    """Whether a child has exited, without reaping it (wait4 reads its rusage later)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _line(mode: str, run: Run, root: str = "") -> str:
    line = f"{mode} {run.name}: exit {run.exit_code}, {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB"
    log = os.path.join(root, f"{run.name}.log")
    if run.exit_code and os.path.isfile(log):  # the child's last line says why
        line += " (" + (_read(log).strip().splitlines() or [""])[-1] + ")"
    return line


def check(serial: dict[str, Run], concurrent: dict[str, Run], serial_root: str, root: str,
          caches: dict[str, str], old: dict[str, str], budget_mb: float) -> list[str]:
    """Every way the concurrent runs differ from the serial ones (empty: none)."""
    problems = [f"{r.name} exited {r.exit_code}" for r in (*serial.values(), *concurrent.values()) if r.exit_code]
    for name in STUDENTS:
        if serial[name].result.get("test_result") != concurrent[name].result.get("test_result"):
            problems.append(f"{name}: test result differs from the serial run")
    limit = budget_mb + RSS_ALLOWANCE_MB
    problems += [f"{r.name}: peak RSS {r.peak_rss_mb:.0f} MB over {limit:.0f} MB"
                 for r in concurrent.values() if r.peak_rss_mb > limit]
    problems += [f"the old run's {what} was not deleted" for what, path in old.items() if os.path.exists(path)]
    from recbole_csrec.soft_labels.disk_cache import table_crcs

    stamps = [table_crcs(os.path.join(r, "store", "soft_labels", caches["B"])) for r in (serial_root, root)]
    if stamps[0] != stamps[1] or not stamps[0]:
        problems.append("teacher set B's cache built concurrently differs from the serial one")
    return problems


def run_concurrency(model: str, dataset: str, config_files: list[str] | None, settings: dict[str, Any],
                    root: str | None = None, keep: bool = False,
                    log: Callable[[str], None] = print) -> list[str]:
    """Serial runs, then the concurrent ones; returns the problems found (empty: all good)."""
    root = tempfile.mkdtemp(prefix="csrec-concurrency-", dir=root)
    # the children run in their own folders: paths given relative to here must still resolve
    config_files = [os.path.abspath(p) for p in config_files] if config_files else None
    settings = {**settings, **({"data_path": os.path.abspath(settings["data_path"])} if "data_path" in settings else {})}
    budget = float(settings["soft_label_cache_mb"])
    try:
        serial_root, concurrent_root = os.path.join(root, "serial"), os.path.join(root, "concurrent")
        serial, caches = run_serial(serial_root, model, dataset, config_files, settings, log)
        if set(caches) != {"A", "B"} or any(r.exit_code for r in serial.values()):
            return [f"the serial runs failed or built no disk cache ({caches}); logs in {serial_root}"]
        old = seed_concurrent_store(serial_root, concurrent_root, serial, caches)
        concurrent = run_concurrent(concurrent_root, model, dataset, config_files, settings, caches["A"], old, log)
        return check(serial, concurrent, serial_root, concurrent_root, caches, old, budget)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from recbole_csrec.errors import CSRecError, exit_code
    from recbole_csrec.overrides import OneLineParser, parse_overrides

    parser = OneLineParser(prog="concurrency.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="GRU4Rec")
    parser.add_argument("--dataset", required=True, help="a prepared dataset under --data_path")
    parser.add_argument("--config_files", default=None, help="space-separated yaml files")
    parser.add_argument("--root", default=None, help="folder for the two stores (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and logs")

    def run() -> int:
        args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        settings = {"epochs": 1, "soft_label_cache_mb": 1024, "show_progress": False, "state": "INFO",
                    **parse_overrides(extra)}
        if float(settings["soft_label_cache_mb"]) <= 0:
            raise CSRecError(f"--soft_label_cache_mb={settings['soft_label_cache_mb']} is not accepted: "
                             "a budget > 0 below the table's size (the soft labels must go to the disk cache)")
        started = time.perf_counter()
        problems = run_concurrency(args.model, args.dataset, args.config_files.split() if args.config_files else None,
                                   settings, args.root, args.keep)
        print(f"{time.perf_counter() - started:.0f} s in all")
        for problem in problems:
            print(f"problem: {problem}")
        print("concurrent runs: all finished, equal to the serial runs, within the RSS limit" if not problems
              else f"concurrent runs: {len(problems)} problems")
        return 1 if problems else 0

    return exit_code("concurrency.py", run)
