"""What a student training step costs, choice by choice, against a Base step (docs/performance.md).

    python run_scripts/step_costs.py --model NARM --dataset lastfm [--batches 40] [--threads 1]

On the real training loader, with random-init teachers (step cost does not depend on training),
one optimiser step each, in turn batch by batch so that machine load hits every variant alike:

- base: the backbone's own CE (RecBole's step);
- two-part: CE + soft_label_kl (a second log-softmax over the real items, r materialised), soft
  labels from the raw fp16 logits cache (gather, sum, scale, log-softmax per batch);
- one log-softmax: forward_student_objective, same raw cache;
- one log-softmax + tempered cache: the shipped path (the cache holds log softmax(e/T)).

Prints ms/step and the ratio to base for each, from the 4th batch on.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from typing import Any, Callable

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.data import ensure_dataset_files
from recbole_csrec.errors import exit_code
from recbole_csrec.loss import soft_label_kl, student_loss
from recbole_csrec.model import CSRecStudent
from recbole_csrec.overrides import OneLineParser, recbole_argv
from recbole_csrec.quick_start import check_command_line
from recbole_csrec.quick_start import build_configs
from recbole_csrec.soft_labels import TeacherEnsemble, cache_soft_labels
from recbole_csrec.soft_labels.base import SoftLabelBatch
from recbole_csrec.soft_labels.cache import CachedSoftLabels
from recbole_csrec.soft_labels.ensemble import combine_teacher_logits
from recbole_csrec.lookups import get_model


class RawCache(CachedSoftLabels):
    """The cache as before tempering: every batch combines the stored fp16 logits itself."""

    def batch(self, interaction, temperature: float) -> SoftLabelBatch:
        logits = self.lookup(self._rows(interaction))
        return SoftLabelBatch(combine_teacher_logits(logits, temperature, self.mode), None)


class TwoPartStudent(CSRecStudent):
    """The student loss as two separate terms: the backbone's CE, then soft_label_kl."""

    def calculate_loss(self, interaction):
        self._recorder.reset()
        soft_labels = self.soft_labels.batch(interaction, self.temperature)
        ce = self.backbone.calculate_loss(interaction)  # unfused: the recorder keeps the logits
        kl = soft_label_kl(self._recorder.logits, soft_labels.log_probs, interaction[self.POS_ITEM_ID])
        return student_loss(ce, kl, self.beta)


def time_steps(variants: dict[str, Any], batches: list, skip: int = 3) -> dict[str, float]:
    """Mean seconds of one optimiser step of each variant, batches interleaved."""
    optimisers = {name: torch.optim.Adam(model.parameters(), lr=1e-3) for name, model in variants.items()}
    seconds = {name: 0.0 for name in variants}
    for index, batch in enumerate(batches):
        for name, model in variants.items():
            start = time.perf_counter()
            optimisers[name].zero_grad()
            loss = model.calculate_loss(batch)
            (sum(loss) if isinstance(loss, tuple) else loss).backward()
            optimisers[name].step()
            if index >= skip:
                seconds[name] += time.perf_counter() - start
    return {name: total / max(1, len(batches) - skip) for name, total in seconds.items()}


def run(args: argparse.Namespace, overrides: list[str]) -> dict[str, float]:
    if args.threads:
        torch.set_num_threads(args.threads)
    with recbole_argv(overrides):
        config, _ = build_configs(args.model, args.dataset, "model", None,
                                  {"show_progress": False, "reuse_teachers": False, "state": "WARNING"})
    ensure_dataset_files(config)
    init_seed(config["seed"], config["reproducibility"])
    train_data = data_preparation(config, create_dataset(config))[0]
    dataset = train_data._dataset
    make: Callable[[int], Any] = lambda seed: (init_seed(seed, True), get_model(args.model)(config, dataset))[1]
    cache = cache_soft_labels(TeacherEnsemble([make(1), make(2)]), config, train_data)
    if not isinstance(cache, CachedSoftLabels):
        raise RuntimeError("the exact cache did not fit soft_label_cache_mb: raise it to compare")
    raw = RawCache(copy.deepcopy(cache.tensors), cache.mode, cache.meta)
    variants = {
        "base": make(3),
        "two-part": TwoPartStudent(config, dataset, make(3), raw),
        "one log-softmax": CSRecStudent(config, dataset, make(3), raw),
        "one log-softmax + tempered cache": CSRecStudent(config, dataset, make(3), cache),
    }
    batches = [batch for _, batch in zip(range(args.batches), train_data)]
    with anomaly_mode(config["detect_anomaly"]):
        seconds = time_steps(variants, batches)
    print(f"{args.model} on {args.dataset}: batch {config['train_batch_size']}, {dataset.item_num} items, "
          f"{len(batches)} batches, torch threads {torch.get_num_threads()}")
    print("| variant | ms/step | / base |\n|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value * 1000:.1f} | {value / seconds['base']:.3f} |")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="step_costs.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="NARM")
    parser.add_argument("--dataset", default="lastfm")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None)
    argv = sys.argv[1:] if argv is None else argv

    def measure() -> None:
        args, overrides = parser.parse_known_args(argv)
        check_command_line(args.model, args.dataset, None, overrides)  # unknown keys refused first
        run(args, overrides)

    return exit_code("step_costs", measure)
