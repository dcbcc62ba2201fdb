"""CSRec-M (Algorithm 1): m teachers on all training data, seeds seed+1..seed+m."""
from __future__ import annotations

from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import TeacherContext
from recbole_csrec.teachers.parallel import TeacherSpec, train_teachers


def build_model_level_teachers(ctx: TeacherContext) -> TeacherEnsemble:
    specs = [TeacherSpec(f"teacher-{k}", int(ctx.config["seed"]) + k, ctx.train_data)
             for k in range(1, int(ctx.config["num_teachers"]) + 1)]
    return TeacherEnsemble(train_teachers(ctx, specs), ctx.config["ensemble"])
