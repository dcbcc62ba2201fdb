"""Fault injection: kill (SIGKILL) a whole experiment at random moments, rerun it, check the end.

The experiment is what a user runs: `prepare` a synthetic raw file, then a one-row benchmark
(GRU4Rec with CSRec-M: two teachers published to the teacher store, the soft-label cache, the
student, the results row and its per-user file). Each trial starts it in a fresh folder, kills it
at a seeded random point (a step drawn uniformly, then a random moment within it), runs it again
to the end and compares the end state with the uninterrupted reference: the same dataset files, the same
teacher-store keys (every entry complete and loadable with weights_only=True), the same
soft-label cache files, exactly one results row with the same metrics, and its per-user file.

Children are forked from a forkserver that imported the package once (a fresh process per run
without the import cost, and no torch state inherited from the caller).
"""
from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

NAME = "synth"
SETTINGS: dict[str, Any] = {
    "data_path": "dataset", "checkpoint_dir": "saved", "teacher_store": "store", "epochs": 3,
    "train_batch_size": 64, "eval_batch_size": 256, "embedding_size": 32, "hidden_size": 32,
    "show_progress": False, "state": "ERROR", "use_gpu": False, "num_teachers": 2,
    "preset": "paper",  # a synthetic dataset trained with the paper's settings, as ml and lastfm
}
METRIC_PREFIXES = ("test_", "valid_")


# The writers whose files later runs read, told apart by the module on the call stack.
WRITERS = {
    "prepared dataset": "recbole_csrec/data/protocol.py",
    "phase resume state": "recbole_csrec/resume.py",
    "teacher-store entry": "recbole_csrec/teachers/store.py",
    "disk soft-label cache": "recbole_csrec/soft_labels/disk_cache.py",
    "results row": "recbole_csrec/benchmark/results.py",
}
FAULT_CALLS = ("replace", "pwrite", "fsync")  # os functions where a write can fail or commit
FAULT_COUNTS = "fault-counts.json"


def _writer_on_stack() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename.replace(os.sep, "/")
        for writer, module in WRITERS.items():
            if name.endswith(module):
                return writer
        frame = frame.f_back
    return None


def install_fault(workdir: str, fault: tuple[str, int] | None) -> None:
    """Wrap os.replace/pwrite/fsync: count each writer's calls (written to FAULT_COUNTS at exit),
    and with `fault` = (writer, n) raise OSError(ENOSPC) at that writer's n-th call."""
    import atexit
    import errno
    import json

    counts: dict[str, int] = {}

    def wrap(original):
        def call(*args, **kwargs):
            writer = _writer_on_stack()
            if writer is not None:
                counts[writer] = counts.get(writer, 0) + 1
                if fault is not None and (writer, counts[writer]) == tuple(fault):
                    raise OSError(errno.ENOSPC, f"No space left on device (injected: {writer}, call {fault[1]})")
            return original(*args, **kwargs)
        return call

    for name in FAULT_CALLS:
        setattr(os, name, wrap(getattr(os, name)))
    path = os.path.join(os.path.abspath(workdir), FAULT_COUNTS)
    atexit.register(lambda: open(path, "w").write(json.dumps(counts)))


def workload(workdir: str, disk_cache: bool = False) -> None:
    """One experiment in `workdir` (relative paths, so every folder gives the same run keys);
    `disk_cache`: the soft labels go to the disk cache (a budget below the table's size)."""
    from recbole_csrec.benchmark.runner import run_benchmark
    from recbole_csrec.data.protocol import Columns, prepare_dataset
    from recbole_csrec.overrides import recbole_argv

    os.chdir(workdir)
    prepare_dataset(os.path.join("raw", "raw.inter"), "atomic", NAME, window=8, min_count=1,
                    columns=Columns(), output_dir="dataset")
    with recbole_argv():
        counts = run_benchmark(["GRU4Rec"], [NAME], ["model"], [1], output="results",
                               config_files=[os.path.join("dataset", NAME, f"{NAME}.yaml")],
                               config_dict={**SETTINGS, **({"soft_label_cache_mb": 0.01} if disk_cache else {})})
    if counts["failed"]:
        raise RuntimeError("the benchmark run failed")


def _child(workdir: str, disk_cache: bool = False, fault: tuple[str, int] | None = None,
           count: bool = False) -> None:
    sys.stdout = sys.stderr = open(os.devnull, "w")  # the parent prints the trial lines
    if count or fault is not None:
        install_fault(workdir, fault)
    try:
        workload(workdir, disk_cache)
    finally:
        if count or fault is not None:  # atexit does not run in a forked child: write now
            import atexit
            atexit._run_exitfuncs()


def _noop() -> None:
    """Starts the forkserver (its imports) before anything is timed."""


def end_state(workdir: str) -> dict[str, Any]:
    """What an experiment leaves behind that later runs use; raises if something is corrupt."""
    import pandas as pd
    import torch

    from recbole_csrec.benchmark.results import read_results
    from recbole_csrec.checkpoint import load_weights
    from recbole_csrec.data.protocol import read_manifest
    from recbole_csrec.soft_labels.disk_cache import DiskSoftLabels
    from recbole_csrec.teachers.store import PARTIAL, TeacherStore

    folder = os.path.join(workdir, "dataset", NAME)
    manifest = read_manifest(folder)
    if manifest is None:
        raise ValueError("the dataset is incomplete or changed")
    dataset = {name: meta["sha256"] for name, meta in manifest["files"].items()}
    store = TeacherStore(os.path.join(workdir, "store"))
    entries = sorted(e for e in os.listdir(store.root) if not e.startswith(".") and e != "soft_labels")
    # A finished run leaves no resume state: every phase that wrote one was published.
    partial = os.path.join(store.root, PARTIAL)
    partials = sorted(n for n in os.listdir(partial) if n.endswith(".pth")) if os.path.isdir(partial) else []
    for key in entries:
        entry = store.get(key)
        if entry is None:
            raise ValueError(f"store entry {key} is incomplete")
        load_weights(entry.weights)
    # Temp files a killed writer left (".tmp-...") are never read: only complete names count.
    caches = sorted(n for n in os.listdir(os.path.join(store.root, "soft_labels")) if not n.startswith("."))
    hashes: dict[str, str] = {}
    for name in caches:
        path = os.path.join(store.root, "soft_labels", name)
        if name.endswith(".disk"):
            DiskSoftLabels(path)._tempered_table(_tempered_t(path))  # maps every file, sizes checked
            hashes[name] = _folder_hash(path)
        else:
            torch.load(path, weights_only=True)
    frame = read_results(os.path.join(workdir, "results", "results.csv"))
    if len(frame) != 1:
        raise ValueError(f"{len(frame)} results rows instead of 1")
    row = frame.iloc[0]
    metrics = {c: float(row[c]) for c in frame.columns if c.startswith(METRIC_PREFIXES)}
    per_user = os.path.join(workdir, "results", "per_user", f"{row['run_id']}.csv.gz")
    ranks = pd.read_csv(per_user)
    return {"dataset": dataset, "store": entries, "partials": partials, "caches": caches, "cache_hashes": hashes, "metrics": metrics,
            "per_user_rows": len(ranks), "run_id": row["run_id"]}


def _folder_hash(folder: str) -> str:
    """A folder's content; in its json files the content stamps' mtimes are left out (a rerun
    writes the same bytes at another time)."""
    import hashlib
    import json

    def without_mtimes(value):
        if isinstance(value, dict):
            return {k: without_mtimes(v) for k, v in value.items() if k != "mtime_ns"}
        return value

    digest = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            digest.update(name.encode())
            with open(os.path.join(base, name), "rb") as handle:
                data = handle.read()
            if name.endswith(".json"):
                data = json.dumps(without_mtimes(json.loads(data)), sort_keys=True).encode()
            digest.update(data)
    return digest.hexdigest()


def _tempered_t(folder: str) -> float:
    """The temperature of the (one) tempered table a disk cache holds."""
    names = [n for n in os.listdir(folder) if n.startswith("tempered-")]
    if len(names) != 1:
        raise ValueError(f"disk cache {folder} holds {len(names)} tempered tables, not 1")
    return float(names[0][len("tempered-"):])


def _store_entries(workdir: str) -> list[str]:
    store = os.path.join(workdir, "store")
    if not os.path.isdir(store):
        return []
    return [e for e in os.listdir(store) if not e.startswith(".") and e != "soft_labels"]


def _dataset_ready(workdir: str) -> bool:
    return os.path.isfile(os.path.join(workdir, "dataset", NAME, "manifest.json"))


def _cache_ready(workdir: str) -> bool:
    folder = os.path.join(workdir, "store", "soft_labels")
    return os.path.isdir(folder) and any(name.endswith((".pt", ".disk")) for name in os.listdir(folder))


def _per_user_ready(workdir: str) -> bool:
    folder = os.path.join(workdir, "results", "per_user")
    return os.path.isdir(folder) and any(name.endswith(".csv.gz") for name in os.listdir(folder))


# The steps of the experiment, each with what shows on disk that it has begun. A kill point is
# a step (drawn uniformly) plus a random moment inside it, so that short steps (store publish,
# results append) are hit as often as long ones.
STEPS: list[tuple[str, Callable[[str], bool]]] = [
    ("prepare", lambda workdir: True),
    ("dataset load, teacher-1 training and publish", _dataset_ready),
    ("teacher-2 training and publish", lambda workdir: len(_store_entries(workdir)) >= 1),
    ("soft-label cache build", lambda workdir: len(_store_entries(workdir)) >= 2),
    ("student training and evaluation", _cache_ready),
    ("per-user file and results append", _per_user_ready),
]


def differences(state: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    found = [key for key in ("dataset", "store", "partials", "caches", "cache_hashes", "per_user_rows", "run_id")
             if state[key] != reference[key]]
    for name, value in reference["metrics"].items():
        if abs(state["metrics"].get(name, float("nan")) - value) > 1e-9 or name not in state["metrics"]:
            found.append(f"metric {name}")
    return found


@dataclass
class Trial:
    number: int
    step: int
    fraction: float
    interrupted: str
    ok: bool
    detail: str
    writer: str = ""  # the writer an injected OSError hit ("" for a kill)


class _Runner:
    """Starts the experiment in forkserver children: whole, killed at a moment, or with an OSError
    injected into one writer's n-th call; remembers the reference run's step lengths."""

    def __init__(self, disk_cache: bool) -> None:
        self.context = multiprocessing.get_context("forkserver")
        # Everything a run imports, so that the timed runs are the experiment itself.
        self.context.set_forkserver_preload(["recbole_csrec.benchmark.faults", "recbole_csrec.quick_start",
                                             "recbole_csrec.benchmark.runner", "recbole_csrec.evaluation",
                                             "recbole.data", "recbole.trainer", "torch.utils.tensorboard"])
        self.disk_cache = disk_cache
        self.step_lengths: list[float] = []
        warm = self.context.Process(target=_noop)
        warm.start()
        warm.join()

    def run(self, workdir: str, step: int | None = None, fraction: float = 0.0,
            fault: tuple[str, int] | None = None, count: bool = False) -> int | None:
        """Exit code of the run in `workdir`; None when killed (`step`: SIGKILL `fraction` of the
        reference step's length after that step began)."""
        from recbole_csrec.data.synthetic import write_chain_dataset

        if not os.path.isdir(os.path.join(workdir, "raw")):  # the user's raw file: not under test
            write_chain_dataset(workdir, "raw", users=60, items=40, length=16, seed=7)
        process = self.context.Process(target=_child, args=(workdir, self.disk_cache, fault, count))
        begun: list[float] = []
        start = time.perf_counter()
        process.start()
        kill_at = None
        while process.is_alive():
            now = time.perf_counter() - start
            while len(begun) < len(STEPS) and STEPS[len(begun)][1](workdir):
                begun.append(now)
            if step is not None and kill_at is None and len(begun) > step:
                kill_at = begun[step] + fraction * self.step_lengths[step]
            if kill_at is not None and now >= kill_at:
                process.kill()  # SIGKILL: no cleanup handlers, no atexit
                process.join()
                return None
            time.sleep(0.005)
        process.join()
        if step is None and fault is None and not self.step_lengths:  # the reference run
            ends = begun[1:] + [time.perf_counter() - start]
            self.step_lengths.extend(b - a for a, b in zip(begun, ends))
        return process.exitcode


def _check_rerun(runner: _Runner, workdir: str, reference: dict[str, Any]) -> tuple[bool, str]:
    rerun_code = runner.run(workdir)
    try:
        if rerun_code != 0:
            raise RuntimeError(f"the rerun exited with {rerun_code}")
        found = differences(end_state(workdir), reference)
        return not found, ("same end state" if not found else "differs: " + ", ".join(found))
    except Exception as error:  # corrupt or lost: report, go on
        return False, f"{type(error).__name__}: {error}"


def run_trials(trials: int = 20, seed: int = 0, root: str | None = None, keep: bool = False,
               log=print, disk_cache: bool = False, fault: str = "kill") -> list[Trial]:
    """Reference run, then `trials` fault-and-rerun trials; returns one Trial per fault.

    `fault`: `kill` (SIGKILL at a random moment of a random step) or `oserror` (OSError ENOSPC
    injected into a writer's n-th os.replace/pwrite/fsync call, writers taken in turn, `trials`
    per writer). `disk_cache`: the soft labels go to the disk cache."""
    import json

    root = tempfile.mkdtemp(prefix="csrec-faults-", dir=root)
    rng = random.Random(seed)
    runner = _Runner(disk_cache)
    try:
        code = runner.run(os.path.join(root, "reference"), count=True)
        if code != 0 or len(runner.step_lengths) < len(STEPS):
            raise RuntimeError(f"the uninterrupted reference run failed (exit {code})")
        reference = end_state(os.path.join(root, "reference"))
        with open(os.path.join(root, "reference", FAULT_COUNTS)) as handle:
            calls = json.load(handle)
        log(f"reference run: {sum(runner.step_lengths):.1f} s; steps: "
            + ", ".join(f"{name} {length:.2f} s" for (name, _), length in zip(STEPS, runner.step_lengths))
            + "; write calls per writer: " + ", ".join(f"{w} {calls.get(w, 0)}" for w in WRITERS))
        targets = [w for w in WRITERS if calls.get(w)]
        plan = [(None, None)] * trials if fault == "kill" else [(w, None) for _ in range(trials) for w in targets]
        results = []
        for number, (writer, _) in enumerate(plan, 1):
            workdir = os.path.join(root, f"trial-{number}")
            step, fraction = rng.randrange(len(STEPS)), rng.random()
            if writer is None:
                code = runner.run(workdir, step, fraction)
                when = f"{STEPS[step][0]} ({fraction:.0%} in)" if code is None else "nothing (finished first)"
            else:
                nth = rng.randint(1, calls[writer])
                code = runner.run(workdir, fault=(writer, nth))
                when = f"OSError in {writer}, call {nth} of {calls[writer]}" + (" (it exited 0?)" if code == 0 else "")
            ok, detail = _check_rerun(runner, workdir, reference)
            results.append(Trial(number, step, fraction, when, ok, detail, writer or ""))
            log(f"trial {number}: {'killed during ' if writer is None else ''}{when}; rerun: {detail}")
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
        return results
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from recbole_csrec.errors import CSRecError, exit_code
    from recbole_csrec.overrides import OneLineParser

    parser = OneLineParser(prog="fault_injection.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="kill-and-rerun trials (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--root", default=None, help="folder for the trial folders (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the trial folders")
    parser.add_argument("--fault", choices=["kill", "oserror"], default="kill",
                        help="kill: SIGKILL at random moments; oserror: ENOSPC injected per writer "
                             "(--trials per writer)")
    parser.add_argument("--disk_cache", action="store_true", help="the soft labels go to the disk cache")

    def run() -> int:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if args.trials < 1:
            raise CSRecError(f"--trials={args.trials} is not accepted: an integer >= 1")
        started = time.perf_counter()
        trials = run_trials(args.trials, args.seed, args.root, args.keep, disk_cache=args.disk_cache,
                            fault=args.fault)
        bad = sum(not t.ok for t in trials)
        print(f"{time.perf_counter() - started:.0f} s in all")
        if args.fault == "oserror":
            for writer in WRITERS:
                hit = [t for t in trials if t.writer == writer]
                print(f"{writer}: faults {len(hit)}, lost or corrupt {sum(not t.ok for t in hit)}")
        print(f"fault trials: {len(trials)}, lost or corrupt: {bad}")
        return 1 if bad else 0

    return exit_code("fault_injection.py", run)
