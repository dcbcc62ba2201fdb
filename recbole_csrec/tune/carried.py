"""Trials carried over from an earlier run of the same grid search (`--trials_from DIR`).

A search whose Ray state is gone (another machine, a session that ended, a cleaned disk) can
still skip the grid points it finished: DIR holds that run's `trials.csv` and `search.json`
(the search's output folder, or a committed copy of those two files). The two searches must be
the same search apart from where they keep their files: the settings that are paths are not
compared, and config files are compared by content (their sha256, recorded in search.json).
Only finished trials (status `ok`) are carried; the others run again.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
from logging import getLogger
from typing import Any

import yaml

from recbole_csrec.errors import CSRecError
from recbole_csrec.tune.space import SearchSpace

SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.csv"
# Where a search keeps files: they differ between machines without making another search.
PATH_SETTINGS = ("checkpoint_dir", "data_path", "teacher_store")
# The param_space key of a grid that lost some of its points: Ray runs a grid over whole points.
POINT_KEY = "_grid_point"


def file_digests(paths: list[str] | None) -> list[str]:
    """sha256 of each config file's content, in order."""
    digests = []
    for path in paths or []:
        with open(path, "rb") as handle:
            digests.append(hashlib.sha256(handle.read()).hexdigest())
    return digests


def portable(identity: dict[str, Any], names_only: bool = False) -> dict[str, Any]:
    """A search identity without the facts that only say where files are: config files by
    content (by name where an earlier search.json recorded no digests)."""
    same = {k: v for k, v in identity.items() if k not in ("config_files", "config_file_sha256")}
    same["fixed"] = {k: v for k, v in identity.get("fixed", {}).items() if k not in PATH_SETTINGS}
    same["config_files"] = ([os.path.basename(p) for p in identity.get("config_files", [])] if names_only
                            else identity.get("config_file_sha256"))
    return same


def grid_points(space: SearchSpace) -> list[dict[str, Any]]:
    """Every point of the grid, in Ray's order (the last key varies slowest)."""
    keys = list(space.grid)
    combos = itertools.product(*(space.grid[k] for k in reversed(keys)))
    return [{k: point[k] for k in keys} for point in (dict(zip(reversed(keys), c)) for c in combos)]


def point_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's searched values, whether Ray gave them as keys or as one grid point."""
    point = config.get(POINT_KEY) or {}
    return {**{k: v for k, v in config.items() if k != POINT_KEY}, **point}


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b))


def load_carried(folder: str, identity: dict[str, Any], space: SearchSpace, valid_metric: str,
                 num_samples: int) -> list[dict[str, Any]]:
    """The finished trial rows of `folder`'s search, checked to be this search's; [] when none."""
    if space.sampled or num_samples != 1:
        raise CSRecError("--trials_from carries grid points: it needs a grid-only search space and "
                         f"--num_samples=1 (got {num_samples} sample(s), sampled keys: "
                         f"{', '.join(space.sampled) or 'none'})")
    trials_csv, search_json = os.path.join(folder, TRIALS_FILE), os.path.join(folder, SEARCH_FILE)
    for path in (trials_csv, search_json):
        if not os.path.isfile(path):
            raise CSRecError(f"--trials_from '{folder}' has no {os.path.basename(path)}: give the folder "
                             f"of an earlier run of this search (its {TRIALS_FILE} and {SEARCH_FILE})")
    with open(search_json) as handle:
        earlier = json.load(handle)
    names_only = "config_file_sha256" not in earlier
    if names_only:
        getLogger().warning(f"--trials_from: {search_json} predates config file digests: the config "
                            "files are compared by name only")
    mine, theirs = portable(identity, names_only), portable(earlier, names_only)
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if differ:
        raise CSRecError(f"--trials_from '{folder}' holds a different search (it differs in "
                         f"{', '.join(differ)}); carry trials only between runs of one search")
    points = grid_points(space)
    valid_column = f"valid {valid_metric.lower()}"
    rows = []
    with open(trials_csv, newline="") as handle:
        for record in csv.DictReader(handle):
            if record.get("status") != "ok":
                continue
            row: dict[str, Any] = {k: float(v) if "@" in k and v else v for k, v in record.items()
                                   if k != valid_column}
            row.update({k: _typed(record.get(k, "")) for k in space.grid})
            row["valid_score"] = float(record[valid_column])
            row["best_epoch"], row["epochs"] = int(record["best_epoch"]), int(record["epochs"])
            row["weights"], row["error"], row["carried"] = record.get("weights", ""), "", "yes"
            params = {k: row.get(k) for k in space.grid}
            match = [p for p in points if all(_same(p[k], params[k]) for k in space.grid)]
            if not match:
                raise CSRecError(f"--trials_from '{folder}': trial {record.get('trial')} "
                                 f"({params}) is not a point of this grid")
            row.update(match[0])  # the grid's own values and types
            rows.append(row)
    getLogger().info(f"--trials_from {folder}: {len(rows)} finished trial(s) carried over, not run again")
    return rows


def _typed(text: str) -> Any:
    """A grid value's trials.csv cell as the value it was (numbers, booleans, strings)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def remaining_points(space: SearchSpace, carried: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid points no carried row covers, in grid order."""
    done = [{k: row[k] for k in space.grid} for row in carried]
    return [p for p in grid_points(space) if p not in done]


def carried_line(folder: str, carried: list[dict[str, Any]], points: list[dict[str, Any]]) -> str:
    """What --dry_run says of the carried trials and the points left to run."""
    shown = "; ".join(" ".join(f"{k}={v}" for k, v in p.items()) for p in points) or "none"
    return (f"carried from {folder}: {len(carried)} finished trial(s), not run again; "
            f"{len(points)} grid point(s) to run: {shown}")
