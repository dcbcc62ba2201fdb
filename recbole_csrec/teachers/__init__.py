"""Teacher kinds, one module per kind (its builder and its plan), each registered by one line here.
A user's own kind is one module and one `register_teacher_kind(...)` call (teachers/registry.py)."""
from __future__ import annotations

from recbole_csrec.teachers.context import TeacherContext
from recbole_csrec.teachers.data_level import build_data_level_teachers, plan_data_level
from recbole_csrec.teachers.model_level import build_model_level_teachers, plan_model_level
from recbole_csrec.teachers.popularity import build_popularity_teacher
from recbole_csrec.teachers.registry import TEACHERS, Builder, register_teacher_kind
from recbole_csrec.teachers.training_level import build_training_level_teacher, plan_training_level

TeacherBuilder = Builder  # the name of earlier releases


def _no_teacher(ctx: TeacherContext) -> None:
    """Base: the student trains with plain CE."""
    return None


register_teacher_kind("none", _no_teacher)                                    # Base
register_teacher_kind("pop", build_popularity_teacher)                        # SoftRec: counts, nothing trained
register_teacher_kind("model", build_model_level_teachers, plan_model_level)  # CSRec-M
register_teacher_kind("data", build_data_level_teachers, plan_data_level)     # CSRec-D
register_teacher_kind("training", build_training_level_teacher, plan_training_level)  # CSRec-T

__all__ = ["TEACHERS", "TeacherContext", "TeacherBuilder", "register_teacher_kind"]
