"""recbole_csrec: CSRec (confident soft labels) for RecBole sequential recommenders."""
from recbole_csrec.errors import CSRecError
from recbole_csrec import metrics as _metrics  # registers Recall+/NDCG+ before any Config is built
from recbole_csrec.quick_start import run_recbole_csrec
from recbole_csrec.version import __version__

__all__ = ["run_recbole_csrec", "CSRecError", "__version__"]
