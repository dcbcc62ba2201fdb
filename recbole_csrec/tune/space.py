"""Search-space files: a key mapped to a list is a grid, a key mapped to a mapping is sampled.

    beta: [0.25, 0.5, 0.75]                       # grid
    learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
    temperature: {type: uniform, low: 1, high: 9}
    ensemble: {type: choice, values: [logits, probs]}

Parsing and checking need no Ray; `to_ray` imports it lazily.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from recbole_csrec.errors import CSRecError
from recbole_csrec.keys import KEYS
from recbole_csrec.names import METHOD_NAMES
from recbole_csrec.paths import shipped_properties_file


# type -> the keys its mapping must have (and may only have, besides `type`)
SAMPLED_TYPES: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "choice": ("values",),
}

# Keys that some teacher kinds never read (the keys table's `kinds` column): a search over them
# would train identical trials for those kinds, so they are dropped there.
IGNORED_BY_TEACHER: dict[str, frozenset[str]] = {
    key.name: frozenset(kind for kind in METHOD_NAMES if key.kinds is not None and kind not in key.kinds)
    for key in KEYS
}

# Fixed by the command line for the whole search (one model/dataset per search).
NOT_SEARCHABLE = {"model": "--model", "dataset": "--dataset"}

_SCALARS = (bool, int, float, str, type(None))


@dataclass
class SearchSpace:
    grid: dict[str, list[Any]] = field(default_factory=dict)
    sampled: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""

    @property
    def keys(self) -> list[str]:
        return list(self.grid) + list(self.sampled)

    def num_trials(self, num_samples: int = 1) -> int:
        return math.prod(len(v) for v in self.grid.values()) * num_samples

    def drop(self, key: str) -> None:
        self.grid.pop(key, None)
        self.sampled.pop(key, None)

    def values_to_check(self) -> list[tuple[str, Any]]:
        """Every concrete value a trial may get (sampled ranges: their bounds)."""
        pairs = [(k, v) for k, values in self.grid.items() for v in values]
        for key, spec in self.sampled.items():
            values = spec["values"] if spec["type"] == "choice" else [spec["low"], spec["high"]]
            pairs.extend((key, v) for v in values)
        return pairs

    def to_ray(self) -> dict[str, Any]:
        """Ray Tune's param_space."""
        from ray import tune

        space: dict[str, Any] = {k: tune.grid_search(list(v)) for k, v in self.grid.items()}
        for key, spec in self.sampled.items():
            if spec["type"] == "choice":
                space[key] = tune.choice(list(spec["values"]))
            elif spec["type"] == "uniform":
                space[key] = tune.uniform(spec["low"], spec["high"])
            else:
                space[key] = tune.loguniform(spec["low"], spec["high"])
        return space


def resolve_params_file(path: str) -> str:
    """`path` itself; a `properties/...` path that is not there (an installed package run outside
    the checkout) is the shipped file of that name. Which one was read is logged by the search
    and shown by --dry_run."""
    if os.path.isfile(path):
        return path
    shipped = shipped_properties_file(path)
    if shipped is not None:
        return shipped
    raise CSRecError(f"params_file '{path}' does not exist (shipped: properties/hyper/paper_grid.yaml)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_sampled(key: str, spec: dict, where: str) -> dict[str, Any]:
    kind = spec.get("type")
    if kind not in SAMPLED_TYPES:
        raise CSRecError(f"{where}: '{key}' has type {kind!r}: accepted are "
                         f"{', '.join(SAMPLED_TYPES)} (or a list for a grid)")
    needed = SAMPLED_TYPES[kind]
    unknown = sorted(set(spec) - {"type", *needed})
    missing = [k for k in needed if k not in spec]
    if unknown or missing:
        raise CSRecError(f"{where}: '{key}' ({kind}) needs exactly {', '.join(needed)}"
                         + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                         + (f"; missing: {', '.join(missing)}" if missing else ""))
    if kind == "choice":
        values = spec["values"]
        if not isinstance(values, list) or not values or not all(isinstance(v, _SCALARS) for v in values):
            raise CSRecError(f"{where}: '{key}' choice values must be a non-empty list of "
                             f"scalars, got {values!r}")
        return {"type": kind, "values": values}
    low, high = spec["low"], spec["high"]
    if not (_is_number(low) and _is_number(high)) or not low < high:
        raise CSRecError(f"{where}: '{key}' {kind} needs numbers low < high, got low={low!r} high={high!r}")
    if kind == "loguniform" and low <= 0:
        raise CSRecError(f"{where}: '{key}' loguniform needs low > 0, got low={low!r}")
    return {"type": kind, "low": float(low), "high": float(high)}


def parse_search_space(data: Any, where: str = "search space") -> SearchSpace:
    """Check and split a loaded yaml document. Raises CSRecError on anything malformed."""
    if not isinstance(data, dict) or not data:
        raise CSRecError(f"{where}: expected a mapping of config keys to a list (grid) or to "
                         f"{{type: uniform|loguniform|choice, ...}}, got {type(data).__name__}")
    space = SearchSpace(source=where)
    for key, value in data.items():
        if not isinstance(key, str):
            raise CSRecError(f"{where}: key {key!r} is not a config key name")
        if key in NOT_SEARCHABLE:
            raise CSRecError(f"{where}: '{key}' cannot be searched: give it with {NOT_SEARCHABLE[key]}")
        if isinstance(value, list):
            if not value or not all(isinstance(v, _SCALARS) or isinstance(v, list) for v in value):
                raise CSRecError(f"{where}: grid '{key}' must be a non-empty list of values, got {value!r}")
            space.grid[key] = value
        elif isinstance(value, dict):
            space.sampled[key] = _parse_sampled(key, value, where)
        else:
            raise CSRecError(f"{where}: '{key}: {value!r}' is neither a list (grid) nor a mapping "
                             "{type: uniform|loguniform|choice, ...}; fixed values go on the command "
                             f"line (--{key}={value})")
    return space


def load_search_space(path: str) -> SearchSpace:
    path = resolve_params_file(path)
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CSRecError(f"params_file '{path}' is not valid yaml: {first}") from None
    return parse_search_space(data, where=f"params_file '{path}'")


def check_space(space: SearchSpace, known_keys: set[str], teacher: str,
                check_value: Callable[[str, Any], None] | None = None) -> list[str]:
    """Drop keys the teacher ignores (returned), reject unknown keys, check every value.

    `check_value(key, value)` builds a config with that value and raises CSRecError if it is bad.
    """
    dropped = [k for k in space.keys if teacher in IGNORED_BY_TEACHER.get(k, ())]
    for key in dropped:
        space.drop(key)
    unknown = [k for k in space.keys if k not in known_keys]
    if unknown:
        raise CSRecError(f"{space.source}: unknown config key(s) {', '.join(unknown)}: not a "
                         "RecBole or CSRec option of this model/dataset")
    if not space.keys:
        raise CSRecError(f"{space.source}: nothing left to search for teacher '{teacher}' "
                         f"(dropped: {', '.join(dropped)})")
    if check_value is not None:
        for key, value in space.values_to_check():
            try:
                check_value(key, value)
            except CSRecError as error:
                raise CSRecError(f"{space.source}: {key}={value!r}: {error}") from None
    return dropped
