"""What a run will need, predicted by `--dry_run` before anything is loaded: the CSRec-T noise
normaliser and its cost per step, the peak memory (RSS) and the disk it writes.

Sizes come from the prepared dataset's manifest (training/valid/test rows, items). The normaliser's
cost is measured, not modelled: one step on a random h of a smaller catalogue, scaled by the
normaliser's cost law (|I|^2 exact, |I| estimated). Memory is a sum of the large allocations of
the costliest phase, on top of this process's RSS (Python, torch and RecBole loaded, as in the
run); docs/performance.md compares the estimates with measured runs.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from recbole_csrec.model.noise import NoiseModel, resolve_normalizer
from recbole_csrec.soft_labels.cache import LOGIT_CHUNK_BYTES, PATH_EXACT, PATH_TOPK, cache_bytes
from recbole_csrec.soft_labels.disk_cache import PATH_DISK, disk_bytes_needed

MB = 2 ** 20
PROBE_ITEMS = {"exact": 2_000, "importance": 20_000, "sampled": 20_000}  # largest probe catalogue
# Bytes per training row that RecBole holds for a sequential dataset (item list and length,
# ids, rating and time as int64/float tensors, plus the pandas frame it is built from).
ROW_BYTES_PER_POSITION = 8 * 3
# [rows x items] fp32 arrays alive at a step's peak: fused student 3, plain CE / teacher 4; the
# CSRec-T main teacher 6: at the end of its forward g1's and g2's logits, p1, p2, d (saved by
# model/teacher_pair_loss.py) and a row-dot temporary; in its backward p1, p2, d, the expectation
# term's gradient, dz and a temporary (the logits are freed by then). Evaluation: scores, mask, topk 3.
STEP_ARRAYS = {"fused": 3, "plain": 4, "main-teacher": 6}
EVAL_ARRAYS = 3


@dataclass
class Sizes:
    train_rows: int
    eval_rows: int     # valid + test
    items: int         # real items (RecBole's item_num - 1)
    window: int        # MAX_ITEM_LIST_LENGTH + 1


def process_rss() -> int:
    """This process's resident set size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def normalizer_step_seconds(normalizer: str, items: int, rank: int, sample_size: int, batch: int = 256) -> float:
    """Seconds of one forward+backward of the normaliser's part of the expectation term at
    `items` items: measured at min(items, PROBE_ITEMS) on a random h, then scaled."""
    probe = min(items, PROBE_ITEMS[normalizer])
    noise = NoiseModel(probe + 1, rank, normalizer, exact_max_items=probe, sample_size=sample_size)
    weights = torch.softmax(torch.randn(batch, probe) * 3, dim=-1).mean(dim=0)
    best = float("inf")
    for _ in range(2):  # the first pays one-off allocations
        start = time.perf_counter()
        noise.weighted_log_normalizer(weights).backward()
        best = min(best, time.perf_counter() - start)
    law = 2 if normalizer == "exact" else 1
    return best * (items / probe) ** law


def model_parameters(config, items: int) -> int:
    """Parameters of one model: the item embedding dominates at catalogue scale."""
    width = config["embedding_size"] if "embedding_size" in config else config["hidden_size"]
    return (items + 1) * int(width) + 4 * int(width) ** 2 * 4


def peak_memory_bytes(config, sizes: Sizes, soft_label_path: str, tables: int) -> int:
    """Estimated peak RSS of the run: this process's RSS now + data + the largest phase."""
    teacher, n_items = config["teacher"], sizes.items + 1
    data = (sizes.train_rows + sizes.eval_rows) * sizes.window * ROW_BYTES_PER_POSITION
    params = model_parameters(config, sizes.items)
    trained = 4 * params  # weights, gradients, Adam's two moments
    batch, eval_batch = int(config["train_batch_size"]), int(config["eval_batch_size"])
    step_kind = "fused" if config["fused_output"] else "plain"
    student = trained + STEP_ARRAYS[step_kind] * batch * n_items * 4
    phases = []
    if teacher in ("model", "data", "training"):
        teachers = 1 if teacher == "training" else int(config["num_teachers"])
        student += teachers * params
        if soft_label_path in (PATH_EXACT, PATH_TOPK):
            student += cache_bytes(soft_label_path, sizes.train_rows, n_items, tables, int(config["soft_label_topk"]))
        elif soft_label_path == PATH_DISK:
            student += 256 * MB  # mapped pages are released every 256 MB (disk_cache.py)
        else:  # on the fly: the teachers' forward passes on every batch
            student += (teachers + 1) * batch * n_items * 4
        if soft_label_path in (PATH_EXACT, PATH_TOPK, PATH_DISK):  # the build: logits chunks + copies
            phases.append(teachers * params + 2 * LOGIT_CHUNK_BYTES)
    phases.append(student)
    if teacher == "training":  # the main teacher: g1 + h trained, g2 frozen
        noise = 4 * 2 * sizes.items * int(config["noise_rank"]) * 4
        phases.append(trained + params + noise + STEP_ARRAYS["main-teacher"] * batch * n_items * 4)
    evaluation = EVAL_ARRAYS * min(eval_batch, sizes.eval_rows) * n_items * 4
    return process_rss() + data + max(phases) + evaluation


def disk_bytes(config, sizes: Sizes, soft_label_path: str, tables: int, phases: int) -> int:
    """Weights (each phase's file in the run folder and its store copy) + a disk soft-label cache."""
    weights = 2 * phases * model_parameters(config, sizes.items) * 4
    if config["teacher"] == "training":
        weights += 2 * 2 * sizes.items * int(config["noise_rank"]) * 4
    cache = disk_bytes_needed(sizes.train_rows, sizes.items + 1, tables, str(config["ensemble"])) \
        if soft_label_path == PATH_DISK else 0
    return weights + cache


def estimate_lines(config, sizes: Sizes, soft_label_path: str, tables: int, phases: int) -> list[str]:
    """The `estimates:` block of the dry run."""
    lines = [f"  estimates: {sizes.train_rows:,} training rows, {sizes.items:,} items"]
    if config["teacher"] == "training" and config["expectation_term"]:
        normalizer = resolve_normalizer(str(config["noise_normalizer"]), sizes.items,
                                        int(config["noise_exact_max_items"]))
        seconds = normalizer_step_seconds(normalizer, sizes.items, int(config["noise_rank"]),
                                          int(config["noise_sample_size"]))
        size = "" if normalizer == "exact" else f", K={config['noise_sample_size']}"
        lines.append(f"    CSRec-T normaliser: {normalizer}{size}, ~{seconds * 1000:.0f} ms per main-teacher step "
                     f"({torch.get_num_threads()} threads; measured on a random h, scaled)")
    lines.append(f"    peak memory: ~{peak_memory_bytes(config, sizes, soft_label_path, tables) / MB:,.0f} MB RSS")
    lines.append(f"    disk: ~{disk_bytes(config, sizes, soft_label_path, tables, phases) / MB:,.0f} MB "
                 "(weights in the run folder and the teacher store"
                 + (", the disk soft-label cache)" if soft_label_path == PATH_DISK else ")"))
    return lines
