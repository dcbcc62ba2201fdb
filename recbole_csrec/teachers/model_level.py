"""CSRec-M (Algorithm 1): m teachers on all training data, seeds seed+1..seed+m."""
from __future__ import annotations

from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import TeacherContext


def build_model_level_teachers(ctx: TeacherContext) -> TeacherEnsemble:
    teachers = []
    for k in range(1, int(ctx.config["num_teachers"]) + 1):
        seed = int(ctx.config["seed"]) + k
        model, _ = ctx.train_phase(f"teacher-{k}", ctx.build_teacher_model(seed), ctx.train_data, seed)
        teachers.append(model)
    return TeacherEnsemble(teachers, ctx.config["ensemble"])
