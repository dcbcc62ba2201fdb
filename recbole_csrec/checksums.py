"""Content checksums of files: sha256 for the dataset manifest and the teacher store's weights;
content stamps for the large derived files (the soft-label caches).

A stamp is a crc32 of the bytes and the size and modification time at which it was taken. A cache
is read at every run that uses it, and a Yelp-sized one is 7-15 GB: a full checksum on every open
would cost tens of seconds. A file whose size and mtime still equal its stamp's is trusted from
one stat; any other is read once and its crc32 compared (2.6 GB/s here), so a truncated file, an
edit or another cache copied in is caught. (A deliberate edit that restores the mtime is not:
this guards against accidents, not attackers.)
"""
from __future__ import annotations

import hashlib
import os
import zlib
from typing import Any

_BLOCK = 16 << 20  # bytes read per crc32 update


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def buffer_crc32(data: Any, crc: int = 0) -> int:
    """crc32 of a bytes-like object (a contiguous numpy array included), continued from `crc`."""
    return zlib.crc32(memoryview(data).cast("B"), crc)


def file_crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            crc = zlib.crc32(block, crc)
    return crc


def take_stamp(path: str, crc32: int | None = None) -> dict[str, int]:
    """The stamp of a finished, flushed file (`crc32` when the writer computed it as it wrote)."""
    info = os.stat(path)
    return {"bytes": info.st_size, "mtime_ns": info.st_mtime_ns,
            "crc32": file_crc32(path) if crc32 is None else crc32}


def stamp_problem(path: str, stamp: Any) -> str | None:
    """Why `path` is not the file `stamp` was taken of (None when it is)."""
    if not isinstance(stamp, dict) or not {"bytes", "mtime_ns", "crc32"} <= set(stamp):
        return f"'{path}' has no content stamp (written by an earlier version, or edited)"
    try:
        info = os.stat(path)
    except OSError as error:
        return f"'{path}' cannot be read ({error.strerror})"
    if info.st_size != stamp["bytes"]:
        return f"'{path}' has {info.st_size} bytes, not the {stamp['bytes']} it was written with (truncated or edited)"
    if info.st_mtime_ns == stamp["mtime_ns"]:
        return None
    if file_crc32(path) != stamp["crc32"]:
        return f"'{path}' was edited after it was written (crc32 differs)"
    return None
