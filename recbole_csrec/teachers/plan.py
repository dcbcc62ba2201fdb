"""The teacher phases a run will have, without data or models (for --dry_run).

One function per teacher kind, mirroring its builder: the same phase names, seeds and
teacher-store key fields, so the plan can say which phases the store already holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recbole.config import Config

from recbole_csrec.teachers.registry import PLANS

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


def ensemble_plan(config: Config, subsample: bool) -> list[PlannedPhase]:
    """m teachers (CSRec-M on all data, CSRec-D on p-subsamples), seeds seed+1..seed+m."""
    ratio = float(config["sample_ratio"])
    phases = []
    for k in range(1, int(config["num_teachers"]) + 1):
        note = f"on a {ratio:g}-subsample of the training sequences" if subsample else "on all training data"
        phases.append(PlannedPhase(f"teacher-{k}", int(config["seed"]) + k,
                                   {"sample_ratio": ratio} if subsample else None, note))
    return phases


def planned_teacher_phases(config: Config) -> list[PlannedPhase]:
    """The phases the run's teacher kind will train (its plan in the registry)."""
    return PLANS[str(config["teacher"])](config)
