"""CSRecConfig: RecBole's Config plus this package's yaml defaults and input checks."""
from __future__ import annotations

import os
from typing import Any

import torch
import yaml
from recbole.config import Config
from recbole.utils import dataset_arguments, evaluation_arguments, general_arguments, training_arguments

from recbole_csrec.data.builtin import check_dataset_known
from recbole_csrec.errors import CSRecError
from recbole_csrec.model.capability import package_backbones, resolve_student_model
from recbole_csrec.keys import KEYS
from recbole_csrec.overrides import read_metrics_list
from recbole_csrec.paths import PROPERTIES_DIR
from recbole_csrec.recbole_checks import check_recbole_keys


RECBOLE_DEFAULT = "RecBole default"
COMMAND_LINE = "command line"
# Keys RecBole reads without a yaml default (distributed runs, saving) plus the ones this
# package's command line owns: known, so `--key=value` with them is not a typo.
RUNTIME_KEYS = frozenset({"model", "dataset", "teacher", "config_files", "device", "local_rank",
                          "nproc", "world_size", "offset", "ip", "port", "save_step", "encoding"})
# RecBole's own config errors are bad input too: one line instead of a traceback.
_RECBOLE_CONFIG_ERRORS = (ValueError, TypeError, KeyError, NotImplementedError, RuntimeError,
                          SyntaxError)


class CSRecConfig(Config):
    """RecBole Config that also reads the package's `properties/` and validates CSRec keys.

    Precedence (low to high): RecBole's yaml, this package's overall.yaml (CSRec keys only), the
    preset's yaml (`preset: paper`: preset/paper/overall.yaml and preset/paper/model/<Model>.yaml),
    the built-in dataset's yaml, the user's config files, config_dict, then `--key=value`.
    With `preset: none` (the default for any dataset but the built-ins) every RecBole key
    resolves exactly as RecBole's own Config resolves it for the same files.
    """

    def __init__(self, model: str | None = None, dataset: str | None = None,
                 config_file_list: list[str] | None = None,
                 config_dict: dict[str, Any] | None = None,
                 config_dict_source: str = "config_dict") -> None:
        # (label, keys) of each layer, lowest precedence first: where every value came from.
        self.layers: list[tuple[str, set[str]]] = []
        self.recbole_defaults: dict[str, Any] = {}
        try:
            super().__init__(model=model, dataset=dataset, config_file_list=config_file_list,
                             config_dict=config_dict)
        except CSRecError:
            raise
        except _RECBOLE_CONFIG_ERRORS as error:
            raise CSRecError(f"RecBole rejects the configuration: {type(error).__name__}: "
                             f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}") from None
        self.layers.append((config_dict_source, set(self.variable_config_dict)))
        self.layers.append((COMMAND_LINE, set(self.cmd_config_dict)))
        self._label_field_for_filtered_metrics()
        validate_csrec_config(self)

    def _load_config_files(self, file_list):
        """RecBole's reading of the user's yaml files, with one-line errors naming the file."""
        merged: dict[str, Any] = {}
        self.file_layers: list[tuple[str, set[str]]] = []
        for path in file_list or []:
            if not os.path.isfile(path):
                raise CSRecError(f"config file '{path}' does not exist (--config_files takes "
                                 "space-separated yaml files)")
            try:
                with open(path, encoding="utf-8-sig") as handle:
                    data = yaml.load(handle.read(), Loader=self.yaml_loader)
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                first = str(error).strip().splitlines()
                raise CSRecError(f"config file '{path}' is not valid yaml: "
                                 f"{' '.join(first[:3]) if first else type(error).__name__}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
                raise CSRecError(f"config file '{path}' is not accepted: it holds a "
                                 f"{type(data).__name__}, not a mapping of key: value lines")
            self.file_layers.append((f"config file {path}", set(data)))
            merged.update(data)
        return merged

    def _set_default_parameters(self):
        # Before RecBole reads the merged values (and raises deep inside on a bad one); the
        # dataset's name first (RecBole joins data_path and dataset right after this).
        values = self.final_config_dict
        if self.dataset is not None and values.get("data_path"):
            check_dataset_known(str(self.dataset), os.path.join(values["data_path"], str(self.dataset)))
        check_recbole_keys(values)
        super()._set_default_parameters()

    def known_keys(self) -> set[str]:
        """Every key some layer below the overrides knows: RecBole's yaml and argument lists,
        this package's yaml, the model's and dataset's yaml, the user's config files."""
        known = set(self.internal_config_dict) | set(self.file_config_dict) | set(RUNTIME_KEYS)
        for names in (general_arguments, training_arguments, evaluation_arguments, dataset_arguments):
            known.update(names)
        return known

    def value_sources(self) -> dict[str, str]:
        """key -> where its final value came from (the last layer that set it)."""
        sources: dict[str, str] = {key: RECBOLE_DEFAULT for key in self.recbole_defaults}
        for label, keys in self.layers:
            sources.update({key: label for key in keys})
        return sources

    def non_default_values(self) -> list[tuple[str, Any, str]]:
        """(key, value, source) of every value the user set, and of every package value that
        differs from RecBole's own default."""
        rows = []
        for key, source in self.value_sources().items():
            if source == RECBOLE_DEFAULT or key not in self.final_config_dict:
                continue
            value = self.final_config_dict[key]
            if source in self.package_sources:
                # A package value is listed where it changes RecBole's (CSRec's own keys at
                # their package default are the defaults).
                if key not in self.recbole_defaults and source.startswith("recbole_csrec"):
                    continue
                if key in self.recbole_defaults and self.recbole_defaults[key] == value:
                    continue
            rows.append((key, value, source))
        return rows

    def _label_field_for_filtered_metrics(self) -> None:
        """Recall+/NDCG+ read target ratings as RecBole's data.label: collect the rating field."""
        from recbole_csrec.metrics import filtered_metrics

        if filtered_metrics(self) and self["LABEL_FIELD"] in (None, "label"):
            self["LABEL_FIELD"] = self["RATING_FIELD"]

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
        if model is None:
            raise CSRecError("no model given: pass --model=NAME (e.g. --model=GRU4Rec)")
        if dataset is None:
            raise CSRecError("no dataset given: pass --dataset=NAME (e.g. --dataset=ml)")
        if isinstance(model, str):
            model_class = resolve_student_model(model)
            if model in package_backbones():  # RecBole's own lookup knows only its models
                model = model_class
        return super()._get_model_and_dataset(model, dataset)

    def _convert_config_dict(self, config_dict):
        return read_metrics_list(super()._convert_config_dict(config_dict))

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        parent = recbole_parent(model_class)
        if parent is not None:  # a package backbone has its RecBole parent's defaults
            self._update_internal_config_dict(recbole_model_defaults(parent))
        self.recbole_defaults = dict(self.internal_config_dict)
        self.package_sources: set[str] = set()
        self._package_layer("recbole_csrec defaults", os.path.join(PROPERTIES_DIR, "overall.yaml"))
        dataset_file = os.path.join(PROPERTIES_DIR, "dataset", f"{dataset}.yaml")
        dataset_values = {}
        if os.path.isfile(dataset_file):  # a built-in dataset: it names its preset
            with open(dataset_file, encoding="utf-8") as handle:
                dataset_values = yaml.load(handle.read(), Loader=self.yaml_loader) or {}
        preset = self.external_config_dict.get(
            "preset", dataset_values.get("preset", self.internal_config_dict.get("preset")))
        for path in preset_files(preset, parent or model):
            label = f"{preset} preset for {model}" if os.sep + "model" + os.sep in path else f"{preset} preset"
            self._package_layer(label, path)
        if os.path.isfile(dataset_file):  # the dataset's own settings win over the preset's
            self._package_layer(f"dataset preset for {dataset}", dataset_file)
        self.layers.extend(getattr(self, "file_layers", []))

    def _package_layer(self, label: str, path: str) -> None:
        """Load one of this package's yaml files and record it as a layer (for the dry run)."""
        keys = self._update_internal_config_dict(path) or {}
        source = f"{label} ({os.path.relpath(path, os.path.dirname(PROPERTIES_DIR))})"
        self.package_sources.add(source)
        self.layers.append((source, set(keys)))


def available_presets() -> list[str]:
    """`none` plus every folder of properties/preset/."""
    folder = os.path.join(PROPERTIES_DIR, "preset")
    return ["none"] + sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)))


def recbole_parent(model_class: type) -> str | None:
    """The RecBole model a package backbone extends (NextItNetLastItem -> NextItNet), else None."""
    if model_class.__name__ not in package_backbones():
        return None
    for base in model_class.__mro__[1:]:
        if base.__module__.startswith("recbole.model.sequential_recommender."):
            return base.__name__
    return None


def recbole_model_defaults(model: str) -> str:
    """RecBole's yaml of defaults for its model `model`."""
    import recbole.config.configurator as configurator

    return os.path.join(os.path.dirname(os.path.realpath(configurator.__file__)), "..", "properties",
                        "model", f"{model}.yaml")


def preset_files(preset: Any, model: str) -> list[str]:
    """The yaml files of settings preset `preset` for `model` (none for `none`).

    Raises CSRecError for an unknown preset.
    """
    accepted = available_presets()
    if preset not in accepted:
        raise CSRecError(f"unknown preset {preset!r}: accepted are {', '.join(accepted)}")
    if preset == "none":
        return []
    folder = os.path.join(PROPERTIES_DIR, "preset", preset)
    files = [os.path.join(folder, "overall.yaml"), os.path.join(folder, "model", f"{model}.yaml")]
    return [path for path in files if os.path.isfile(path)]


def preset_description(config: Config) -> str:
    """One log line: which settings preset is in force."""
    preset = config["preset"]
    if preset == "none":
        return "settings preset: none (RecBole's defaults for every RecBole key, then your files)"
    model = recbole_parent(config.model_class) or config["model"]
    files = [os.path.relpath(p, os.path.dirname(PROPERTIES_DIR)) for p in preset_files(preset, model)]
    return f"settings preset: {preset} ({', '.join(files)}; your files and --key=value still win)"


def effective_setup(config: Config) -> str:
    """One line on what actually applies where RecBole's config dump shows settings that do not:
    the device (use_gpu stays True without a GPU) and the split (pre-split files ignore
    eval_args.split)."""
    device = f"device: {config['device']}"
    if config["use_gpu"] and torch.device(config["device"]).type == "cpu":
        device += " (use_gpu is True, but no CUDA device is visible)"
    files, dataset = config["benchmark_filename"], config["dataset"]
    split = (f"split: the pre-split files {', '.join(f'{dataset}.{name}.inter' for name in files)} "
             "(eval_args.split is not used)" if files else f"split: eval_args.split {config['eval_args']['split']}")
    return f"{device}; {split}"


def validate_csrec_config(config: Config) -> None:
    """Raise CSRecError (one line: the bad value and what is accepted) on a bad CSRec key: every
    key by its rule in recbole_csrec/keys.py, then the checks that need more than one value."""
    from recbole_csrec.teachers import TEACHERS  # registers the built-in kinds (they import the trainer)

    teacher = config["teacher"]
    if teacher not in TEACHERS:
        raise CSRecError(f"unknown teacher '{teacher}': accepted are {', '.join(TEACHERS)}")
    if config["teacher_model"] is not None:
        resolve_student_model(str(config["teacher_model"]), key="teacher_model")
    for key in KEYS:
        key.check(config[key.name])
    if str(config["loss_type"]).upper() != "CE":
        raise CSRecError(f"loss_type='{config['loss_type']}' is not accepted: CSRec trains with CE")
    _validate_filtered_metrics(config)


def _validate_filtered_metrics(config: Config) -> None:
    """rating_threshold is a number; Recall+/NDCG+ need raw (not normalised) ratings."""
    metrics = config["metrics"] or []
    filtered = [m for m in ([metrics] if isinstance(metrics, str) else metrics) if str(m).endswith("+")]
    if not filtered:
        return
    rating = config["RATING_FIELD"]
    if config["normalize_all"] is True or rating in (config["normalize_field"] or []):
        raise CSRecError(f"metrics {', '.join(filtered)} compare raw ratings with rating_threshold="
                         f"{config['rating_threshold']}, but normalize_all/normalize_field rescales "
                         f"'{rating}': set --normalize_all=False")
