"""Saved runs reloaded for evaluation: RecBole's `load_data_and_model` for this package's weight
files (a plain state_dict and plain metadata, loaded with `torch.load(..., weights_only=True)`).
Exposed as `recbole_csrec.quick_start.load_data_and_model`, where RecBole users look for it.
"""
from __future__ import annotations

from logging import getLogger
from typing import Any

import torch
from recbole.utils import init_seed

from recbole_csrec.errors import CSRecError
from recbole_csrec.lookups import get_model
from recbole_csrec.overrides import recbole_argv
from recbole_csrec.quiet import silence_third_party_warnings
from recbole_csrec.run_logger import init_logger

_MAIN_TEACHER_PREFIX = "g1."


def load_data_and_model(weights_file: str, config_dict: dict[str, Any] | None = None
                        ) -> tuple[Any, torch.nn.Module, Any, Any, Any, Any]:
    """Rebuild (config, model, dataset, train_data, valid_data, test_data) from a weight file.

    `weights_file` is a phase's file of a run (`saved/<run>/student.pth`, `teacher-1.pth`, ...)
    or a teacher store entry (`<store>/<key>/weights.pth`). The model is the plain RecBole model
    with the trained weights: the student's backbone, a teacher, or a CSRec-T main teacher's g1
    (the network whose logits the student learns from), in eval mode. The config is rebuilt
    from the settings stored in the file, so `Trainer(config, model).evaluate(test_data,
    load_best_model=False)` gives the metrics the run reported for that phase (with
    `mask_input_items: True`, evaluate with `recbole_csrec.trainer.CSRecTrainer`, which applies the
    masking; RecBole's Trainer does not). `config_dict`
    changes settings that do not touch the data or the weights (e.g. `use_gpu`, `gpu_id`,
    `eval_batch_size`); the current command line is not read.
    """
    from recbole.data import create_dataset, data_preparation

    from recbole_csrec.checkpoint import load_weights
    from recbole_csrec.config import CSRecConfig
    from recbole_csrec.data import ensure_dataset_files

    silence_third_party_warnings()
    checkpoint = load_weights(weights_file)
    stored = checkpoint["meta"].get("config")
    if not stored:
        raise CSRecError(f"weight file '{weights_file}' holds no run settings (written before "
                         "recbole_csrec stored them): load it with recbole_csrec.checkpoint.load_into "
                         "into a model built from the run's config")
    with recbole_argv():  # the stored settings, not this program's own flags
        config = CSRecConfig(model=stored["model"], dataset=stored["dataset"],
                             config_dict={**stored["settings"], **(config_dict or {})})
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    model.load_state_dict(_network_state(checkpoint["state_dict"]))
    model.eval()
    return config, model, dataset, train_data, valid_data, test_data


def _network_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A CSRec-T main teacher's file holds g1 under `g1.` (and its noise model h): keep g1."""
    if state and all(k.startswith(_MAIN_TEACHER_PREFIX) or k.startswith("noise.") for k in state):
        return {k[len(_MAIN_TEACHER_PREFIX):]: v for k, v in state.items()
                if k.startswith(_MAIN_TEACHER_PREFIX)}
    return state
