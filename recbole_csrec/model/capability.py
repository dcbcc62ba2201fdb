"""Which RecBole models can be a CSRec student or teacher, and how to build one."""
from __future__ import annotations

import inspect
from functools import lru_cache

from recbole.model.abstract_recommender import AbstractRecommender, SequentialRecommender
from recbole.utils import ModelType, get_model

from recbole_csrec.errors import CSRecError

# Sequential models whose CE loss does not score the full item set from one sequence
# representation (masked-item, repeat/explore, feature- or KG-only inputs, pre-training).
_INCOMPATIBLE = {"BERT4Rec", "RepeatNet", "S3Rec", "GRU4RecKG", "KSR", "DIN", "DIEN", "FPMC",
                 "TransRec", "GRU4RecCPR", "SASRecCPR"}


def _scores_full_item_set(model_class: type) -> bool:
    """True when the class has its own full_sort_predict and a CE loss over all items."""
    if not (isinstance(model_class, type) and issubclass(model_class, SequentialRecommender)):
        return False
    if getattr(model_class, "type", None) != ModelType.SEQUENTIAL:
        return False
    if model_class.full_sort_predict is AbstractRecommender.full_sort_predict:
        return False
    try:
        source = inspect.getsource(model_class.calculate_loss)
    except (OSError, TypeError):
        return True  # a user's own model: the runtime check in the student decides
    return "loss_fct(" in source


def package_backbones() -> dict[str, type]:
    """The backbones this package adds to RecBole's (e.g. NextItNetLastItem), by name."""
    from recbole_csrec.model import BACKBONES

    return dict(BACKBONES)


@lru_cache(maxsize=1)
def student_capable_models() -> tuple[str, ...]:
    """Names of the sequential models (RecBole's and this package's) that can be a CSRec
    student (sorted)."""
    import recbole.model.sequential_recommender as seq

    names = list(package_backbones())
    for name, obj in vars(seq).items():
        if inspect.isclass(obj) and name not in _INCOMPATIBLE and _scores_full_item_set(obj):
            names.append(name)
    return tuple(sorted(names))


def resolve_student_model(name: str, key: str = "model") -> type:
    """The model class for `name` (this package's backbones, else RecBole's), or raise a
    one-line CSRecError."""
    accepted = ", ".join(student_capable_models())
    try:
        model_class = package_backbones().get(name) or get_model(name)
    except (ValueError, AttributeError, TypeError, ImportError):
        raise CSRecError(f"unknown {key} '{name}': accepted are RecBole sequential models trained "
                         f"with CE: {accepted}") from None
    if name in _INCOMPATIBLE or not _scores_full_item_set(model_class):
        raise CSRecError(f"{key} '{name}' cannot be a CSRec student or teacher (it needs a CE loss "
                         f"over all items and full_sort_predict): accepted are {accepted}")
    return model_class
