"""Soft-label sources: what a teacher module gives the student for one batch."""
from recbole_csrec.soft_labels.base import SoftLabelSource
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble
from recbole_csrec.soft_labels.fixed import FixedLogits
from recbole_csrec.soft_labels.cache import CachedSoftLabels, TopKSoftLabels, load_soft_label_cache
from recbole_csrec.soft_labels.disk_cache import DiskSoftLabels
from recbole_csrec.soft_labels.placement import cache_soft_labels

__all__ = ["SoftLabelSource", "TeacherEnsemble", "FixedLogits", "CachedSoftLabels", "TopKSoftLabels", "DiskSoftLabels",
           "cache_soft_labels", "load_soft_label_cache"]
