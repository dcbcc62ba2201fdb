"""Built-in datasets: made from files shipped offline, written atomically on first use.

`lastfm` (the paper's Last.FM, shipped in recbole_csrec/resources) and `ml` (MovieLens-100K from
RecBole's wheel, with ratings) are built under the paper's protocol (recbole_csrec.data.protocol)
into `data_path` on first use; a manifest (sizes, sha256, build parameters; written last) tells a
complete cache from a corrupted or half-written one, which is rebuilt. Their RecBole settings are
package data: properties/dataset/<name>.yaml. Every other name must already exist as
a RecBole dataset under `data_path` (RecBole's `ml-100k` always does, with RecBole's protocol).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import recbole
from recbole.config import Config

from recbole_csrec.atomic import make_temp_dir, replace_dir
from recbole_csrec.data.protocol import build_files, read_manifest
from recbole_csrec.data.readers import Columns, read_interactions
from recbole_csrec.errors import CSRecError
from recbole_csrec.paths import RESOURCES_DIR

RECBOLE_ML_100K = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")


@dataclass(frozen=True)
class BuiltinDataset:
    """A shipped raw file and the protocol parameters that turn it into pre-split files."""

    source: str
    fmt: str
    window: int
    min_count: int = 5
    columns: Columns = field(default_factory=Columns)

    def params(self) -> dict:
        return {"input": os.path.basename(self.source), "format": self.fmt, "window": self.window,
                "min_count": self.min_count, "columns": vars(self.columns)}

    def __call__(self, name: str, target_dir: str) -> None:
        frame = read_interactions(self.source, self.fmt, self.columns)
        build_files(frame, target_dir, name, self.window, self.min_count, self.params())


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    # The paper's Last.FM: sessions in file order (no timestamp), rating always 1; window 20 (Table 1).
    "lastfm": BuiltinDataset(os.path.join(RESOURCES_DIR, "lastfm_small.csv"), "csv", window=20,
                             columns=Columns(user="session_id", item="item_id", rating="rating", time=None)),
    # MovieLens-100K by timestamp, ratings 1..5; window 10, the paper's length for its other datasets.
    "ml": BuiltinDataset(os.path.join(RECBOLE_ML_100K, "ml-100k.inter"), "atomic", window=10),
}


def builtin_is_current(name: str, folder: str) -> bool:
    """The folder holds a complete, unmodified build of built-in `name` with today's parameters."""
    manifest = read_manifest(folder)
    spec = BUILTIN_DATASETS[name]
    return manifest is not None and manifest.get("name") == name and manifest.get("params") == spec.params()


def build_builtin(name: str, folder: str) -> None:
    """(Re)build built-in `name` into `folder`: in a temp folder next to it, then renamed."""
    tmp = make_temp_dir(os.path.dirname(os.path.abspath(folder)), f".{name}-")
    try:
        BUILTIN_DATASETS[name](name, tmp)
        if builtin_is_current(name, folder):  # another process finished first
            return
        replace_dir(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _has_atomic_files(folder: str, name: str) -> bool:
    if not os.path.isdir(folder):
        return False
    return any(f.startswith(name + ".") for f in os.listdir(folder))


def dataset_status(config: Config) -> str:
    """What a run will find under `data_path`, without writing anything (for --dry_run).

    Raises the same CSRecError as ensure_dataset_files for an unknown dataset.
    """
    name, folder = config["dataset"], config["data_path"]
    if name in BUILTIN_DATASETS:
        if builtin_is_current(name, folder):
            return f"built-in '{name}' at {folder} (complete)"
        return f"built-in '{name}': will be built into {folder} first (missing or incomplete)"
    if not _has_atomic_files(folder, name):
        _unknown_dataset(name, folder)
    return f"'{name}' at {folder}"


def check_dataset_known(name: str, folder: str) -> None:
    """Raise the unknown-dataset error (naming the built-in datasets and the prepare command)
    unless `name` is built in or `folder` holds its atomic files. Run before any other key is
    checked: a wrong name must not surface as a complaint about some other setting."""
    check_dataset_name(name)
    if name in BUILTIN_DATASETS or name == "ml-100k" or _has_atomic_files(folder, name):
        return
    _unknown_dataset(name, folder)


def check_dataset_name(name: str) -> None:
    """A dataset is a name (one folder under data_path), never a path: nothing outside data_path
    is read or written because of it."""
    text = str(name)
    if (not text.strip() or text in (".", "..") or "/" in text or "\\" in text or "\0" in text
            or os.path.isabs(text)):
        raise CSRecError(f"dataset={text!r} is not accepted: a dataset is a name (its folder under "
                         "data_path), not a path")


def _unknown_dataset(name: str, folder: str) -> None:
    builtin = ", ".join(sorted(BUILTIN_DATASETS) + ["ml-100k"])
    raise CSRecError(f"unknown dataset '{name}': no atomic files '{name}.*' in {folder} "
                     f"(built-in: {builtin}; or put a RecBole atomic dataset under data_path, "
                     "e.g. with python -m recbole_csrec.prepare_cli)")


def ensure_dataset_files(config: Config) -> str:
    """Make sure `config['data_path']` holds the dataset; (re)build a built-in one if needed.

    Raises CSRecError for an unknown dataset instead of letting RecBole try a download.
    """
    name, folder = config["dataset"], config["data_path"]
    if name in BUILTIN_DATASETS and not builtin_is_current(name, folder):
        build_builtin(name, folder)
    if not _has_atomic_files(folder, name):
        _unknown_dataset(name, folder)
    return folder
