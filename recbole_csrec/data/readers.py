"""Reading a raw interaction file in any of prepare's formats (atomic, csv, sequences) into
user, item[, rating][, time] columns, and the assumptions that make real files usable."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recbole_csrec.errors import CSRecError


@dataclass
class Columns:
    """Input column names; rating and time are optional (None = absent)."""

    user: str = "user_id"
    item: str = "item_id"
    rating: str | None = "rating"
    time: str | None = "timestamp"



# Input formats prepare reads (prepare_cli's --format choices come from here).
INPUT_FORMATS = {
    "atomic": "a RecBole .inter file",
    "csv": "a delimited file with a header",
    "sequences": "one user per line, 'user item item ...' in time order (the SASRec/S3Rec files)",
}


def read_sequences_file(path: str, sep: str | None = None) -> pd.DataFrame:
    """A sequences file (one user per line: the user id, then the user's items in time order,
    separated by whitespace or `sep`) as columns user, item, time (time = position in the line).
    Blank lines are skipped; a user listed twice continues their sequence."""
    users, items, positions = [], [], []
    next_position: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline=None) as handle:  # BOM dropped, CRLF read
        for line in handle:
            fields = [f.strip() for f in (line.split(sep) if sep else line.split())]
            fields = [f for f in fields if f]
            if not fields:
                continue
            user, sequence = fields[0], fields[1:]
            start = next_position.get(user, 0)
            users += [user] * len(sequence)
            items += sequence
            positions += range(start, start + len(sequence))
            next_position[user] = start + len(sequence)
    return pd.DataFrame({"user": users, "item": items, "time": np.asarray(positions, dtype=float)})


def read_atomic_file(path: str, sep: str = "\t") -> pd.DataFrame:
    """A RecBole atomic file as strings in file order, columns named by field (`item_id:token`
    -> `item_id`); the full header is kept in `frame.attrs["header"]` for writing it back."""
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE,
                      encoding="utf-8-sig")  # utf-8-sig: a BOM is not part of the first name
    header = [c.strip() for c in raw.columns]
    raw.columns = [c.split(":", 1)[0] for c in header]
    raw.attrs["header"] = header
    return raw


def write_atomic_file(frame: pd.DataFrame, path: str) -> None:
    """Write a frame read by `read_atomic_file` back with its header, as `build_files` writes."""
    frame.to_csv(path, sep="\t", index=False, header=list(frame.attrs["header"]), quoting=csv.QUOTE_NONE)


def _read_sequences(path: str, sep: str | None, explicit: tuple[str, ...]) -> pd.DataFrame:
    if explicit:
        raise CSRecError(f"--{explicit[0]}-col does not apply to --format=sequences: its lines "
                         "hold a user and items only (time = position in the line)")
    try:
        frame = read_sequences_file(path, sep)
    except UnicodeDecodeError as error:
        raise CSRecError(f"input file '{path}' cannot be read as sequences (UTF-8): {error}") from None
    if frame.empty:
        raise CSRecError(f"input file '{path}' has no interactions: every line is blank or a "
                         "user without items ('user item item ...' expected)")
    return frame


def read_interactions(path: str, fmt: str, columns: Columns, sep: str | None = None,
                      explicit: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read `path` into columns user, item[, rating][, time] (ids as strings, file order kept).

    `explicit` names the optional columns (rating/time) the user asked for: those must exist;
    the default optional names are used only when present.
    """
    if not os.path.isfile(path):
        raise CSRecError(f"input file '{path}' does not exist")
    if fmt not in INPUT_FORMATS:
        raise CSRecError(f"--format={fmt!r} is not accepted: use {', '.join(INPUT_FORMATS)}")
    if fmt == "sequences":
        return _read_sequences(path, sep, explicit)
    # utf-8-sig drops a BOM; pandas reads CRLF line ends (values and names are stripped below).
    try:
        if fmt == "atomic":
            raw = read_atomic_file(path, sep or "\t")
        elif fmt == "csv":
            raw = pd.read_csv(path, sep=sep or ",", dtype=str, keep_default_na=False, encoding="utf-8-sig")
            raw.columns = [c.strip() for c in raw.columns]
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CSRecError(f"input file '{path}' cannot be read as {fmt} (UTF-8): {first}") from None
    if not isinstance(raw.index, pd.RangeIndex):
        # pandas takes the first field(s) as the index when every row has more fields than the
        # header: the columns would shift silently
        raise CSRecError(f"input file '{path}' cannot be read as {fmt}: its rows have more fields than "
                         f"its header ({len(raw.columns)} names; wrong --sep?)")
    wanted = {"user": columns.user, "item": columns.item, "rating": columns.rating, "time": columns.time}
    out = {}
    for role, name in wanted.items():
        if name is None:
            continue
        if name not in raw.columns:
            if role in ("user", "item") or role in explicit:
                raise CSRecError(f"column '{name}' ({role}) not found in {path}: "
                                 f"columns are {', '.join(raw.columns)}")
            continue
        out[role] = raw[name].fillna("").astype(str).str.strip()
    return _numeric_columns(pd.DataFrame(out), wanted, path)


def _numeric_columns(frame: pd.DataFrame, wanted: dict[str, str | None], path: str) -> pd.DataFrame:
    """Rating and time as floats: empty cells are missing values (clean_interactions says what it
    assumes); any other non-number is an error."""
    for role in ("rating", "time"):
        if role in frame:
            values = pd.to_numeric(frame[role].replace("", np.nan), errors="coerce")
            bad = frame[role][values.isna() & (frame[role] != "")]
            if len(bad):
                raise CSRecError(f"{role} column '{wanted[role]}' has a non-numeric value "
                                 f"{bad.iloc[0]!r} (row {bad.index[0] + 2} of {path}): numbers only")
            frame[role] = values.astype(float)
    return frame


def clean_interactions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Make read interactions usable as they are, and say what was assumed:

    - a row without a user or item id is dropped;
    - a missing rating is taken as 0 (below any rating_threshold: never counted by Recall+/NDCG+);
    - a missing timestamp is taken as the previous timestamp of the same user in file order
      (the row stays where the file has it), the next one for a user's first rows;
    - rows identical in user, item and timestamp are one interaction (the first is kept);
      without timestamps repeats are kept (file order cannot tell a duplicate from a repeat);
    - ties in timestamps keep file order (order_sequences sorts stably).
    """
    notes = []
    empty = (frame["user"] == "") | (frame["item"] == "")
    if empty.any():
        notes.append(f"{int(empty.sum())} rows without a user or item id dropped")
        frame = frame[~empty]
    if "rating" in frame and frame["rating"].isna().any():
        notes.append(f"{int(frame['rating'].isna().sum())} rows without a rating: assumed 0 (below "
                     "rating_threshold, never counted by Recall+/NDCG+)")
        frame = frame.assign(rating=frame["rating"].fillna(0.0))
    if "time" in frame and frame["time"].isna().any():
        notes.append(f"{int(frame['time'].isna().sum())} rows without a timestamp: assumed right after "
                     "the user's previous row in the file")
        by_user = frame.groupby("user", sort=False)["time"]
        filled = by_user.ffill().fillna(by_user.bfill()).fillna(0.0)
        frame = frame.assign(time=filled)
    if "time" in frame:
        duplicated = frame.duplicated(["user", "item", "time"], keep="first")
        if duplicated.any():
            notes.append(f"{int(duplicated.sum())} duplicate rows (same user, item and timestamp) "
                         "dropped, the first kept")
            frame = frame[~duplicated]
    return frame.reset_index(drop=True), notes
