"""The exact soft-label table on disk, for catalogues whose table exceeds `soft_label_cache_mb`.

At 188,569 training rows x 20,034 items (the paper's Yelp) one fp16 table is 7.6 GB. Instead of
falling back to on-the-fly teachers, the table is written once, next to the teachers in the
teacher store, as a folder (written under a temp name, then renamed: never half a cache):

    <store>/soft_labels/<key>.disk/
        meta.json             format, ensemble mode, shape, training-row fingerprint, stamps
        logits.f16            [tables, n_rows, n_items] fp16, row-max shifted (as the RAM cache)
        tempered-<T>/         per temperature T a student asked for (ensemble: logits):
            log_probs.f16     [n_rows, n_items] fp16 log softmax(e_u / T)
            q_log_q.f32       [n_rows] sum_j q_j log q_j
            stamp.json        the content stamps of both

Every table file has a content stamp (checksums.py): one that is truncated or edited after it
was written is refused (CSRecError; placement.py deletes the cache and builds it again), a
tempered table is deleted and tempered again.

Students sharing the teachers (search trials differing in beta or T) share the folder; the first
to ask for a T writes its tempered table (one pass), after which a step reads its batch's rows
exactly as from the RAM cache: one row gather, no softmax. Reads go through a read-only memory
map: the page cache holds the file once for every process; each process drops its own mapped
pages every RELEASE_BYTES of reads (madvise DONTNEED), so its RSS stays bounded however large
the table.
"""
from __future__ import annotations

import json
import mmap
import os
import shutil
from logging import getLogger

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_csrec.atomic import atomic_dir, discard, write_atomic
from recbole_csrec.checksums import buffer_crc32, stamp_problem, take_stamp
from recbole_csrec.errors import CSRecError
from recbole_csrec.soft_labels.base import SoftLabelBatch, SoftLabelSource
from recbole_csrec.soft_labels.cache import (PATH_EXACT, ROW_ID_FIELD, add_row_ids, cache_bytes, cache_meta,
                                             teacher_logit_chunks, training_fingerprint)
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble, combine_teacher_logits

PATH_DISK = "disk"
DISK_FORMAT = "recbole_csrec.soft_label_disk/1"
DISK_SUFFIX = ".disk"
RELEASE_BYTES = 256 * 2 ** 20   # mapped bytes a process reads before it drops its mapped pages
_CHUNK_ROWS = 2048              # rows per pass when tempering
_LOGITS, _LOG_PROBS, _Q_LOG_Q, _STAMP = "logits.f16", "log_probs.f16", "q_log_q.f32", "stamp.json"


def disk_bytes_needed(n_rows: int, n_items: int, tables: int, mode: str) -> int:
    """Disk the cache takes: the logits, plus one tempered table for `ensemble: logits`."""
    exact = cache_bytes(PATH_EXACT, n_rows, n_items, tables)
    return exact + (cache_bytes(PATH_EXACT, n_rows, n_items, 1) + 4 * n_rows if mode == "logits" else 0)


class MappedArray:
    """A read-only fp16/fp32 file of known shape, mapped; `take(rows)` copies rows out."""

    def __init__(self, file: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        size = os.path.getsize(file) if os.path.isfile(file) else -1
        if size != expected:
            raise CSRecError(f"soft-label cache file '{file}' has {size} bytes, not the {expected} "
                             f"of a {list(shape)} {np.dtype(dtype).name} table (truncated or edited)")
        self._fd = os.open(file, os.O_RDONLY)  # row reads (take); closed with the object
        with open(file, "rb") as handle:
            self._mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self.array = np.frombuffer(self._mmap, dtype=dtype).reshape(shape)
        self._read = 0

    def take(self, rows: np.ndarray, axis: int = 0) -> np.ndarray:
        if axis == 0 and self.array.ndim == 2:
            return self._read_rows(rows)
        out = np.take(self.array, rows, axis=axis)
        self._read += out.nbytes
        if self._read >= RELEASE_BYTES:
            self.release()
        return out

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows by pread into one buffer, not through the mapping: gathering random rows from the
        map maps whole page-cache folios into this process (measured: 82 MB of rows put 1.9 GB in
        its RSS), a read copies only the bytes asked for."""
        row_bytes = self.array.shape[1] * self.array.itemsize
        out = np.empty((len(rows), self.array.shape[1]), dtype=self.array.dtype)
        view = memoryview(out).cast("B")
        for position, row in enumerate(np.asarray(rows, dtype=np.int64).tolist()):
            os.preadv(self._fd, [view[position * row_bytes:(position + 1) * row_bytes]], row * row_bytes)
        return out

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        """Drop this process's mapped pages (the page cache keeps them for the next read)."""
        self._mmap.madvise(mmap.MADV_DONTNEED)
        self._read = 0


def _temperature_name(temperature: float) -> str:
    return f"tempered-{float(temperature)!r}"


def _read_json(file: str):
    with open(file, encoding="utf-8") as handle:
        return json.load(handle)


def table_crcs(folder: str) -> dict[str, int]:
    """The recorded crc32 of every table file of the cache `folder` (relative path -> crc32);
    empty when there is no such folder."""
    if not os.path.isdir(folder):
        return {}
    stamps = _read_json(os.path.join(folder, "meta.json")).get("stamps", {})
    for tempered in sorted(n for n in os.listdir(folder) if n.startswith("tempered-")):
        stamps.update({f"{tempered}/{name}": stamp
                       for name, stamp in _read_json(os.path.join(folder, tempered, _STAMP)).items()})
    return {name: stamp["crc32"] for name, stamp in stamps.items()}


def _tempered_problem(folder: str) -> str | None:
    """Why the tempered table in `folder` must not be read (None when it is intact)."""
    try:
        stamps = _read_json(os.path.join(folder, _STAMP))
    except (OSError, ValueError):
        return f"'{folder}' has no readable {_STAMP}"
    for name in (_LOG_PROBS, _Q_LOG_Q):
        problem = stamp_problem(os.path.join(folder, name), stamps.get(name) if isinstance(stamps, dict) else None)
        if problem:
            return problem
    return None


class DiskSoftLabels(SoftLabelSource):
    """The exact cache read from a `<key>.disk` folder (module docstring)."""

    path = PATH_DISK

    def __init__(self, folder: str, dataset=None) -> None:
        self.folder = folder
        meta_file = os.path.join(folder, "meta.json")
        try:
            with open(meta_file, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError) as error:
            raise CSRecError(f"soft-label cache '{folder}' has no readable meta.json ({error})") from None
        if not isinstance(info, dict) or info.get("format") != DISK_FORMAT:
            raise CSRecError(f"'{folder}' is not a recbole_csrec disk soft-label cache ({DISK_FORMAT})")
        self.mode, self.meta = info["mode"], info["meta"]
        if dataset is not None:
            add_row_ids(dataset)
            if self.meta["fingerprint"] != training_fingerprint(dataset) or \
                    self.meta["n_items"] != int(dataset.item_num):
                raise CSRecError(f"soft-label cache '{folder}' was built for other training data "
                                 f"({self.meta['n_rows']} rows x {self.meta['n_items']} items)")
        shape = (self.meta["tables"], self.meta["n_rows"], self.meta["n_items"])
        logits_file = os.path.join(folder, _LOGITS)
        problem = stamp_problem(logits_file, info.get("stamps", {}).get(_LOGITS))
        if problem:
            raise CSRecError(f"soft-label cache {problem}")
        self.logits = MappedArray(logits_file, np.float16, shape)
        self._tempered: tuple[float, MappedArray, np.ndarray] | None = None

    @property
    def nbytes(self) -> int:
        return self.logits.array.nbytes

    def batch(self, interaction: Interaction, temperature: float) -> SoftLabelBatch:
        rows = interaction[ROW_ID_FIELD]
        index = rows.cpu().numpy()
        if self.mode != "logits":
            logits = torch.from_numpy(self.logits.take(index, axis=1))
            return SoftLabelBatch(combine_teacher_logits(logits.to(rows.device), temperature, self.mode), None)
        _, log_probs, q_log_q = self._tempered_table(float(temperature))
        return SoftLabelBatch(torch.from_numpy(log_probs.take(index)).to(rows.device),
                              torch.from_numpy(q_log_q[index]).to(rows.device))

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        return self.batch(interaction, temperature).log_probs.float()

    def _tempered_table(self, temperature: float) -> tuple[float, MappedArray, np.ndarray]:
        if self._tempered is None or self._tempered[0] != temperature:
            folder = os.path.join(self.folder, _temperature_name(temperature))
            problem = _tempered_problem(folder) if os.path.isdir(folder) else None
            if problem:
                discard(folder)
                getLogger().warning(f"soft labels: tempered table not used: {problem}; deleted, tempered again")
            if not os.path.isdir(folder):
                self._write_tempered(temperature, folder)
            n_rows, n_items = self.meta["n_rows"], self.meta["n_items"]
            q_log_q = MappedArray(os.path.join(folder, _Q_LOG_Q), np.float32, (n_rows,)).array
            self._tempered = (temperature, MappedArray(os.path.join(folder, _LOG_PROBS), np.float16,
                                                       (n_rows, n_items)), q_log_q)
        return self._tempered

    @torch.no_grad()
    def _write_tempered(self, temperature: float, folder: str) -> None:
        """log softmax(e_u / T) and sum q log q of every row, in chunks (bounded memory)."""
        getLogger().info(f"soft labels: tempering the disk cache for T={temperature} ({folder})")
        table = self.logits.array[0]
        crcs = {_LOG_PROBS: 0, _Q_LOG_Q: 0}
        try:
            with atomic_dir(folder, replace=False) as tmp:
                with open(os.path.join(tmp, _LOG_PROBS), "wb") as probs_file, \
                        open(os.path.join(tmp, _Q_LOG_Q), "wb") as entropy_file:
                    for start in range(0, table.shape[0], _CHUNK_ROWS):
                        chunk = torch.from_numpy(np.array(table[start:start + _CHUNK_ROWS], dtype=np.float32))
                        log_q = torch.log_softmax(chunk.div_(temperature), dim=-1)
                        for name, handle, values in ((_Q_LOG_Q, entropy_file, (log_q.exp() * log_q).nansum(dim=-1)),
                                                     (_LOG_PROBS, probs_file, log_q.to(torch.float16))):
                            data = values.numpy()
                            handle.write(data.tobytes())
                            crcs[name] = buffer_crc32(data, crcs[name])
                        self.logits.release()
                    for handle in (probs_file, entropy_file):
                        handle.flush()
                        os.fsync(handle.fileno())
                stamps = {name: take_stamp(os.path.join(tmp, name), crc) for name, crc in crcs.items()}
                write_atomic(os.path.join(tmp, _STAMP), json.dumps(stamps, indent=1))
        except OSError:
            if not os.path.isdir(folder):  # not a concurrent writer that finished first
                raise


@torch.no_grad()
def build_disk_cache(source: TeacherEnsemble, dataset, folder: str, batch_size: int = 4096,
                     device: torch.device | str = "cpu", show_progress: bool = False) -> DiskSoftLabels:
    """Run the frozen teachers once over every training row and write the table to `folder`
    (atomically; a folder another process finished first is used as it is)."""
    add_row_ids(dataset)
    tables = 1 if source.mode == "logits" else len(source.teachers)
    meta = cache_meta(dataset, tables)
    n_rows, n_items = meta["n_rows"], meta["n_items"]
    row_bytes = n_items * 2
    try:
        with atomic_dir(folder, replace=False) as tmp:
            with open(os.path.join(tmp, _LOGITS), "wb") as handle:
                handle.truncate(tables * n_rows * row_bytes)
                fd = handle.fileno()
                for rows, logits in teacher_logit_chunks(source, dataset, batch_size, device, show_progress):
                    values = logits.to(torch.float16).cpu().numpy()
                    for table in range(tables):
                        for position, row in enumerate(rows.tolist()):
                            os.pwrite(fd, values[table, position].tobytes(), (table * n_rows + row) * row_bytes)
                handle.flush()
                os.fsync(fd)
            stamps = {_LOGITS: take_stamp(os.path.join(tmp, _LOGITS))}  # rows came out of order: read back once
            write_atomic(os.path.join(tmp, "meta.json"), json.dumps(
                {"format": DISK_FORMAT, "mode": source.mode, "meta": meta, "stamps": stamps}, indent=1))
    except OSError:
        if not os.path.isdir(folder):
            raise
    return DiskSoftLabels(folder, dataset)


def disk_free_bytes(folder: str) -> int:
    """Free bytes on the file system that holds (or will hold) `folder`."""
    probe = folder
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return shutil.disk_usage(probe or ".").free
