"""The CSRec student: any RecBole sequential model trained on soft labels."""
from recbole_csrec.model.student import CSRecStudent

__all__ = ["CSRecStudent"]
