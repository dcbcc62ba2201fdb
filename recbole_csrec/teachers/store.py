"""Teacher store: every trained teacher kept once, keyed by exactly what determines it.

A key is the sha256 of a canonical JSON of the key fields: the dataset files' content hash,
the model's config (architecture hyperparameters and the training settings that shape its
weights), the phase seed, the training objective (`ce`: the model's own loss, as RecBole trains
it; `main-teacher`: CSRec-T's g1 with the noise model; `csrec-student`: a student distilled
from stored teachers, whose keys and the student keys enter as extra fields) and any extra
fields a builder passes (e.g. `sample_ratio` for a model trained on a subsample, `alpha` for the
CSRec-T main teacher).
The key describes the model, not the role it plays: a Base run with seed s, CSRec-M's teacher
with seed s and any other plain phase with that seed on the full training data are one entry;
CSRec-D's teacher and CSRec-T's side teacher with the same seed and ratio are another.
Student-only keys (beta, temperature, kl_direction, ...) never enter a teacher's key, so a
search over them trains each teacher once; a student's key has them.

Layout: `<store>/<key>/weights.pth` (a `recbole_csrec.checkpoint` weight file, loads with
weights_only=True) and `<store>/<key>/manifest.json` (key fields and the phase result); while a
phase trains, `<store>/.partial/<key>.pth` holds its resume state (recbole_csrec.resume), so a
phase killed mid-way goes on from its last validated epoch; it is removed once the entry is published.
An entry is written to a temp folder and renamed when complete; `<store>/.locks/<key>.lock`
(fcntl.flock) makes concurrent requests for one key train it once. The same mechanism resumes
interrupted experiments: finished teachers are found, only missing ones are trained.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import threading
from logging import getLogger
from dataclasses import dataclass
from typing import Any, Iterator

from recbole.config import Config
from torch import nn

from recbole_csrec.version import __version__ as PACKAGE_VERSION
from recbole_csrec.checksums import file_sha256
from recbole_csrec.atomic import REJECTED, atomic_dir, move_aside
from recbole_csrec.checkpoint import config_meta, load_into, plain, save_weights
from recbole_csrec.keys import keyed_only_when_set, unhashed_keys

KEY_VERSION = 2  # 2: keyed by model (objective) instead of teacher kind and role
WEIGHTS = "weights.pth"
MANIFEST = "manifest.json"
PARTIAL = ".partial"  # resume states of phases being trained (dot: not an entry)

# Keys of the teacher's config that cannot change its weights or its stored results: where files
# go, logging, hardware placement; and every CSRec key the table (recbole_csrec/keys.py) leaves out
# of the hash (the `builder` ones are entered explicitly by the phases that need them, so that
# e.g. beta/T never split the store). `data_path` is replaced by the content hash of the dataset.
RECBOLE_NON_DETERMINING_KEYS = frozenset({
    "data_path", "checkpoint_dir", "dataset_save_path", "dataloaders_save_path", "save_dataset",
    "save_dataloaders", "show_progress", "state", "log_wandb", "wandb_project", "device", "gpu_id",
    "use_gpu", "local_rank", "nproc", "world_size", "offset", "ip", "port", "single_spec", "worker",
    "eval_batch_size", "config_files", "params_file", "tensorboard",
})
NON_DETERMINING_KEYS = RECBOLE_NON_DETERMINING_KEYS | unhashed_keys()

# Keys that determine a model only when set: at these values they are left out of the key, so that
# teachers stored before the key existed (trained the same way) keep their keys.
KEYED_ONLY_WHEN_SET = keyed_only_when_set()

_fingerprints: dict[tuple, str] = {}
_fingerprint_lock = threading.Lock()


def dataset_fingerprint(data_path: str) -> str:
    """sha256 over the names and contents of the files under `data_path` (the dataset folder).

    Cached per process on (name, size, mtime) of every file, so a changed file is re-hashed.
    """
    data_path = os.path.abspath(data_path)
    files = []
    for root, dirs, names in os.walk(data_path):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            stat = os.stat(path)
            files.append((os.path.relpath(path, data_path), stat.st_size, stat.st_mtime_ns))
    signature = (data_path, tuple(files))
    with _fingerprint_lock:
        if signature in _fingerprints:
            return _fingerprints[signature]
    digest = hashlib.sha256()
    for rel, _, _ in files:
        digest.update(rel.encode() + b"\0")
        with open(os.path.join(data_path, rel), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    with _fingerprint_lock:
        _fingerprints[signature] = digest.hexdigest()
    return _fingerprints[signature]


PLAIN_OBJECTIVE = "ce"  # the model trained with its own loss (what RecBole's run_recbole does)
OBJECTIVES = (PLAIN_OBJECTIVE, "main-teacher", "csrec-student")


def teacher_key_fields(teacher_config: Config, seed: int, extra: dict[str, Any] | None = None,
                       objective: str = PLAIN_OBJECTIVE) -> dict[str, Any]:
    """Everything that determines one trained model, as plain JSON values."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown training objective {objective!r}: accepted are {', '.join(OBJECTIVES)}")
    model_config = {k: plain(v) for k, v in teacher_config.final_config_dict.items()
                    if k not in NON_DETERMINING_KEYS and KEYED_ONLY_WHEN_SET.get(k, object()) != v}
    # The run's `seed` reaches a phase only through the data split (every phase seeds its model,
    # dropout and shuffling from its own seed, the "seed" field below). Time-ordered splits are
    # deterministic, so there it cannot matter, and a Base run seeded s is CSRec-M's teacher seeded s.
    if _ordering(teacher_config) == "TO":
        model_config.pop("seed", None)
    return {
        "version": KEY_VERSION,
        "dataset": teacher_config["dataset"],
        "dataset_sha256": dataset_fingerprint(teacher_config["data_path"]),
        "model": teacher_config["model"],
        "objective": objective,
        "seed": int(seed),
        "extra": plain(dict(extra or {})),
        "config": model_config,
    }


def _ordering(config: Config) -> str | None:
    eval_args = config["eval_args"] or {}
    return eval_args.get("order") if isinstance(eval_args, dict) else None


def teacher_key(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class StoredTeacher:
    key: str
    folder: str
    manifest: dict[str, Any]

    @property
    def weights(self) -> str:
        return os.path.join(self.folder, WEIGHTS)

    def load_into(self, model: nn.Module) -> None:
        load_into(model, self.weights)


class TeacherStore:
    """A folder of complete teacher entries; safe for concurrent use by processes and threads."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def folder(self, key: str) -> str:
        return os.path.join(self.root, key)

    def resume_file(self, key: str) -> str:
        """Where the phase of `key` keeps its resume state while it trains."""
        return os.path.join(self.root, PARTIAL, f"{key}.pth")

    def get(self, key: str) -> StoredTeacher | None:
        """The complete, intact entry for `key`, or None. Only renamed (finished) folders exist;
        one that is truncated, edited or holds another key's entry is moved aside (one log line
        naming it) and None is returned, so that the phase is trained again."""
        folder = self.folder(key)
        manifest_path = os.path.join(folder, MANIFEST)
        if not (os.path.isfile(manifest_path) and os.path.isfile(os.path.join(folder, WEIGHTS))):
            return None
        try:
            with open(manifest_path) as handle:
                manifest = json.load(handle)
            problem = _entry_problem(key, folder, manifest)
        except (OSError, ValueError) as error:
            manifest, problem = {}, f"its manifest cannot be read ({error})"
        if problem is None:
            written_by = manifest.get("package_version")
            if written_by and written_by != PACKAGE_VERSION:
                getLogger().info(f"teacher store entry {folder} was written by recbole_csrec {written_by} "
                                 f"(this is {PACKAGE_VERSION}); same key format {KEY_VERSION}: used")
            return StoredTeacher(key, folder, manifest)
        aside = move_aside(folder, os.path.join(self.root, REJECTED))
        getLogger().warning(f"teacher store entry {folder} is not used: {problem}; moved to {aside}, "
                            "the phase is trained again")
        return None

    @contextlib.contextmanager
    def lock(self, key: str, blocking: bool = True) -> Iterator[bool]:
        """Exclusive per-key lock (flock: works across processes, and across threads that
        each open the lock file). The holder trains; others wait and then find the entry.
        Yields whether the lock is held (always True when blocking)."""
        lock_dir = os.path.join(self.root, ".locks")
        os.makedirs(lock_dir, exist_ok=True)
        with open(os.path.join(lock_dir, f"{key}.lock"), "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def publish(self, key: str, fields: dict[str, Any], model: nn.Module,
                result: dict[str, Any], config: Config | None = None, phase: str = "") -> StoredTeacher:
        """Write weights + manifest to a temp folder, then rename it to `<store>/<key>`.
        Call while holding `lock(key)`. `config` (the model's) lets
        recbole_csrec.utils.load_data_and_model rebuild its data from the weight file; `phase`
        names the phase that trained it (a record only: the key does not depend on it)."""
        os.makedirs(self.root, exist_ok=True)
        # Leftovers of a crashed writer of this key (we hold its lock, so none is live).
        for stale in glob.glob(os.path.join(self.root, f".tmp-{key}-*")):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            with atomic_dir(self.folder(key), replace=False) as tmp:
                meta = {"store_key": key, "phase": phase, "model": fields.get("model", "")}
                if config is not None:
                    meta["config"] = config_meta(config)
                save_weights(model, os.path.join(tmp, WEIGHTS), meta)
                manifest = {"key": key, "fields": fields, "trained_as": phase, "result": result,
                            "weights_sha256": file_sha256(os.path.join(tmp, WEIGHTS)),
                            "package_version": PACKAGE_VERSION}
                with open(os.path.join(tmp, MANIFEST), "w") as handle:
                    json.dump(manifest, handle, indent=1, sort_keys=True, default=str)
        except OSError:
            if self.get(key) is None:  # the target exists but is not a complete entry
                raise
        return self.get(key)

    def soft_label_file(self, teacher_keys: list[str], **fields: Any) -> str:
        """Where the soft-label cache of these stored teachers lives, so that every student
        trained on them (e.g. search trials differing only in beta/T) builds it once."""
        key = teacher_key({"teachers": list(teacher_keys), **fields})
        return os.path.join(self.root, "soft_labels", f"{key}.pt")


def _entry_problem(key: str, folder: str, manifest: Any) -> str | None:
    """Why an entry must not be loaded (None when it is intact): another key's entry, fields that
    do not hash to its key, or weights that are not the ones it was published with."""
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return "it holds another entry (its manifest names another key)"
    if not isinstance(manifest.get("fields"), dict) or teacher_key(manifest["fields"]) != key:
        return "its key fields do not hash to its key (edited or copied from elsewhere)"
    expected = manifest.get("weights_sha256")
    if expected is not None and file_sha256(os.path.join(folder, WEIGHTS)) != expected:
        return "its weights file is truncated or edited (sha256 differs from the one it was published with)"
    return None


def default_store_path(config: Config) -> str:
    """`teacher_store`, or `<checkpoint_dir>/teacher_store` when it is unset."""
    return config["teacher_store"] or os.path.join(config["checkpoint_dir"], "teacher_store")
