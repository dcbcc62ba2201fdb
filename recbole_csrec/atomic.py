"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Every output of the package (weight files, caches, results, docs, prepared datasets, teacher
store entries) is written under a temp name in the same folder (so the rename is atomic) and
renamed when complete. One permission rule for all of them: the result gets the mode a plain
`open()` / `os.makedirs()` would give it (0o666 / 0o777 less the umask), not the private
0600 / 0700 of `mkstemp` / `mkdtemp`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from typing import Iterator

REJECTED = ".rejected"  # where files that must not be used are moved (move_aside)


def _umask_mode(mode: int) -> int:
    """`mode` less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_file(path: str, suffix: str | None = None) -> Iterator[str]:
    """Yield a temp path next to `path`; when the block ends without error it becomes `path`.

    The temp name keeps `path`'s extension (writers such as matplotlib read the format from it).
    On error the temp file is removed and `path` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1] if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o666))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: str | bytes) -> None:
    """Write text or bytes to `path` atomically (flushed to disk before the rename)."""
    with atomic_file(path) as tmp:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def make_temp_dir(parent: str, prefix: str) -> str:
    """A new empty folder under `parent` (same file system as the final one) with the normal mode."""
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(tmp, _umask_mode(0o777))
    return tmp


def replace_dir(tmp: str, folder: str) -> None:
    """Move the finished `tmp` folder to `folder`, replacing an old one (never half a folder)."""
    old = None
    if os.path.exists(folder):
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(os.path.abspath(folder)))
        os.replace(folder, os.path.join(old, "x"))
    os.replace(tmp, folder)
    if old:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(folder: str, replace: bool = True) -> Iterator[str]:
    """Yield a temp folder next to `folder`; when the block ends without error it becomes `folder`.

    `replace=False` never replaces an existing `folder`: the rename then raises OSError (for
    content-keyed entries, where an existing folder is a finished copy of the same thing).
    The temp folder is removed on error.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    tmp = make_temp_dir(parent, f".tmp-{os.path.basename(folder)}-")
    try:
        yield tmp
        if replace:
            replace_dir(tmp, folder)
        else:
            os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def move_aside(path: str, rejected_dir: str) -> str:
    """Move a file or folder that must not be used into `rejected_dir` (kept for inspection, never
    read again) and return its new path; another process moving it first is not an error."""
    os.makedirs(rejected_dir, exist_ok=True)
    aside = os.path.join(rejected_dir, f"{os.path.basename(path)}-{int(time.time())}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError:  # already moved by another process
        pass
    return aside


def discard(path: str) -> None:
    """Remove a file or folder that must not be used: renamed first (atomic: no later reader sees
    half of it; processes that hold it open keep reading it), then deleted; another process
    discarding it first is not an error. For large derived files (caches) that are rebuilt."""
    gone = os.path.join(os.path.dirname(os.path.abspath(path)), f".discard-{os.path.basename(path)}-{os.getpid()}")
    try:
        os.replace(path, gone)
    except OSError:  # already discarded by another process
        return
    if os.path.isdir(gone):
        shutil.rmtree(gone, ignore_errors=True)
    else:
        os.remove(gone)
