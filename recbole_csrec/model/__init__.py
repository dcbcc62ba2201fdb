"""This package's models: the CSRec student (any RecBole sequential model trained on soft labels)
and CSRec-T's main teacher (found by name by recbole_csrec.utils.get_model)."""
from recbole_csrec.model.main_teacher import MainTeacher
from recbole_csrec.model.student import CSRecStudent

__all__ = ["CSRecStudent", "MainTeacher"]
