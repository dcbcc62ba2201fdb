"""Checks of the RecBole keys a user types every day, run on the merged settings before
RecBole reads them: one line naming the key, the value and what is accepted.

Without them `--epochs=abc` fails deep in the trainer, `--learning_rate=-1` in torch after the
dataset is built, and a typo in a metric name with a NotImplementedError traceback.
"""
from __future__ import annotations

import math
import re
from typing import Any

from recbole_csrec.errors import CSRecError

LEARNERS = ("adam", "sgd", "adagrad", "rmsprop", "sparse_adam")
EVAL_ARGS_KEYS = ("split", "order", "group_by", "mode")
EVAL_MODE = re.compile(r"^(full|labeled|uni\d+|pop\d+)$")
GPU_ID = re.compile(r"^\s*(\d+\s*(,\s*\d+\s*)*)?$")
DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_at_least(values: dict[str, Any], key: str, low: int, why: str = "") -> None:
    value = values.get(key)
    if not _is_int(value) or value < low:
        raise CSRecError(f"{key}={value!r} is not accepted: an integer >= {low}{why}")


def _optional_int_at_least(values: dict[str, Any], key: str, low: int) -> None:
    if values.get(key) is not None:
        _int_at_least(values, key, low)


def _bool(values: dict[str, Any], key: str) -> None:
    if key in values and not isinstance(values[key], bool):
        raise CSRecError(f"{key}={values[key]!r} is not accepted: True or False")


def _metric_names(values: dict[str, Any]) -> list[str]:
    from recbole.evaluator.register import metric_types
    from recbole.utils import EvaluatorType

    import recbole_csrec.metrics  # noqa: F401  (registers Recall+/NDCG+)

    metrics = values.get("metrics")
    names = [metrics] if isinstance(metrics, str) else metrics
    ranking = sorted(k for k, v in metric_types.items() if v == EvaluatorType.RANKING)
    if not isinstance(names, list) or not names or not all(isinstance(m, str) for m in names):
        raise CSRecError(f"metrics={metrics!r} is not accepted: a list of metric names, e.g. "
                         f"\"[Recall,NDCG]\" (known: {', '.join(ranking)})")
    for name in names:
        if name.lower() not in ranking:
            why = " (a value metric: full-ranking evaluation needs ranking metrics)" \
                if name.lower() in metric_types else ""
            raise CSRecError(f"metrics: '{name}' is not accepted{why}: known ranking metrics are "
                             f"{', '.join(ranking)} (any case)")
    return names


def _topk(values: dict[str, Any]) -> list[int]:
    topk = values.get("topk")
    ks = [topk] if _is_int(topk) else topk
    if not isinstance(ks, list) or not ks or not all(_is_int(k) and k >= 1 for k in ks):
        raise CSRecError(f"topk={topk!r} is not accepted: an integer >= 1 or a list of them, e.g. [5,10,20]")
    return ks


def _valid_metric(values: dict[str, Any], metrics: list[str], topk: list[int]) -> None:
    valid = values.get("valid_metric")
    choices = [f"{m}@{k}" for m in metrics for k in topk]
    name, _, k = str(valid).partition("@")
    if not isinstance(valid, str) or name.lower() not in {m.lower() for m in metrics} \
            or not k.isdigit() or int(k) not in topk:
        raise CSRecError(f"valid_metric={valid!r} is not accepted: one of metrics x topk "
                         f"({', '.join(choices)})")


def _dropouts(values: dict[str, Any]) -> None:
    for key, value in values.items():
        if "dropout" not in key or value is None:
            continue
        probs = value if isinstance(value, list) else [value]
        for p in probs:
            if not _is_number(p) or not 0 <= p < 1:
                raise CSRecError(f"{key}={value!r} is not accepted: a probability p with 0 <= p < 1"
                                 + (" (for each entry)" if isinstance(value, list) else ""))


def _device(values: dict[str, Any]) -> None:
    gpu_id = values.get("gpu_id")
    if isinstance(gpu_id, tuple):
        gpu_id = ",".join(map(str, gpu_id))
    if gpu_id is not None and (isinstance(gpu_id, bool) or not GPU_ID.match(str(gpu_id))):
        raise CSRecError(f"gpu_id={values.get('gpu_id')!r} is not accepted: GPU numbers, e.g. 0 or "
                         "\"0,1\" ('' for none)")
    device = values.get("device")
    if device is not None and not DEVICE.match(str(device)):
        raise CSRecError(f"device={device!r} is not accepted: cpu, cuda or cuda:N (RecBole picks it "
                         "from gpu_id and use_gpu)")
    _bool(values, "use_gpu")


def _eval_args(values: dict[str, Any]) -> None:
    args = values.get("eval_args")
    accepted = ("a mapping such as \"{'order': 'TO', 'mode': 'full'}\" with keys "
                + ", ".join(EVAL_ARGS_KEYS))
    if not isinstance(args, dict) or any(k not in EVAL_ARGS_KEYS for k in args):
        raise CSRecError(f"eval_args={args!r} is not accepted: {accepted}")
    if args.get("order", "RO") not in ("RO", "TO"):
        raise CSRecError(f"eval_args order={args['order']!r} is not accepted: RO or TO")
    if args.get("group_by", "user") not in ("user", "none", None):
        raise CSRecError(f"eval_args group_by={args['group_by']!r} is not accepted: user or none")
    mode = args.get("mode", "full")
    modes = list(mode.values()) if isinstance(mode, dict) else [mode]
    if (isinstance(mode, dict) and any(k not in ("valid", "test") for k in mode)) \
            or not all(isinstance(m, str) and EVAL_MODE.match(m) for m in modes):
        raise CSRecError(f"eval_args mode={mode!r} is not accepted: full, labeled, uniN or popN "
                         "(or {'valid': ..., 'test': ...})")
    split = args.get("split", {"RS": [0.8, 0.1, 0.1]})
    ok = isinstance(split, dict) and len(split) == 1
    if ok and "RS" in split:
        ratios = split["RS"]
        ok = isinstance(ratios, list) and 1 <= len(ratios) <= 3 and all(_is_number(r) and r >= 0 for r in ratios) \
            and sum(ratios) > 0
    elif ok and "LS" in split:
        ok = split["LS"] in ("valid_and_test", "valid_only", "test_only")
    else:
        ok = False
    if not ok:
        raise CSRecError(f"eval_args split={split!r} is not accepted: {{'RS': [0.8, 0.1, 0.1]}} "
                         "or {'LS': 'valid_and_test'}")


def check_recbole_keys(values: dict[str, Any]) -> None:
    """Raise CSRecError on the first bad value among the everyday RecBole keys of `values`
    (RecBole's, this package's and the user's settings merged, before RecBole reads them)."""
    _int_at_least(values, "epochs", 1)
    _int_at_least(values, "train_batch_size", 1)
    _int_at_least(values, "eval_batch_size", 1)
    learning_rate = values.get("learning_rate")
    if not _is_number(learning_rate) or learning_rate <= 0:
        raise CSRecError(f"learning_rate={learning_rate!r} is not accepted: a number > 0, e.g. 1e-3")
    weight_decay = values.get("weight_decay")
    if not _is_number(weight_decay) or weight_decay < 0:
        raise CSRecError(f"weight_decay={weight_decay!r} is not accepted: a number >= 0")
    learner = values.get("learner")
    if not isinstance(learner, str) or learner.lower() not in LEARNERS:
        raise CSRecError(f"learner={learner!r} is not accepted: {', '.join(LEARNERS)}")
    _int_at_least(values, "stopping_step", 1)
    _int_at_least(values, "eval_step", 0, " (epochs between validations; 0: never validate)")
    metrics, topk = _metric_names(values), _topk(values)
    _valid_metric(values, metrics, topk)
    _int_at_least(values, "MAX_ITEM_LIST_LENGTH", 1)
    _optional_int_at_least(values, "embedding_size", 1)
    _optional_int_at_least(values, "hidden_size", 1)
    _dropouts(values)
    seed = values.get("seed")
    if not _is_int(seed) or seed < 0:
        raise CSRecError(f"seed={seed!r} is not accepted: an integer >= 0")
    _device(values)
    _eval_args(values)
    neg = values.get("train_neg_sample_args")
    if neg is not None:
        # RecBole's default; CSRec never overrides it silently (a user's dataset has no preset).
        raise CSRecError(f"train_neg_sample_args={neg!r} is not accepted: CSRec students train with "
                         "CE over all items, so it must be None: set train_neg_sample_args: ~ in your "
                         "config (RecBole's rule for CE), or use --preset=paper")
    for key in ("show_progress", "reproducibility", "repeatable"):
        _bool(values, key)
    if values.get("repeatable") is False:
        raise CSRecError("repeatable=False is not accepted: RecBole's sequential models need True")
