"""What the teachers teach: soft-label diagnostics over the validation rows, once per run.

After the teacher phases and before the student, one pass over the validation loader (the
evaluator's own batches) describes the soft labels softmax(e_u/T) the student will read, each
frozen teacher's softmax(q_k/T), and SoftRec's popularity distribution softmax(pop/T) beside them:

- accuracy: Recall@10 / NDCG@10 of the scores as a recommender, as RecBole's full-sort evaluator
  computes them (padding dropped, history masked, RecBole's Recall and NDCG formulas; the top 10
  from torch.topk where the top-10 lists are needed anyway, else from each target's rank, which
  gives the same figures unless another item ties exactly with the target); the soft labels are
  ranked by log softmax(e_u/T), which orders items as e_u does;
- confidence: mean entropy of the distribution and mean probability mass on the target;
- popularity bias: mean mass on the 20% most frequent training items (the paper's popular items,
  recbole_csrec.evaluation.popular_items);
- agreement between teachers (two or more): mean over ordered pairs (k, l) of KL(p_k || p_l), and
  the mean share of shared items in their top 10. CSRec-T compares g1 (`main-teacher`, the soft
  labels) with g2 (`side-teacher`) and adds h's mean diagonal mass, mean_j h(j|j): how much the
  noise model believes an observed item is the preferred one.

Names are `<source>_<figure>` (sources: `ensemble`, each teacher phase, `pop`) plus
`teachers_kl`, `teachers_top10_overlap`, `noise_diag_mass`, `rows`, `seconds`.

Cost: a teacher trained in this run has kept its scores of its best validation epoch
(CSRecTrainer's `keep_valid_scores_mb`, within the `soft_label_cache_mb` budget), so it runs no
forward here; a teacher loaded from the store (or trained without validation, or over budget)
runs `full_sort_predict` once per validation batch (the forward pass the evaluator itself runs).
No other pass over the data is made; the ensemble is combined from
those same logits, and every figure is elementwise work on the [B, |I|] tensors already in
memory: per teacher one log-softmax, one exp and one topk(10) (RecBole's evaluator: one
topk(max topk)), per pair one row-wise product; SoftRec's distribution is one fixed vector,
computed once. So the pass costs less than one validation evaluation per teacher with kept
scores, about one without (its seconds are logged and returned as `seconds`;
docs/performance.md has both measured).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from logging import getLogger
from time import time
from typing import Any, Iterable

import torch
from recbole.utils import get_tensorboard, set_color
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from recbole_csrec.data.item_counts import training_item_counts
from recbole_csrec.evaluation import popular_items
from recbole_csrec.soft_labels.base import SoftLabelSource
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble, combine_teacher_logits
from recbole_csrec.soft_labels.fixed import FixedLogits
from recbole_csrec.teachers.context import TeacherContext
from recbole_csrec.teachers.popularity import popularity_logits
from recbole_csrec.trainer import input_item_index

TOPK = 10
CHUNK_ELEMENTS = 1 << 22  # rows x items of one chunk of derived tensors (16 MiB in float32)
PHASE = "teachers"  # the tensorboard phase the figures are written under
LABEL_FIGURES = ("recall@10", "ndcg@10", "entropy", "target_mass", "popular_mass")


@dataclass
class TeacherView:
    """What the diagnostics look at: the frozen teachers by phase name and how they make e_u."""

    teachers: dict[str, Any]                  # name -> frozen model with full_sort_predict
    ensemble: list[str]                       # names whose logits combine into e_u
    mode: str = "logits"                      # the `ensemble` key
    fixed_logits: torch.Tensor | None = None  # [n_items] e_u of every row (SoftRec), else None
    noise: Any = None                         # CSRec-T's noise model h, if any


def teacher_view(source: SoftLabelSource | None, phase_names: list[str]) -> TeacherView | None:
    """The view of a teacher builder's soft-label source (before the cache); None for Base and
    for sources this module does not know (a new teacher kind's own SoftLabelSource)."""
    if isinstance(source, FixedLogits):
        return TeacherView({}, [], fixed_logits=source.logits.view(-1))
    if not isinstance(source, TeacherEnsemble):
        return None
    side = getattr(source, "side_teacher", None)  # CSRec-T (teachers/training_level.py)
    if side is not None:
        return TeacherView({"main-teacher": source.teachers[0], "side-teacher": side},
                           ["main-teacher"], source.mode, noise=getattr(source, "noise", None))
    names = phase_names if len(phase_names) == len(source.teachers) else \
        [f"teacher-{k}" for k in range(1, len(source.teachers) + 1)]
    return TeacherView(dict(zip(names, source.teachers)), list(names), source.mode)


def ranking_rows(scores: torch.Tensor | None, positives: torch.Tensor, top: torch.Tensor | None = None,
                 pos_len: torch.Tensor | None = None, k: int = TOPK) -> tuple[torch.Tensor, ...]:
    """Per row Recall@k and NDCG@k as RecBole computes them, and the top-k ids.

    `positives` is a [B, n] bool matrix (RecBole's pos_matrix); ties go as torch.topk breaks
    them, as in RecBole's collector. `top` ([B, k] ids) skips the topk when already known;
    `pos_len` (targets per row) skips counting them in `positives`.
    """
    if top is None:
        top = torch.topk(scores, k, dim=-1).indices
    hits = positives.gather(1, top).double()
    if pos_len is None:
        pos_len = positives.sum(dim=1)
    pos_len = pos_len.double()
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=positives.device, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)[pos_len.clamp(1, k).long() - 1]
    return hits.sum(dim=1) / pos_len, (hits * discount).sum(dim=1) / ideal, top


def rank_rows(scores: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor],
              pos_len: torch.Tensor, k: int = TOPK) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row Recall@k and NDCG@k from each target's rank (1 + items scored higher), without a
    topk: RecBole's figures whenever no other item ties with a target (ties count in the
    target's favour, as in recbole_csrec.evaluation.per_user_ranks)."""
    rows, cols = targets
    n_rows = scores.size(0)
    one_each = rows.numel() == n_rows and bool((rows == torch.arange(n_rows, device=rows.device)).all())
    mine = scores if one_each else scores[rows]
    ranks = 1 + (mine > scores[rows, cols].unsqueeze(1)).sum(dim=1)
    hit = (ranks <= k).double()
    pos_len = pos_len.double()
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=scores.device, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)[pos_len.clamp(1, k).long() - 1]
    return (_per_row(hit, rows, n_rows) / pos_len,
            _per_row(hit / torch.log2(ranks.double() + 1), rows, n_rows) / ideal)


def row_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_i a[r, i] * b[r, i] per row."""
    return (a * b).sum(dim=1).double()


@torch.no_grad()
def noise_diagonal_mass(noise) -> float:
    """mean_j h(j|j) of CSRec-T's noise model (recbole_csrec/model/noise.py): S[j,j] - log Z_j."""
    diagonal = (noise.M * noise.N.t()).sum(dim=1)
    return float(torch.exp(diagonal - noise.log_normalizer()).mean())


def _row_mask(rows: torch.Tensor, items: torch.Tensor, lo: int, hi: int, n_real: int,
              device: torch.device | str) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """[hi-lo, n_real] bool mask over the real items (item id k -> column k-1) of the
    (row, item) pairs with lo <= row < hi, and those pairs as (rows, columns) of the mask;
    padding (id 0) never enters."""
    rows, items = rows.to(device), items.to(device)
    keep = (rows >= lo) & (rows < hi) & (items > 0)
    cells = (rows[keep] - lo, items[keep] - 1)
    mask = torch.zeros(hi - lo, n_real, dtype=torch.bool, device=device)
    mask[cells] = True
    return mask, cells


@torch.no_grad()
def soft_label_diagnostics(batches: Iterable, view: TeacherView, temperature: float,
                           pop_logits: torch.Tensor, popular: torch.Tensor,
                           device: torch.device | str = "cpu",
                           input_field: str | None = None,
                           stored: dict[str, list[torch.Tensor]] | None = None) -> dict[str, float]:
    """The figures over `batches` (RecBole full-sort eval batches: interaction, history index,
    positive_u, positive_i). `pop_logits` are SoftRec's [n_items] logits, `popular` the
    [n_items] bool mask of popular items. With `input_field` (the item sequence field, given when
    `mask_input_items` is on) the input's items except the target are masked for ranking, as
    CSRecTrainer's evaluation then does.

    Everything is computed over the real items (column 0, padding, is dropped: it never gets
    probability nor a rank), so no -inf enters a sum.

    `stored` maps a teacher's name to its scores on these same batches ([rows, real items] each,
    as its trainer kept them at its best validation epoch): such a teacher is not run again.
    """
    for teacher in view.teachers.values():
        teacher.eval()
    popular = popular[1:].to(device).float()
    pop = _fixed_source(pop_logits, temperature, popular, device)
    fixed = None if view.fixed_logits is None else _fixed_source(view.fixed_logits, temperature, popular, device)
    n_items = pop["log_p"].size(1)
    sums = _FigureSums(view, temperature, popular, pop, fixed)
    stored = stored or {}
    rows = 0
    for index, (interaction, history_index, positive_u, positive_i) in enumerate(batches):
        interaction = interaction.to(device)
        n_rows = len(interaction)
        if input_field is not None:
            history_index = input_item_index(interaction[input_field], positive_u, positive_i)
        # At most one forward pass per teacher (the evaluator's own), none for a teacher whose
        # validation scores were kept; every figure reuses these logits.
        logits = {name: stored[name][index].to(device)
                  if name in stored and stored[name][index].size(0) == n_rows else
                  model.full_sort_predict(interaction).float()[:, 1:]
                  for name, model in view.teachers.items()}
        # Row chunks bound the memory of the derived [rows, |I|] tensors, whatever eval_batch_size.
        step = max(1, CHUNK_ELEMENTS // n_items)
        for lo in range(0, n_rows, step):
            hi = min(lo + step, n_rows)
            history = None if history_index is None else _row_mask(*history_index, lo, hi, n_items, device)[0]
            sums.add_rows({name: q[lo:hi] for name, q in logits.items()},
                          *_row_mask(positive_u, positive_i, lo, hi, n_items, device), history)
        rows += n_rows
    figures = {key: float(value) / rows for key, value in sums.sums.items()} if rows else {}
    if view.noise is not None:
        figures["noise_diag_mass"] = noise_diagonal_mass(view.noise)
    figures["rows"] = float(rows)
    return figures


class _FigureSums:
    """Running sums of every figure over the rows seen so far (soft_label_diagnostics)."""

    def __init__(self, view: TeacherView, temperature: float, popular: torch.Tensor,
                 pop: dict, fixed: dict | None) -> None:
        self.view, self.temperature, self.popular, self.pop, self.fixed = view, temperature, popular, pop, fixed
        names = list(view.teachers)
        self.pairs = [(a, b) for a in names for b in names if a != b]
        self.sums: dict[str, torch.Tensor] = {}

    def add(self, key: str, values: torch.Tensor) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + values.sum()

    def add_source(self, name: str, scores: torch.Tensor | None, log_p: torch.Tensor | None,
                   positives: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor],
                   history: torch.Tensor | None, const: dict | None = None, need_top: bool = False) -> dict:
        """Figures of one distribution; `const` is a row-independent one (computed once).
        `targets`: (rows, columns) of the True cells of `positives`. The top 10 (a topk, the
        costliest step) is computed only when `need_top` (teachers compared by overlap); else
        the targets' ranks give Recall/NDCG."""
        pos_len = torch.bincount(targets[0], minlength=positives.size(0))
        if const is not None and history is None:
            n_rows = positives.size(0)
            recall, ndcg, top = ranking_rows(None, positives, const["top"].expand(n_rows, -1), pos_len)
            p, entropy = const["p"], const["entropy"].expand(n_rows)
            popular_mass = const["popular_mass"].expand(n_rows)
            target_mass = _per_row(p[targets[1]], targets[0], n_rows)
            out = {"top": top}
        else:
            if const is not None:  # a fixed distribution with per-row history masking
                scores = log_p = const["log_p"].expand(positives.size(0), -1)
            if history is not None:  # as RecBole's _full_sort_batch_eval
                scores = scores.masked_fill(history, -math.inf)
            if need_top:
                recall, ndcg, top = ranking_rows(scores, positives, pos_len=pos_len)
            else:
                (recall, ndcg), top = rank_rows(scores, targets, pos_len), None
            p = log_p.exp()
            entropy = -row_dot(p, log_p)
            popular_mass = (p @ self.popular).double()
            target_mass = _per_row(p[targets], targets[0], p.size(0))
            out = {"top": top, "p": p, "log_p": log_p, "entropy": entropy}
        out["figures"] = dict(zip(LABEL_FIGURES, (recall, ndcg, entropy, target_mass, popular_mass)))
        for figure, values in out["figures"].items():
            self.add(f"{name}_{figure}", values)
        return out

    def add_rows(self, logits: dict[str, torch.Tensor], positives: torch.Tensor,
                 targets: tuple[torch.Tensor, torch.Tensor], history: torch.Tensor | None) -> None:
        view, temperature, pairs = self.view, self.temperature, self.pairs
        seen = {name: self.add_source(name, q, torch.log_softmax(q / temperature, dim=-1), positives, targets,
                                      history, need_top=bool(pairs))
                for name, q in logits.items()}
        if len(view.ensemble) == 1:  # e_u is that teacher's logits (CSRec-T's g1): same figures
            for figure, values in seen[view.ensemble[0]]["figures"].items():
                self.add(f"ensemble_{figure}", values)
        elif view.ensemble:
            ensemble = combine_teacher_logits(torch.stack([logits[n] for n in view.ensemble]),
                                              temperature, view.mode)
            self.add_source("ensemble", ensemble, ensemble, positives, targets, history)
        else:
            self.add_source("ensemble", None, None, positives, targets, history, self.fixed)
        self.add_source("pop", None, None, positives, targets, history, self.pop)
        for a, b in pairs:  # KL(p_a || p_b) = -H(p_a) - sum p_a log p_b
            kl = -seen[a]["entropy"] - row_dot(seen[a]["p"], seen[b]["log_p"])
            self.add("teachers_kl", kl / len(pairs))
            if a < b:  # overlap is symmetric: each unordered pair once
                shared = (seen[a]["top"].unsqueeze(2) == seen[b]["top"].unsqueeze(1)).sum(dim=(1, 2)).double()
                self.add("teachers_top10_overlap", shared / TOPK / (len(pairs) // 2))


def _per_row(values: torch.Tensor, rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Sum of `values` per row index (a row may have several targets)."""
    return torch.zeros(n_rows, dtype=torch.float64, device=values.device).index_add_(0, rows, values.double())


def _fixed_source(logits: torch.Tensor, temperature: float, popular: torch.Tensor,
                  device: torch.device | str) -> dict[str, torch.Tensor]:
    """A distribution shared by every row (SoftRec's), over the real items, computed once."""
    log_p = torch.log_softmax(logits.view(1, -1)[:, 1:].float().to(device) / temperature, dim=-1)
    p = log_p.exp().view(-1)
    return {"log_p": log_p, "p": p, "top": torch.topk(log_p, TOPK, dim=-1).indices,
            "entropy": -(p * log_p.view(-1)).sum().double().view(1),
            "popular_mass": (p @ popular).double().view(1)}


def diagnostics_table(figures: dict[str, float], temperature: float, popular_items: int) -> str:
    """The log's table: one row per distribution, then the agreement and cost figures."""
    sources = ["ensemble"] + [k[:-len("_entropy")] for k in figures
                              if k.endswith("_entropy") and k[:-len("_entropy")] not in ("ensemble", "pop")] + ["pop"]
    header = ["soft labels (T=%g)" % temperature, "recall@10", "ndcg@10", "entropy", "target mass",
              "popular mass"]
    label = {"ensemble": "ensemble e_u (student's)", "pop": "SoftRec popularity"}
    rows = [header] + [[label.get(s, s)] + [f"{figures.get(f'{s}_{f}', math.nan):.4f}" for f in LABEL_FIGURES]
                       for s in sources]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = []
    if "teachers_kl" in figures:
        who = "g1 vs g2" if "side-teacher_entropy" in figures else "teachers"
        notes.append(f"{who}: mean pairwise KL {figures['teachers_kl']:.4f}, top-10 overlap "
                     f"{figures['teachers_top10_overlap']:.4f}")
    if "noise_diag_mass" in figures:
        notes.append(f"noise model h: mean diagonal mass {figures['noise_diag_mass']:.4f}")
    notes.append(f"{int(figures.get('rows', 0))} validation rows; popular = the {popular_items} most "
                 f"frequent training items (20%)"
                 + (f"; {figures['seconds']:.2f} s" if "seconds" in figures else ""))
    return "\n".join(lines + notes)


def diagnose_teachers(ctx: TeacherContext, source: SoftLabelSource | None) -> dict[str, float]:
    """The diagnostics of a run for its frozen teachers' `source`: logged as one table, written
    to tensorboard under the `teachers` phase, returned as a flat dict of floats. Base (no
    teachers) logs one line and returns {}."""
    logger = getLogger()
    view = teacher_view(source, [phase.name for phase in ctx.phases])
    if view is None:
        reason = "Base has no teachers" if source is None else \
            f"no diagnostics for soft-label source {type(source).__name__}"
        logger.info(set_color("CSRec soft-label diagnostics", "yellow") + f": {reason}; skipped")
        return {}
    config = ctx.config
    temperature = float(config["temperature"])
    counts = training_item_counts(ctx.train_data)
    popular = popular_items(counts)
    start = time()
    batches = ctx.valid_data
    if ctx.show_progress:
        batches = tqdm(batches, total=len(batches), ncols=100, desc=set_color("Diagnose   ", "pink"))
    input_field = config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"] if config["mask_input_items"] else None
    stored = kept_validation_scores(ctx, view, len(ctx.valid_data))
    figures = soft_label_diagnostics(batches, view, temperature, popularity_logits(counts), popular,
                                     config["device"], input_field, stored)
    figures["seconds"] = round(time() - start, 3)
    for phase in ctx.phases:  # used once: free the memory before the student trains
        phase.valid_scores = None
    forward = [name for name in view.teachers if name not in stored]
    logger.info(set_color("CSRec soft-label diagnostics", "yellow") + " (validation rows)\n"
                + diagnostics_table(figures, temperature, int(popular.sum()))
                + (f"\nteachers run forward again (no kept validation scores: loaded from the store, "
                   f"no validation, or over budget): {', '.join(forward)}" if forward else ""))
    write_tensorboard(figures)
    return figures


def kept_validation_scores(ctx: TeacherContext, view: TeacherView, n_batches: int) -> dict[str, list[torch.Tensor]]:
    """The teachers' scores their trainers kept at the best validation epoch, by view name,
    where there is one list per validation batch (else that teacher runs forward)."""
    kept = {phase.name: phase.valid_scores for phase in ctx.phases
            if phase.valid_scores is not None and len(phase.valid_scores) == n_batches}
    return {name: kept[name] for name in view.teachers if name in kept}


def write_tensorboard(figures: dict[str, float], phase: str = PHASE) -> None:
    """Scalars `diagnostics/<name>` in `<run's tensorboard dir>/<phase>`, as CSRecTrainer does."""
    writer = get_tensorboard(getLogger())
    run_dir = writer.log_dir
    writer.close()
    with SummaryWriter(os.path.join(run_dir, phase)) as phase_writer:
        for name, value in figures.items():
            phase_writer.add_scalar(f"diagnostics/{name}", value, 0)
