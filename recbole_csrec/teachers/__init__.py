"""Teacher modules, one file per kind. A new kind is one file plus one line here."""
from __future__ import annotations

from typing import Callable

from recbole_csrec.soft_labels import SoftLabelSource
from recbole_csrec.teachers.context import TeacherContext
from recbole_csrec.teachers.data_level import build_data_level_teachers
from recbole_csrec.teachers.model_level import build_model_level_teachers
from recbole_csrec.teachers.popularity import build_popularity_teacher
from recbole_csrec.teachers.training_level import build_training_level_teacher

TeacherBuilder = Callable[[TeacherContext], "SoftLabelSource | None"]


def _no_teacher(ctx: TeacherContext) -> None:
    """Base: the student trains with plain CE."""
    return None


TEACHERS: dict[str, TeacherBuilder] = {
    "none": _no_teacher,                  # Base
    "pop": build_popularity_teacher,      # SoftRec
    "model": build_model_level_teachers,  # CSRec-M
    "data": build_data_level_teachers,    # CSRec-D
    "training": build_training_level_teacher,  # CSRec-T
}

__all__ = ["TEACHERS", "TeacherContext", "TeacherBuilder"]
