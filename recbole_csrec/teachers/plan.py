"""The teacher phases a run will have, without data or models (for --dry_run).

One function per teacher kind, mirroring its builder: the same phase names, seeds and
teacher-store key fields, so the plan can say which phases the store already holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from recbole.config import Config

from recbole_csrec.keys import phase_keys

# Config keys that shape CSRec-T's main teacher (its teacher-store key fields), from the keys
# table; the builder (training_level.py) and the plan both read them from here.
MAIN_TEACHER_KEYS = phase_keys("main-teacher")


@dataclass
class PlannedPhase:
    name: str
    seed: int
    store_fields: dict[str, Any] | None = None
    note: str = ""
    objective: str = "ce"  # teacher-store key field (recbole_csrec.teachers.store.OBJECTIVES)
    extra: dict[str, Any] = field(default_factory=dict)


def _ensemble(config: Config, subsample: bool) -> list[PlannedPhase]:
    ratio = float(config["sample_ratio"])
    phases = []
    for k in range(1, int(config["num_teachers"]) + 1):
        note = f"on a {ratio:g}-subsample of the training sequences" if subsample else "on all training data"
        phases.append(PlannedPhase(f"teacher-{k}", int(config["seed"]) + k,
                                   {"sample_ratio": ratio} if subsample else None, note))
    return phases


def _training_level(config: Config) -> list[PlannedPhase]:
    ratio = float(config["sample_ratio"])
    main_fields = {key: config[key] for key in MAIN_TEACHER_KEYS}
    main_fields["sample_ratio"] = ratio
    seed = int(config["seed"])
    return [PlannedPhase("side-teacher", seed + 2, {"sample_ratio": ratio},
                         f"g2 on a {ratio:g}-subsample"),
            PlannedPhase("main-teacher", seed + 1, main_fields,
                         f"g1 with the noise model (alpha {config['alpha']})", objective="main-teacher")]


PLANS: dict[str, Callable[[Config], list[PlannedPhase]]] = {
    "none": lambda config: [],
    "pop": lambda config: [],  # item counts of the training data: nothing to train
    "model": lambda config: _ensemble(config, subsample=False),
    "data": lambda config: _ensemble(config, subsample=True),
    "training": _training_level,
}


def planned_teacher_phases(config: Config) -> list[PlannedPhase]:
    return PLANS[str(config["teacher"])](config)
