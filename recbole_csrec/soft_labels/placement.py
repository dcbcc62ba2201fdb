"""Where a student's soft labels live, decided once per run and logged with its reason:

1. `exact` in memory, when the fp16 table fits `soft_label_cache_mb`;
2. `topk`: the top-K approximation, when the user asked for it (`soft_label_topk: K > 0`) and it
   fits the budget;
3. `disk`: the exact table written once under the teacher store and memory-mapped
   (disk_cache.py), when a store is in use and its disk has room (the default over budget);
4. `on-the-fly`: the teachers run on every student batch (the authors' code); always with
   `soft_label_cache_mb: 0`.

Only teacher ensembles are cached (Base has no teacher; SoftRec's logits are already fixed). A
stored cache that fails its checks is deleted (one warning) and built again: kept aside, a
Yelp-sized one would hold 15 GB of disk that nothing reads.
"""
from __future__ import annotations

import os
from logging import getLogger
from time import time
from typing import Callable

from recbole_csrec.atomic import discard
from recbole_csrec.errors import CSRecError
from recbole_csrec.soft_labels.base import SoftLabelSource
from recbole_csrec.soft_labels.cache import (PATH_EXACT, PATH_ON_THE_FLY, PATH_TOPK, cache_bytes,
                                             build_soft_label_cache, load_soft_label_cache)
from recbole_csrec.soft_labels.disk_cache import (DISK_SUFFIX, PATH_DISK, DiskSoftLabels, build_disk_cache,
                                                  disk_bytes_needed, disk_free_bytes)
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble

_DISK_MARGIN = 2 ** 30  # free disk left over after a disk cache is written


def plan_cache(n_rows: int, n_items: int, tables: int, budget_mb: float, topk: int = 0,
               mode: str = "logits", disk_folder: str | None = None) -> tuple[str, str]:
    """(path, reason) in the order of the module docstring. `disk_folder` is where a disk cache
    would go (None: no teacher store, so no disk cache)."""
    if float(budget_mb) <= 0:
        return PATH_ON_THE_FLY, f"soft_label_cache_mb={budget_mb}: no cache, teachers run on every student batch"
    budget = float(budget_mb) * 2 ** 20
    exact = cache_bytes(PATH_EXACT, n_rows, n_items, tables)
    shape = f"{tables} x {n_rows} rows x {n_items} items fp16 = {exact / 2 ** 20:.1f} MB"
    if exact <= budget:
        return PATH_EXACT, f"exact cache ({shape}) fits soft_label_cache_mb={budget_mb}"
    reason = f"exact cache ({shape}) exceeds soft_label_cache_mb={budget_mb}"
    if 0 < topk < n_items - 1:
        approx = cache_bytes(PATH_TOPK, n_rows, n_items, tables, topk)
        if approx <= budget:
            return PATH_TOPK, f"{reason}; top-{topk} approximation ({approx / 2 ** 20:.1f} MB) fits"
        reason += f"; top-{topk} approximation ({approx / 2 ** 20:.1f} MB) does not fit either"
    if disk_folder is None:
        reason += "; no disk cache without a teacher store (reuse_teachers=False)"
    else:
        needed, free = disk_bytes_needed(n_rows, n_items, tables, mode), disk_free_bytes(disk_folder)
        if needed + _DISK_MARGIN <= free:
            return PATH_DISK, (f"{reason}: exact table on disk ({needed / 2 ** 20:.0f} MB with one tempered "
                               f"copy; {free / 2 ** 20:.0f} MB free) at {disk_folder}")
        reason += f"; a disk cache needs {needed / 2 ** 20:.0f} MB + 1 GB spare, {free / 2 ** 20:.0f} MB free"
    return PATH_ON_THE_FLY, reason + ": teachers run on every student batch"


def disk_cache_folder(cache_file: str) -> str:
    """The disk cache's folder beside the store's in-memory cache file (same key)."""
    return os.path.splitext(cache_file)[0] + DISK_SUFFIX


def cache_soft_labels(source: SoftLabelSource | None, config, train_data,
                      cache_file: str | None = None) -> SoftLabelSource | None:
    """The source the student should use: a cache of `source` over `train_data` where one fits.

    With `cache_file` (the teacher store's), an existing cache (file, or disk folder beside it)
    is used instead of running the teachers, and a new one is written there.
    """
    if not isinstance(source, TeacherEnsemble):
        return source
    logger = getLogger()
    dataset = train_data._dataset
    device = config["device"]
    disk_folder = disk_cache_folder(cache_file) if cache_file else None
    if cache_file and os.path.isfile(cache_file):
        cache = _stored_cache(cache_file, lambda: load_soft_label_cache(cache_file, dataset, device, source.mode))
        if cache is not None:
            logger.info(f"soft labels: {cache.path} cache loaded from {cache_file} ({cache.nbytes / 2 ** 20:.1f} MB)")
            return cache
    tables = 1 if source.mode == "logits" else len(source.teachers)
    topk = int(config["soft_label_topk"] or 0)
    if disk_folder and os.path.isdir(disk_folder):
        cache = _stored_cache(disk_folder, lambda: _open_disk_cache(disk_folder, dataset, source.mode))
        if cache is not None:
            logger.info(f"soft labels: disk cache opened at {disk_folder} ({cache.nbytes / 2 ** 20:.1f} MB)")
            return cache
    path, reason = plan_cache(len(dataset), int(dataset.item_num), tables,
                              float(config["soft_label_cache_mb"]), topk, source.mode, disk_folder)
    if path == PATH_ON_THE_FLY:
        logger.info(f"soft labels: on-the-fly teacher inference ({reason})")
        return source
    start = time()
    batch_size = max(int(config["eval_batch_size"]), int(config["train_batch_size"]))
    if path == PATH_DISK:
        cache = build_disk_cache(source, dataset, disk_folder, batch_size, device, bool(config["show_progress"]))
        logger.info(f"soft labels: disk cache built in {time() - start:.2f}s ({reason})")
        return cache
    cache = build_soft_label_cache(source, dataset, path, topk, batch_size, device,
                                   bool(config["show_progress"]))
    logger.info(f"soft labels: {path} cache built in {time() - start:.2f}s "
                f"({cache.nbytes / 2 ** 20:.1f} MB on {device}; {reason})")
    if cache_file:
        cache.save(cache_file)
        logger.info(f"soft labels: cache written to {cache_file}")
    return cache


def _open_disk_cache(folder: str, dataset, mode: str) -> DiskSoftLabels:
    cache = DiskSoftLabels(folder, dataset)
    if cache.mode != mode:
        raise CSRecError(f"soft-label cache '{folder}' holds ensemble '{cache.mode}', not '{mode}'")
    return cache


def _stored_cache(path: str, open_cache: Callable[[], SoftLabelSource]) -> SoftLabelSource | None:
    """The teacher store's cache at `path`, or None when it must not be used (truncated, edited,
    of other data, from an earlier version): then it is deleted, with one warning, and the caller
    builds it again from the stored teachers."""
    try:
        return open_cache()
    except CSRecError as problem:
        discard(path)
        getLogger().warning(f"soft labels: {problem}; not used: deleted, built again")
        return None
