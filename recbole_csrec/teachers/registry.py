"""The registry of teacher kinds: `--teacher=<name>` -> how to build its soft labels, and the
phases it will train (for --dry_run, the soft-label budget and a search's plan). A kind is one
module with its builder and its plan, and one line: `register_teacher_kind(name, build, plan)`.

Imports nothing of the package at run time, so that any module may read it.
"""
from __future__ import annotations

from typing import Any, Callable

Builder = Callable[[Any], Any]    # TeacherContext -> a SoftLabelSource, or None (plain CE)
Plan = Callable[[Any], list]      # config -> [teachers.plan.PlannedPhase] it will train

TEACHERS: dict[str, Builder] = {}
PLANS: dict[str, Plan] = {}


def no_phases(config: Any) -> list:
    """The plan of a kind that trains nothing before the student."""
    return []


def register_teacher_kind(name: str, build: Builder, plan: Plan = no_phases) -> None:
    """Make `--teacher=<name>` build its soft labels with `build(ctx)`; `plan(config)` lists the
    phases it trains (default: none)."""
    TEACHERS[name] = build
    PLANS[name] = plan
