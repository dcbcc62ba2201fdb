"""Soft-label sources: what a teacher module gives the student for one batch."""
from recbole_csrec.soft_labels.base import SoftLabelSource
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble
from recbole_csrec.soft_labels.fixed import FixedLogits
from recbole_csrec.soft_labels.cache import (CachedSoftLabels, TopKSoftLabels, cache_soft_labels,
                                             load_soft_label_cache)

__all__ = ["SoftLabelSource", "TeacherEnsemble", "FixedLogits", "CachedSoftLabels", "TopKSoftLabels",
           "cache_soft_labels", "load_soft_label_cache"]
