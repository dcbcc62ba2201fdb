"""RecBole-style lookups: models and trainers by name.

RecBole's `get_model` / `get_trainer` search only RecBole's own modules, so (as RecBole-GNN
does) these search this package first and then fall back to RecBole.
"""
from __future__ import annotations

from recbole.utils import ModelType
from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer


# Models of this package (wrappers around RecBole models) and the trainer that trains them.
_TRAINER_OF = {"CSRecStudent": "CSRecTrainer", "MainTeacher": "CSRecTrainer"}


def get_model(model_name: str) -> type:
    """The model class `model_name`: this package's (recbole_csrec.model), else RecBole's."""
    import recbole_csrec.model as package_models

    model_class = getattr(package_models, model_name, None)
    if isinstance(model_class, type):
        return model_class
    return recbole_get_model(model_name)


def get_trainer(model_type: ModelType, model_name: str) -> type:
    """The trainer class for `model_name`: this package's (`<model_name>Trainer` in
    recbole_csrec.trainer, or the one that trains this package's models), else RecBole's."""
    import recbole_csrec.trainer as package_trainers

    name = _TRAINER_OF.get(model_name, f"{model_name}Trainer")
    trainer_class = getattr(package_trainers, name, None)
    if isinstance(trainer_class, type):
        return trainer_class
    return recbole_get_trainer(model_type, model_name)
