"""Weight files that load with torch.load(..., weights_only=True): a state_dict plus plain metadata.

RecBole pickles its Config into checkpoints, which torch>=2.6 refuses to load by default;
these files never hold pickled objects, so loading them never runs code.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recbole_csrec.atomic import atomic_file

FORMAT = "recbole_csrec.weights/1"


def plain(value: Any) -> Any:
    """A JSON-able, deterministic form of a config value (enums, devices, tuples, sets -> str/list),
    so that metadata loads with weights_only=True."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def config_meta(config) -> dict[str, Any]:
    """What rebuilds a run's config (recbole_csrec.utils.load_data_and_model): the model, the
    dataset and the settings the user gave (config files' contents, config_dict, --key=value)."""
    return {"model": config["model"], "dataset": config["dataset"],
            "settings": plain(dict(config.external_config_dict))}


def exported_module(model: nn.Module) -> nn.Module:
    """The module whose weights are saved: a student's backbone, so the file loads into plain RecBole."""
    return getattr(model, "backbone", model)


def save_weights(model: nn.Module, path: str, meta: dict[str, Any]) -> None:
    """Write atomically (temp file, then rename): a crash never leaves a half-written file."""
    state = {k: v.detach().cpu() for k, v in exported_module(model).state_dict().items()}
    with atomic_file(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": state, "meta": dict(meta)}, tmp)


def load_weights(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """{'format', 'state_dict', 'meta'} from a file written by save_weights."""
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path} is not a recbole_csrec weight file")
    return checkpoint


def load_into(model: nn.Module, path: str) -> dict[str, Any]:
    """Load a weight file into `model` (or its backbone); return the file's metadata."""
    checkpoint = load_weights(path, map_location=next(model.parameters()).device)
    exported_module(model).load_state_dict(checkpoint["state_dict"])
    return checkpoint["meta"]
