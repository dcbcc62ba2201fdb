"""CSRec-D (Algorithm 2): m teachers, each on its own p-subsample of the training sequences."""
from __future__ import annotations

from recbole_csrec.data import subsample_sequences
from recbole_csrec.soft_labels import TeacherEnsemble
from recbole_csrec.teachers.context import TeacherContext


def build_data_level_teachers(ctx: TeacherContext) -> TeacherEnsemble:
    ratio = float(ctx.config["sample_ratio"])
    teachers = []
    for k in range(1, int(ctx.config["num_teachers"]) + 1):
        seed = int(ctx.config["seed"]) + k
        subset = subsample_sequences(ctx.train_data, ratio, seed)
        model, _ = ctx.train_phase(f"teacher-{k}", ctx.build_teacher_model(seed), subset, seed,
                                   store_fields={"sample_ratio": ratio})
        teachers.append(model)
    return TeacherEnsemble(teachers, ctx.config["ensemble"])
