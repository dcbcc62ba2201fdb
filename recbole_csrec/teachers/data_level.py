"""CSRec-D (Algorithm 2): m teachers, each on its own p-subsample of the training sequences."""
from __future__ import annotations

from functools import partial

from recbole_csrec.data import subsample_sequences
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import PhaseSpec, TeacherContext
from recbole_csrec.teachers.parallel import train_teachers
from recbole_csrec.teachers.plan import PlannedPhase, ensemble_plan


def build_data_level_teachers(ctx: TeacherContext) -> TeacherEnsemble:
    ratio = float(ctx.config["sample_ratio"])
    specs = []
    for k in range(1, int(ctx.config["num_teachers"]) + 1):
        seed = int(ctx.config["seed"]) + k
        specs.append(PhaseSpec(f"teacher-{k}", seed, partial(ctx.build_teacher_model, seed),
                               subsample_sequences(ctx.train_data, ratio, seed),
                               store_fields={"sample_ratio": ratio}))
    return TeacherEnsemble(train_teachers(ctx, specs), ctx.config["ensemble"])


def plan_data_level(config) -> list[PlannedPhase]:
    return ensemble_plan(config, subsample=True)
