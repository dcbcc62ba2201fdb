"""CSRec-M (Algorithm 1): m teachers on all training data, seeds seed+1..seed+m."""
from __future__ import annotations

from functools import partial

from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import PhaseSpec, TeacherContext
from recbole_csrec.teachers.parallel import train_teachers
from recbole_csrec.teachers.plan import PlannedPhase, ensemble_plan


def build_model_level_teachers(ctx: TeacherContext) -> TeacherEnsemble:
    seeds = [int(ctx.config["seed"]) + k for k in range(1, int(ctx.config["num_teachers"]) + 1)]
    specs = [PhaseSpec(f"teacher-{k}", seed, partial(ctx.build_teacher_model, seed), ctx.train_data)
             for k, seed in enumerate(seeds, 1)]
    return TeacherEnsemble(train_teachers(ctx, specs), ctx.config["ensemble"])


def plan_model_level(config) -> list[PlannedPhase]:
    return ensemble_plan(config, subsample=False)
