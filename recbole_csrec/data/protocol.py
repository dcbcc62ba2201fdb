"""The paper's protocol (section 4.1.1-4.1.2) as RecBole pre-split files.

raw interactions -> iterated k-core (users and items) -> each user's sequence in time order
(file order when there is no time column) -> consecutive NON-overlapping windows of L items
(a shorter tail is kept if it has >= 3 items, else dropped; `window_alignment="end_aligned"`
cuts them as the authors' code does instead, see cut_windows) -> per window leave-one-out:
last item = test, second-last = validation, every training prefix of length >= 1 = one training
sample. Each window gets its own user id `<user>_<k>`, so "a user" in RecBole is a window.

Output: `<output_dir>/<name>/<name>.{train,valid,test}.inter` (`item_id_list:token_seq`, target
`item_id:token`, the target's `rating:float`) plus `manifest.json` (sizes, sha256, statistics; written
last) and `<name>.yaml`, the RecBole settings that load them (pass it with --config_files). The
folder is written under a temp name, then renamed.

Real-world input is accepted as it comes (`clean_interactions`): a UTF-8 BOM, CRLF line ends,
ids with spaces, quotes, commas, non-ASCII characters or any length (re-encoded to safe tokens,
with `<name>.id_map.json` mapping them back; recbole_csrec.data.ids), duplicate rows, missing
ratings or timestamps. Every assumption made is recorded in the manifest and printed.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from recbole_csrec.checksums import file_sha256
from recbole_csrec.atomic import atomic_dir, write_atomic
from recbole_csrec.data.ids import encode_ids, id_map_file, id_map_text
from recbole_csrec.data.readers import Columns, clean_interactions, read_interactions
from recbole_csrec.errors import CSRecError

SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "recbole_csrec.prepared/1"
MIN_WINDOW = 3  # one training item, one validation target, one test target
WINDOW_SEP = "_"  # window user id = f"{user}{WINDOW_SEP}{k}"


@dataclass
class Stats:
    """Table 1 of the paper (after k-core, before windowing) and what windowing kept."""

    users: int
    items: int
    interactions: int
    length: int
    windows: int
    window_items: int
    window_interactions: int
    train_rows: int
    valid_rows: int
    test_rows: int
    notes: list[str] = field(default_factory=list)  # what was assumed about the input


def k_core(frame: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Drop users and items with < min_count interactions, repeated until nothing changes."""
    while True:
        users = frame["user"].map(frame["user"].value_counts())
        items = frame["item"].map(frame["item"].value_counts())
        keep = (users >= min_count) & (items >= min_count)
        if keep.all():
            return frame
        frame = frame[keep]


def order_sequences(frame: pd.DataFrame) -> pd.DataFrame:
    """Group by user (in order of first appearance); within a user by time, ties in file order."""
    frame = frame.reset_index(drop=True)
    frame["_pos"] = np.arange(len(frame))
    first = frame.groupby("user", sort=False)["_pos"].transform("min")
    keys = ["_first", "time", "_pos"] if "time" in frame else ["_first", "_pos"]
    frame = frame.assign(_first=first).sort_values(keys, kind="stable")
    return frame.drop(columns=["_pos", "_first"]).reset_index(drop=True)


# How a sequence longer than the window is cut (`--window-alignment`).
DISJOINT = "disjoint"        # ours: consecutive, non-overlapping windows from the start
END_ALIGNED = "end_aligned"  # the authors' code: the head window plus windows aligned to the end
WINDOW_ALIGNMENTS = (DISJOINT, END_ALIGNED)


def cut_windows(length: int, window: int, alignment: str = DISJOINT) -> list[tuple[int, int]]:
    """[start, end) of the windows of a sequence of `length` items.

    disjoint: consecutive non-overlapping windows; a tail shorter than 3 is dropped.
    end_aligned (the authors' code, dataloaders/utils.py with prop_sliding_window -1): a sequence
    of at most `window` items is one window; a longer one is the head [0, window) plus
    [length - k*window, length - k*window + window) for k = 1, 2, ... while length - k*window > 0.
    Every window is full, and the head overlaps the earliest end-aligned window unless `length`
    is a multiple of `window`: the validation and test items of one window are then training
    items of the other (a leak, kept only to reproduce the authors' numbers).
    """
    if alignment == END_ALIGNED:
        if length <= window:
            spans = [(0, length)]
        else:
            spans = [(0, window)] + [(length - k * window, length - k * window + window)
                                     for k in range(1, length // window + 1) if length - k * window > 0]
    elif alignment == DISJOINT:
        spans = [(s, min(s + window, length)) for s in range(0, length, window)]
    else:
        raise CSRecError(f"window alignment {alignment!r} is not accepted: use {' or '.join(WINDOW_ALIGNMENTS)}")
    return [(s, e) for s, e in spans if e - s >= MIN_WINDOW]


def split_windows(frame: pd.DataFrame, window: int,
                  alignment: str = DISJOINT) -> tuple[dict[str, pd.DataFrame], int]:
    """Leave-one-out rows for each window; returns ({split: rows}, number of windows)."""
    rows: dict[str, list] = {s: [] for s in SPLITS}
    has_rating = "rating" in frame
    n_windows = 0
    for user, group in frame.groupby("user", sort=False):
        items = group["item"].tolist()
        ratings = group["rating"].tolist() if has_rating else None
        for k, (start, end) in enumerate(cut_windows(len(items), window, alignment)):
            n_windows += 1
            uid = f"{user}{WINDOW_SEP}{k}"
            seq = items[start:end]
            for t in range(1, len(seq)):
                split = "test" if t == len(seq) - 1 else "valid" if t == len(seq) - 2 else "train"
                row = [uid, " ".join(seq[:t]), seq[t]]
                if has_rating:
                    row.append(ratings[start + t])
                rows[split].append(row)
    names = ["user_id", "item_id_list", "item_id"] + (["rating"] if has_rating else [])
    return {s: pd.DataFrame(r, columns=names) for s, r in rows.items()}, n_windows


def _header(has_rating: bool) -> list[str]:
    cols = ["user_id:token", "item_id_list:token_seq", "item_id:token"]
    return cols + (["rating:float"] if has_rating else [])


def dataset_yaml(name: str, window: int, has_rating: bool) -> dict[str, Any]:
    """The RecBole settings that load the pre-split files of `prepare_dataset`."""
    inter = ["user_id", "item_id_list", "item_id"] + (["rating"] if has_rating else [])
    config: dict[str, Any] = {
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": "rating",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": inter},
        "benchmark_filename": list(SPLITS),
        # Without the alias the list field gets its own id space (RecBole issue #1813).
        "alias_of_item_id": ["item_id_list"],
        "eval_args": {"order": "TO", "mode": "full"},
        "normalize_all": False,  # raw ratings for Recall+/NDCG+ (rating_threshold)
        # Full-ranking CE over all items: RecBole's default negative sampling clashes with CE.
        "train_neg_sample_args": None,
    }
    if has_rating:
        # RecBole's own Collector gathers LABEL_FIELD row-aligned for metrics needing data.label.
        config["LABEL_FIELD"] = "rating"
    config.update({
        "MAX_ITEM_LIST_LENGTH": window - 1,
    })
    return config


def write_manifest(folder: str, name: str, params: dict[str, Any], stats: Stats) -> None:
    """Record every file's size and sha256; written last, so its presence means 'complete'."""
    manifest = {"format": MANIFEST_FORMAT, "name": name, "params": params, "stats": asdict(stats),
                "files": _file_records(folder)}
    write_atomic(os.path.join(folder, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True))


def refresh_manifest(folder: str, derived: dict[str, Any]) -> None:
    """Re-record the sizes and hashes of a prepared dataset's files after they were derived from it
    (e.g. users removed), keeping its name and build parameters and noting how (`derived`), so
    that it still counts as complete and is not rebuilt over."""
    with open(os.path.join(folder, MANIFEST)) as handle:
        manifest = json.load(handle)
    manifest.update(files=_file_records(folder), derived=derived)
    write_atomic(os.path.join(folder, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True))


def _file_records(folder: str) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file in `folder` but the manifest."""
    records = {}
    for fname in sorted(os.listdir(folder)):
        path = os.path.join(folder, fname)
        if fname != MANIFEST and os.path.isfile(path):
            records[fname] = {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}
    return records


def read_manifest(folder: str) -> dict[str, Any] | None:
    """The manifest if the folder is a complete, unmodified prepared dataset, else None."""
    try:
        with open(os.path.join(folder, MANIFEST)) as handle:
            manifest = json.load(handle)
        if manifest.get("format") != MANIFEST_FORMAT or not manifest.get("files"):
            return None
        for fname, meta in manifest["files"].items():
            path = os.path.join(folder, fname)
            if os.path.getsize(path) != meta["bytes"] or file_sha256(path) != meta["sha256"]:
                return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def build_files(frame: pd.DataFrame, target_dir: str, name: str, window: int, min_count: int,
                params: dict[str, Any], alignment: str = DISJOINT) -> Stats:
    """k-core, windows, leave-one-out; write the three split files and the manifest into target_dir."""
    if alignment not in WINDOW_ALIGNMENTS:
        raise CSRecError(f"--window-alignment={alignment!r} is not accepted: use {' or '.join(WINDOW_ALIGNMENTS)}")
    if isinstance(window, bool) or not isinstance(window, int) or window < MIN_WINDOW:
        raise CSRecError(f"--window={window!r} is not accepted: an integer >= {MIN_WINDOW} "
                         "(one training, one validation and one test item)")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise CSRecError(f"--min-count={min_count!r} is not accepted: an integer >= 1")
    n_raw = len(frame)
    frame, notes = clean_interactions(frame)
    frame, id_map = encode_ids(frame)
    if id_map:
        roles = " and ".join(f"{role} ids" for role in id_map)
        notes.append(f"{roles} re-encoded to safe tokens (spaces, quotes, non-ASCII or long ids): "
                     f"{os.path.basename(id_map_file(target_dir, name))} maps them back")
        with open(id_map_file(target_dir, name), "w", encoding="utf-8") as handle:
            handle.write(id_map_text(id_map))  # inside the temp folder: renamed with the rest
    frame = order_sequences(k_core(frame, min_count))
    if frame.empty:
        raise CSRecError(f"nothing left of '{name}' ({n_raw} interactions) after the "
                         f"{min_count}-core filter: lower --min-count")
    splits, n_windows = split_windows(frame, window, alignment)
    if alignment == END_ALIGNED:
        notes.append("windows end-aligned as in the authors' code: overlapping windows leak one "
                     "window's validation/test items into another window's training rows")
    if n_windows == 0:
        raise CSRecError(f"no window of >= {MIN_WINDOW} items left in '{name}'")
    if splits["train"].empty:  # RecBole cannot load a dataset without training rows
        raise CSRecError(f"no training rows left in '{name}': its {n_windows} window(s) hold only "
                         "validation and test targets (more interactions per user, or a larger --window)")
    has_rating = "rating" in frame
    for split, rows in splits.items():
        path = os.path.join(target_dir, f"{name}.{split}.inter")
        rows.to_csv(path, sep="\t", index=False, header=_header(has_rating), quoting=csv.QUOTE_NONE)
    test = splits["test"]
    window_items = set(test["item_id"])
    for seq in test["item_id_list"]:
        window_items.update(seq.split(" "))
    stats = Stats(
        users=int(frame["user"].nunique()), items=int(frame["item"].nunique()),
        interactions=int(len(frame)), length=window, windows=n_windows,
        window_items=len(window_items),
        window_interactions=int(test["item_id_list"].str.count(" ").sum() + 2 * len(test)),
        train_rows=len(splits["train"]), valid_rows=len(splits["valid"]), test_rows=len(test),
        notes=notes,
    )
    write_manifest(target_dir, name, params, stats)
    return stats


def prepare_dataset(input_path: str, fmt: str, name: str, window: int, min_count: int = 5,
                    columns: Columns | None = None, output_dir: str = "dataset",
                    sep: str | None = None, explicit: tuple[str, ...] = (),
                    window_alignment: str = DISJOINT) -> Stats:
    """Read, filter, window and split `input_path`; write `<output_dir>/<name>/`, including the
    RecBole settings `<name>.yaml` (the one place for a prepared dataset's yaml).

    Raises CSRecError on bad input; nothing is left behind then.
    """
    if not name or any(c in name for c in "/\\ \t") or name.startswith("."):
        raise CSRecError(f"--name={name!r} is not accepted: a plain dataset name, e.g. yelp")
    columns = columns or Columns()
    frame = read_interactions(input_path, fmt, columns, sep=sep, explicit=explicit)
    if window_alignment not in WINDOW_ALIGNMENTS:  # before anything is written
        raise CSRecError(f"--window-alignment={window_alignment!r} is not accepted: use "
                         f"{' or '.join(WINDOW_ALIGNMENTS)}")
    params = {"input": os.path.basename(input_path), "format": fmt, "window": window,
              "min_count": min_count, "columns": asdict(columns)}
    if window_alignment != DISJOINT:
        params["window_alignment"] = window_alignment
    with atomic_dir(os.path.join(output_dir, name)) as tmp:
        stats = build_files(frame, tmp, name, window, min_count, params, window_alignment)
        # After the manifest: editing the yaml never makes the data count as changed.
        text = (f"# {name}: written by python -m recbole_csrec.prepare_cli (window {window}, "
                f"{window_alignment} windows, {min_count}-core); use with --config_files={dataset_yaml_path(output_dir, name)}\n"
                + yaml.safe_dump(dataset_yaml(name, window, "rating" in frame), sort_keys=False))
        write_atomic(os.path.join(tmp, f"{name}.yaml"), text)
    return stats


def dataset_yaml_path(output_dir: str, name: str) -> str:
    """Where `prepare_dataset` puts a prepared dataset's RecBole settings: next to its files."""
    return os.path.join(output_dir, name, f"{name}.yaml")


def format_stats(name: str, stats: Stats | dict[str, Any]) -> str:
    """Table 1 of the paper, plus what the windows kept."""
    s = stats if isinstance(stats, dict) else asdict(stats)
    lines = [
        "dataset\t#users\t#items\t#interactions\tlength",
        f"{name}\t{s['users']:,}\t{s['items']:,}\t{s['interactions']:,}\t{s['length']}",
        "",
        "#users are the input's users (sessions) after the k-core filter, before windowing.",
        f"windows (RecBole users): {s['windows']:,}; items in windows: {s['window_items']:,}; "
        f"interactions in windows: {s['window_interactions']:,} (tails < {MIN_WINDOW} items dropped)",
        f"rows: train {s['train_rows']:,}, valid {s['valid_rows']:,}, test {s['test_rows']:,}",
    ]
    lines += [f"assumed: {note}" for note in s.get("notes", [])]
    return "\n".join(lines)
