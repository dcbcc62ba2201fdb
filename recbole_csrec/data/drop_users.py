"""A dataset edit for the sparsity sweep (Fig. 4b): a copy of a dataset without some of its users.

The atomic files are read and written with the protocol's atomic-file reader and writer
(recbole_csrec.data.protocol), and the copy appears whole or not at all (recbole_csrec.atomic).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
from recbole.config import Config

from recbole_csrec.atomic import atomic_dir
from recbole_csrec.data.protocol import MANIFEST, refresh_manifest
from recbole_csrec.data.readers import read_atomic_file, write_atomic_file
from recbole_csrec.errors import CSRecError


def drop_users_copy(config: Config, proportion: float, seed: int, root: str) -> tuple[str, float]:
    """A copy of the dataset's atomic files without a random `proportion` of its users.

    Users are those of every interaction file: `<dataset>.inter`, or the pre-split files named by
    RecBole's `benchmark_filename` (the built-in `ml` and `lastfm`, whose users are windows);
    a removed user leaves every file. Written once under `root/drop-<proportion>/<dataset>/`
    (temp folder + rename), so reruns reuse it. Returns (data_path for the config, sparsity of the
    remaining interactions over all inter files).
    """
    dataset, source = config["dataset"], config["data_path"]
    target_root = os.path.join(root, f"drop-{proportion:g}")
    target = os.path.join(target_root, dataset)
    uid = config["USER_ID_FIELD"]
    if not os.path.isdir(target):
        inter = {path: _read_inter(path, uid) for path in inter_files(source, config)}
        if not inter:
            raise CSRecError(f"no {dataset}*.inter file in {source}: nothing to remove users from")
        users = pd.unique(np.concatenate([frame[uid].to_numpy() for frame in inter.values()]))
        rng = np.random.default_rng(seed)
        removed = set(rng.choice(users, size=int(round(proportion * len(users))), replace=False))
        with atomic_dir(target) as tmp:
            for name in os.listdir(source):
                path = os.path.join(source, name)
                if path in inter and removed:
                    frame = inter[path]
                    kept = frame[~frame[uid].isin(removed)]
                    kept.attrs["header"] = frame.attrs["header"]
                    write_atomic_file(kept, os.path.join(tmp, name))
                elif os.path.isfile(path):
                    shutil.copyfile(path, os.path.join(tmp, name))
            if removed and os.path.isfile(os.path.join(tmp, MANIFEST)):
                # a built-in dataset: its manifest must describe the new files, or it is rebuilt
                refresh_manifest(tmp, {"drop_users": proportion, "drop_seed": seed, "removed": len(removed)})
    inter = pd.concat([_read_inter(path, uid) for path in inter_files(target, config)])
    iid = config["ITEM_ID_FIELD"]
    n_users, n_items = inter[uid].nunique(), inter[iid].nunique() if iid in inter else 0
    sparsity = 1.0 - len(inter) / float(n_users * n_items) if n_users and n_items else float("nan")
    return target_root, sparsity


def inter_files(folder: str, config: Config) -> list[str]:
    """`<dataset>.inter`, or RecBole's pre-split `<dataset>.<part>.inter` (`benchmark_filename`)."""
    dataset = config["dataset"]
    names = [f"{dataset}.{part}.inter" for part in config["benchmark_filename"] or []] or [f"{dataset}.inter"]
    return [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]


def _read_inter(path: str, uid: str) -> pd.DataFrame:
    frame = read_atomic_file(path)
    if uid not in frame.columns:
        raise CSRecError(f"{path} has no user column '{uid}': columns are {', '.join(frame.columns)}")
    return frame
