"""`run_hyper_csrec.py --dry_run`: the resolved configuration, the trials, and the teachers the
trials share (one teacher-store entry serves every trial whose teacher key matches)."""
from __future__ import annotations

import itertools
import os
from typing import Any, Callable

from recbole_csrec.config import CSRecConfig
from recbole_csrec.dry_run import resolved_config_lines
from recbole_csrec.teachers.store import NON_DETERMINING_KEYS
from recbole_csrec.tune.space import SearchSpace

MAX_LISTED_TRIALS = 50


def grid_points(space: SearchSpace) -> list[dict[str, Any]]:
    keys = list(space.grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(space.grid[k] for k in keys))]


def _teacher_lines(config: CSRecConfig, points: list[dict[str, Any]], space: SearchSpace,
                   store_root: str,
                   trial_configs: Callable[[dict[str, Any]], tuple[CSRecConfig, CSRecConfig]]) -> list[str]:
    from recbole_csrec.data.builtin import dataset_status
    from recbole_csrec.teachers.store import TeacherStore, teacher_key, teacher_key_fields
    from recbole_csrec.teachers.plan import planned_teacher_phases

    status = dataset_status(config)
    lines = [f"  dataset: {status}"]
    if config["teacher"] in ("none", "pop"):
        return lines + ["  teachers: none to train (the student is the only trained model)"]
    if not config["reuse_teachers"]:
        return lines + ["  teachers: every trial trains its own (reuse_teachers is False)"]
    sampled_teacher_keys = [k for k in space.sampled if k not in NON_DETERMINING_KEYS]
    if sampled_teacher_keys:
        lines.append(f"  teachers: sampled {', '.join(sampled_teacher_keys)} change the teachers: "
                     "each trial trains its own unless a stored teacher matches its values")
    if "will be built" in status:
        return lines + ["  teachers: keys known once the dataset is built; trials with the same "
                        "teacher settings share one training"]
    store = TeacherStore(store_root)
    shared: dict[str, dict[str, Any]] = {}
    for number, params in enumerate(points, 1):
        trial_config, teacher_config = trial_configs(params)
        for phase in planned_teacher_phases(trial_config):
            fields = teacher_key_fields(teacher_config, seed=phase.seed, extra=phase.store_fields,
                                        objective=phase.objective)
            entry = shared.setdefault(teacher_key(fields), {"phase": phase, "trials": []})
            entry["trials"].append(number)
    lines.append(f"  teachers: {len(shared)} teacher trainings shared by the grid's "
                 f"{len(points)} points (store {store.root}):")
    for key, entry in shared.items():
        action = "load from the store" if store.get(key) is not None else "train once, then publish"
        lines.append(f"    {entry['phase'].name} (seed {entry['phase'].seed}, key {key[:12]}): "
                     f"trials {_ranges(entry['trials'])} -> {action}")
    return lines


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(f"{start}-{n}" if n != start else f"{n}")
            start = None
    return ", ".join(parts)


def search_plan(config: CSRecConfig, teacher_config: CSRecConfig, space: SearchSpace, num_samples: int,
                scheduler: str, store_root: str,
                trial_configs: Callable[[dict[str, Any]], tuple[CSRecConfig, CSRecConfig]],
                dropped: list[str]) -> str:
    """The dry run's text (nothing is written)."""
    lines = resolved_config_lines(config)
    points = grid_points(space)
    total = len(points) * int(num_samples)
    lines.append(f"search: {space.source}, {total} trials ({len(points)} grid points x "
                 f"{num_samples} samples), scheduler {scheduler}, selected on valid "
                 f"{config['valid_metric']}")
    if dropped:
        lines.append(f"  not searched (no effect on teacher '{config['teacher']}'): {', '.join(dropped)}")
    for key, spec in space.sampled.items():
        lines.append(f"  sampled per trial: {key} ~ {spec}")
    for number, params in enumerate(points[:MAX_LISTED_TRIALS], 1):
        shown = " ".join(f"{k}={v}" for k, v in params.items()) or "(sampled values only)"
        lines.append(f"  trial {number}: {shown}" + (f" (x{num_samples})" if num_samples > 1 else ""))
    if len(points) > MAX_LISTED_TRIALS:
        lines.append(f"  ... and {len(points) - MAX_LISTED_TRIALS} more grid points")
    lines += _teacher_lines(config, points, space, store_root, trial_configs)
    lines.append(f"  output: trials.csv, trials.md, best_config.yaml, summary.txt, ray/ and trials/ "
                 f"under the output folder; teacher store {os.path.abspath(store_root)}")
    lines.append("dry run: everything checked, nothing written")
    return "\n".join(lines)
