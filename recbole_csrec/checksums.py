"""Content checksums of files: one reader for the dataset manifest and the teacher store."""
from __future__ import annotations

import hashlib


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
