"""Real-world ids as RecBole tokens: unsafe ids are re-encoded, with a mapping file to map back.

RecBole splits `token_seq` fields on spaces, reads atomic files with pandas (quotes, `NA`,
`null`, ... become quoting or missing values) and its files are tab-separated. An id is kept as
it is when it is a short plain ASCII word; otherwise every id of that role (user or item) is
replaced by a token `u<n>` / `i<n>` (n in order of first appearance), and
`<name>.id_map.json` beside the dataset's files records token -> original id.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any

import pandas as pd

ID_MAP_FORMAT = "recbole_csrec.id_map/1"
SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Strings pandas reads as missing values by default (RecBole reads atomic files with pandas).
PANDAS_NA = frozenset({"NA", "N/A", "NULL", "NaN", "None", "n/a", "nan", "null", "-NaN", "-nan",
                       "<NA>", "#NA", "#N/A", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN", ""})
PREFIX = {"user": "u", "item": "i"}


def is_safe_id(value: str) -> bool:
    return bool(SAFE_ID.match(value)) and value not in PANDAS_NA


def encode_ids(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Re-encode the user and/or item column when any of its ids is unsafe.

    Returns the frame and {role: {token: original id}} for the re-encoded roles.
    """
    mapping: dict[str, dict[str, str]] = {}
    frame = frame.copy()
    for role, prefix in PREFIX.items():
        values = frame[role]
        if values.map(is_safe_id).all():
            continue
        originals = pd.unique(values)  # order of first appearance: stable tokens
        tokens = {original: f"{prefix}{n}" for n, original in enumerate(originals, 1)}
        frame[role] = values.map(tokens)
        mapping[role] = {token: original for original, token in tokens.items()}
    return frame, mapping


def id_map_file(folder: str, name: str) -> str:
    return os.path.join(folder, f"{name}.id_map.json")


def id_map_text(mapping: dict[str, dict[str, str]]) -> str:
    return json.dumps({"format": ID_MAP_FORMAT, **mapping}, ensure_ascii=False, indent=1)


def load_id_map(folder: str, name: str) -> dict[str, dict[str, str]]:
    """{role: {token: original id}} of a prepared dataset ({} when no id was re-encoded)."""
    path = id_map_file(folder, name)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return {role: data[role] for role in PREFIX if role in data}


def original_id(mapping: dict[str, dict[str, str]], role: str, token: str) -> str:
    """The input's id for a token of the prepared files. A RecBole user is a window
    `<user>_<k>`: its user part is mapped back."""
    if role == "user" and "user" in mapping and token not in mapping["user"]:
        user, _, k = token.rpartition("_")
        if user in mapping["user"] and k.isdigit():
            return mapping["user"][user]
    return mapping.get(role, {}).get(token, token)
