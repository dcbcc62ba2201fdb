"""Soft-label sources: what a teacher module gives the student for one batch."""
from recbole_csrec.soft_labels.base import SoftLabelSource
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble
from recbole_csrec.soft_labels.fixed import FixedLogits

__all__ = ["SoftLabelSource", "TeacherEnsemble", "FixedLogits"]
