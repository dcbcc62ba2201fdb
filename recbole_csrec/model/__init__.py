"""This package's models: the CSRec student (any RecBole sequential model trained on soft labels),
CSRec-T's main teacher, and backbones that fix a RecBole model (found by name by
recbole_csrec.utils.get_model; BACKBONES are the ones a user may name with --model)."""
from recbole_csrec.model.main_teacher import MainTeacher
from recbole_csrec.model.nextitnet_last_item import NextItNetLastItem
from recbole_csrec.model.student import CSRecStudent

BACKBONES = {"NextItNetLastItem": NextItNetLastItem}

__all__ = ["BACKBONES", "CSRecStudent", "MainTeacher", "NextItNetLastItem"]
