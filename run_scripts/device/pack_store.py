"""The teacher-store entries a device call trained, packed into at most 5 tar files of ~15 MiB
(what a device call can bring back), the most wanted first: by the order of --models, then
teachers before students (students are rows already; teachers are what later phases reuse)."""
from __future__ import annotations

import argparse
import json
import os
import tarfile

CHUNK_BYTES = 15 * 2 ** 20
MAX_FILES = 5


def new_entries(store: str, since: float, models: list[str]) -> list[tuple[tuple[int, bool], int, str]]:
    """(priority, bytes, key) of each complete entry written after `since`."""
    entries = []
    for key in os.listdir(store):
        folder = os.path.join(store, key)
        if key.startswith(".") or key == "soft_labels" or not os.path.isfile(os.path.join(folder, "manifest.json")):
            continue
        if os.path.getmtime(folder) < since:
            continue
        with open(os.path.join(folder, "manifest.json")) as handle:
            fields = json.load(handle)["fields"]
        model = fields["model"]
        rank = (models.index(model) if model in models else len(models),
                fields.get("objective", "") == "csrec-student")
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        entries.append((rank, size, key))
    return sorted(entries)


def pack(store: str, entries: list[tuple[tuple[int, bool], int, str]], output: str) -> int:
    """Writes store_<n>.tar files into `output`; returns how many entries went in."""
    chunk: list[str] = []
    used = files = packed = 0
    for _, size, key in entries + [((0, False), CHUNK_BYTES + 1, "")]:  # the sentinel flushes
        if chunk and used + size > CHUNK_BYTES:
            with tarfile.open(os.path.join(output, f"store_{files}.tar"), "w") as tar:
                for name in chunk:
                    tar.add(os.path.join(store, name), arcname=name)
            files, packed, chunk, used = files + 1, packed + len(chunk), [], 0
            if files >= MAX_FILES:
                break
        if key:
            chunk.append(key)
            used += size
    return packed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, help="the teacher store (…/teacher_store)")
    parser.add_argument("--since", required=True, help="a file: entries newer than it are packed")
    parser.add_argument("--output", required=True)
    parser.add_argument("--models", nargs="*", default=[], help="models in order of priority")
    args = parser.parse_args()
    entries = new_entries(args.store, os.path.getmtime(args.since), args.models)
    packed = pack(args.store, entries, args.output)
    print(f"store: {len(entries)} new entries, {packed} packed into tar files")


if __name__ == "__main__":
    main()
