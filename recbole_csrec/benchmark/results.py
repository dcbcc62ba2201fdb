"""The results CSV: one row per run, extended atomically, never overwritten.

Columns (a user's own RecBole rows need only the first five plus metric columns):

- `model`, `dataset`, `seed`; `teacher` (none/pop/model/data/training; a plain RecBole run is
  `none`) and/or `method` (Base/SoftRec/CSRec-M/...; filled from `teacher` when empty);
- `valid_<metric>` / `test_<metric>` for every RecBole metric key, e.g. `test_ndcg@10`,
  `test_recall+@10` (RecBole's lower-case result keys, values as fractions, not %);
- written by the runner: `seconds`, `config_hash`, `run_id`, `per_user_file` (relative to the
  CSV's folder), `epochs`, `best_epoch`, `stopped_early` (the student stopped before the epoch
  cap), `phases` (each phase's epochs, seconds, store key, reuse), `peak_rss_mb`, `config_files`,
  `overrides`, `machine`, `finished_at`;
- `diag_<name>`: the run's soft-label diagnostics (`result["diagnostics"]`, see
  recbole_csrec/soft_labels/diagnostics.py), e.g. `diag_ensemble_popular_mass`. Optional: rows
  from before the diagnostics, Base rows and runs with `diagnostics: False` leave them empty.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import platform
from typing import Any, Iterable, Iterator

import pandas as pd

from recbole_csrec.atomic import atomic_file

KEY_COLUMNS = ["model", "dataset", "teacher", "seed", "config_hash"]
FRONT_COLUMNS = ["model", "dataset", "teacher", "method", "seed"]
DIAG_PREFIX = "diag_"


def config_hash(config_files: Iterable[str] | None, settings: dict[str, Any]) -> str:
    """A short stable hash of what defines a run besides model/dataset/teacher/seed:
    the content of the config files and the extra settings."""
    files = []
    for path in config_files or []:
        with open(path, "rb") as handle:
            files.append([os.path.basename(path), hashlib.sha1(handle.read()).hexdigest()])
    payload = json.dumps({"files": files, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:10]


def read_results(path: str) -> pd.DataFrame:
    """The rows of a results CSV as strings (exactly as stored); empty frame if absent.

    A file that git's union merge (.gitattributes) made from two versions of different widths
    (a lane's row added `diag_` columns and `append_rows` rewrote every row wider) holds a second
    header line and every older row twice: each header's block is read with its own header, and a
    row repeated in both is kept once, in its widest form, where it first appeared. The next
    `append_rows` writes the file whole again.
    """
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return pd.DataFrame()
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    header_start = "\n" + ",".join(text.split("\n", 1)[0].split(",")[:2]) + ","  # "\nmodel,dataset,"
    blocks = text.split(header_start)
    frames = [pd.read_csv(io.StringIO(block if i == 0 else header_start[1:] + block), dtype=str,
                          keep_default_na=False) for i, block in enumerate(blocks)]
    return frames[0] if len(frames) == 1 else _merge_widths(frames)


def _merge_widths(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Blocks of one results file under headers of different widths, as one frame (read_results)."""
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    shared = [c for c in columns if all(c in frame.columns for frame in frames)]
    rows = pd.concat(frames, ignore_index=True).reindex(columns=columns).fillna("")
    rows["_row"] = rows.groupby(shared, sort=False).ngroup()  # numbered where each row first appears
    rows["_filled"] = (rows[columns] != "").sum(axis=1)
    widest = rows.sort_values(["_row", "_filled"], kind="stable").drop_duplicates("_row", keep="last")
    return widest.drop(columns=["_row", "_filled"]).reset_index(drop=True)


def done_keys(frame: pd.DataFrame) -> set[tuple[str, ...]]:
    """(model, dataset, teacher, seed, config_hash) of the rows already present."""
    if frame.empty or not set(KEY_COLUMNS) <= set(frame.columns):
        return set()
    return {tuple(str(v) for v in row) for row in frame[KEY_COLUMNS].itertuples(index=False)}


def diagnostic_cells(diagnostics: dict[str, float] | None) -> dict[str, float]:
    """A run's diagnostics as results columns: `diag_<name>` -> float."""
    return {f"{DIAG_PREFIX}{name}": float(value) for name, value in (diagnostics or {}).items()}


PHASE_FIELDS = ("seed", "best_epoch", "epochs", "seconds", "reused", "trained_as", "store_key",
                "resumed_after_epoch")


def phase_cell(phases: dict[str, dict[str, Any]] | None) -> str:
    """Every phase of a run (teachers and student) as one JSON cell: its seed, best epoch, epochs
    trained, seconds, whether the teacher store gave it (`reused`, `trained_as`) and, for a phase
    that went on from a cut-off run, the last epoch that run had validated (`resumed_after_epoch`;
    its epochs and seconds count both runs), so a report can show each phase's convergence and
    count trained against reused phases."""
    cells = {name: {k: phase[k] for k in PHASE_FIELDS if k in phase}
             for name, phase in (phases or {}).items()}
    for cell in cells.values():
        if "store_key" in cell:
            cell["store_key"] = str(cell["store_key"])[:16]
    return json.dumps(cells, sort_keys=True, separators=(",", ":"))


def diagnostic_columns(frame: pd.DataFrame) -> list[str]:
    """The `diag_` columns a results frame has (none for CSVs written before the diagnostics)."""
    return [c for c in frame.columns if c.startswith(DIAG_PREFIX)]


def append_rows(path: str, rows: list[dict[str, Any]]) -> None:
    """Add `rows` to the CSV at `path`, keeping every existing row and column as stored.

    New columns are added at the end (existing rows get empty cells); the new file is written
    under a temporary name and renamed over the old one, so a crash leaves the old file whole.
    Read, merge and rename happen under an exclusive lock on the CSV's folder, so
    benchmark processes sharing one results file (say, one per seed) never drop each other's
    rows; a row whose run key another process has added meanwhile is not added twice.
    """
    with _locked(path):
        existing = read_results(path)
        done = done_keys(existing)
        rows = [row for row in rows if tuple(_cell(row.get(k)) for k in KEY_COLUMNS) not in done]
        if not rows:
            return
        new = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows], dtype=str)
        columns = list(existing.columns) if not existing.empty else []
        if not columns:
            columns = [c for c in FRONT_COLUMNS if c in new.columns]
        columns += [c for c in new.columns if c not in columns]
        merged = pd.concat([existing, new], ignore_index=True).reindex(columns=columns).fillna("")
        write_frame(path, merged)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """flock on the CSV's folder (the CSV itself is replaced by rename; no lock file is left)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_frame(path: str, frame: pd.DataFrame, compression: str | None = None) -> None:
    """Write a DataFrame as CSV atomically (temp + rename, flushed to disk before the rename)."""
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as handle:
            frame.to_csv(handle, index=False, mode="wb", compression=compression)
            handle.flush()
            os.fsync(handle.fileno())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


@functools.lru_cache(maxsize=None)
def machine_description() -> str:
    """CPU/GPU, cores and library versions: what a timing was measured on (one machine per process:
    computed once)."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {device}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")
