"""CSRecTrainer: RecBole's Trainer for one named phase (a teacher, or the student)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from time import time
from typing import Any

import torch
from recbole.trainer import Trainer
from torch.utils.tensorboard import SummaryWriter

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.data.all_positions import AllPositionLoader
from recbole_csrec.checkpoint import config_meta, load_into, save_weights
from recbole_csrec.errors import DivergenceError
from recbole_csrec.evaluation_collector import TopkCollector
from recbole_csrec.metrics import require_rating_field
from recbole_csrec.model.student import CSRecStudent
from recbole_csrec.precision import bf16_active, bf16_autocast_dtype
from recbole_csrec.resume import load_resume_state, random_streams, restore_random_streams, save_resume_state


@dataclass
class PhaseResult:
    """What one training phase produced."""

    name: str
    model: str
    best_valid_score: float
    best_valid_result: dict[str, float]
    best_epoch: int
    epochs: int
    seconds: float
    weights: str
    test_result: dict[str, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # The model's validation scores at its best epoch ([rows, real items] per validation batch),
    # kept for the soft-label diagnostics so they need no second forward; not in as_dict.
    valid_scores: list[torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "best_valid_score": self.best_valid_score,
            "best_valid_result": dict(self.best_valid_result or {}),
            "test_result": dict(self.test_result or {}), "best_epoch": self.best_epoch,
            "epochs": self.epochs, "seconds": round(self.seconds, 2), "weights": self.weights,
            **self.meta,
        }


def input_item_index(item_seq: torch.Tensor, positive_u: torch.Tensor,
                     positive_i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, item ids) of each row's input items other than its target, padding left out: what
    `mask_input_items: True` scores -inf, in the form of RecBole's history index."""
    targets = torch.zeros(item_seq.size(0), dtype=item_seq.dtype, device=item_seq.device)
    targets[positive_u.to(item_seq.device)] = positive_i.to(item_seq.device)
    rows, positions = torch.nonzero(item_seq, as_tuple=True)
    items = item_seq[rows, positions]
    keep = items != targets[rows]
    return rows[keep], items[keep]


def mask_input_items(scores: torch.Tensor, item_seq: torch.Tensor, positive_u: torch.Tensor,
                     positive_i: torch.Tensor) -> torch.Tensor:
    """The authors' evaluation (`mask_input_items: True`): every item of a row's input sequence is
    scored -inf, except that row's target. In place; returns `scores`."""
    rows, items = input_item_index(item_seq, positive_u, positive_i)
    scores[rows.to(scores.device), items.to(scores.device)] = float("-inf")
    return scores


class _PlainStep:
    """A model trained by its own calculate_loss, per row."""

    all_positions = False

    def __init__(self, model) -> None:
        self.calculate_loss = model.calculate_loss


class CSRecTrainer(Trainer):
    """RecBole's training loop, early stopping, evaluation and logging, with:

    - RecBole's Collector without its [users x items] position matrix (evaluation_collector);
    - its own weight file per phase (`weights_file`), loadable with weights_only=True;
    - tensorboard scalars under `<run>/<phase>/`;
    - the best-validation weights restored into the model after `fit`;
    - target ratings collected for Recall+/NDCG+ (recbole_csrec.metrics);
    - with `all_positions` (a student that trains that way), batches of whole sequences
      (recbole_csrec.data.all_positions);
    - with `bf16` (and bf16 units), RecBole's autocast in bf16 (recbole_csrec.precision);
    - autograd anomaly mode as `detect_anomaly` says (off by default; recbole_csrec.anomaly);
    - with `mask_input_items`, the input's items masked in full-sort evaluation (the authors'
      protocol; also what per-user ranks see, since they reuse `_full_sort_batch_eval`);
    - a NaN or infinite training loss raised as DivergenceError naming the phase and epoch
      (RecBole raises a bare ValueError, and only for NaN);
    - with `keep_valid_scores_mb` > 0, the validation scores of the best epoch kept (up to that
      many MB; more and none are kept) for the soft-label diagnostics;
    - with `resume_file`, the phase's resume state written there after every validation epoch
      and, when the file is there at the start, the phase resumed from it (recbole_csrec.resume).
      RecBole's own `resume_checkpoint` restores neither the best weights nor the random streams,
      and its files need weights_only=False on torch>=2.6.
    """

    def __init__(self, config, model, phase: str = "student", weights_file: str | None = None,
                 write_files: bool = True, keep_valid_scores_mb: float = 0.0,
                 resume_file: str | None = None) -> None:
        # RecBole's ensure_dir checks, then creates: two trainers starting at once (parallel
        # teachers, two lanes) can both see no folder and the second makedirs raises. Creating it
        # race-free first makes RecBole's check find it.
        os.makedirs(config["checkpoint_dir"], exist_ok=True)
        super().__init__(config, model)
        self.phase = phase
        self.eval_collector = TopkCollector(config)  # RecBole's, minus three [users x items] passes
        # bf16: RecBole's own autocast (enable_amp) in bf16, where the device has bf16 units
        self.bf16 = bf16_active(config)
        self.enable_amp = self.enable_amp or self.bf16
        self.keep_valid_scores_mb = float(keep_valid_scores_mb)
        self._captured: list[torch.Tensor] | None = None  # this validation epoch's scores so far
        self._captured_bytes = 0
        self._last_valid_scores: list[torch.Tensor] | None = None
        self._best_valid_scores: list[torch.Tensor] | None = None
        # Default: RecBole's own file name (<checkpoint_dir>/<model>-<time>.pth), so that
        # recbole_csrec.utils.get_trainer(...)(config, model) works as RecBole's lookup does.
        self.saved_model_file = weights_file or self.saved_model_file
        self.write_files = write_files
        self.best_epoch = -1
        self._plain_stepper = None
        self._best_state: dict | None = None
        self.resume_file = resume_file
        self.resumed_from_epoch: int | None = None  # the last epoch a resumed phase had finished
        self._seconds_before = 0.0  # training time of the runs this phase resumed from
        run_dir = self.tensorboard.log_dir
        self.tensorboard.close()
        self.tensorboard = SummaryWriter(os.path.join(run_dir, phase))

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        self.best_epoch = epoch
        # Called right after the validation epoch that improved (None without validation).
        self._best_valid_scores, self._last_valid_scores = self._last_valid_scores, None
        self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self._write_best_weights(epoch)
        if verbose and self.write_files:  # every improvement: debug only; fit logs where the best went, once
            self.logger.debug(f"Saving {self.phase} weights: {self.saved_model_file}")

    def _write_best_weights(self, epoch: int) -> None:
        """The model's current weights as this phase's weight file (when it writes files)."""
        if self.write_files:
            save_weights(self.model, self.saved_model_file, {
                "phase": self.phase, "model": self.config["model"], "dataset": self.config["dataset"],
                "epoch": int(epoch), "best_valid_score": float(self.best_valid_score),
                "config": config_meta(self.config),
            })

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._epoch = epoch_idx
        if loss_func is None:
            stepper = self._stepper(train_data)
            loss_func = stepper.calculate_loss
            if stepper.all_positions:
                train_data = self._all_position_loader(train_data)
        with bf16_autocast_dtype(self.device.type, self.enable_amp and self.bf16):
            return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)

    def _stepper(self, train_data) -> CSRecStudent:
        """The module whose calculate_loss trains `self.model`: the model itself when it is a
        student, else (a plain RecBole model: a teacher, Base through the store) the same model in
        a student without soft labels, so that `fused_output` and `all_positions` train it exactly
        as they train Base (with both off, RecBole's own calculate_loss runs)."""
        if isinstance(self.model, CSRecStudent):
            return self.model
        if self._plain_stepper is None:
            if isinstance(getattr(self.model, "loss_fct", None), torch.nn.CrossEntropyLoss) and \
                    (self.config["fused_output"] or self.config["all_positions"]):
                self._plain_stepper = CSRecStudent(self.config, train_data._dataset, self.model)
            else:
                if self.config["all_positions"]:
                    self.logger.info(f"all_positions: {type(self.model).__name__} ({self.phase}) trains per row")
                self._plain_stepper = _PlainStep(self.model)
        return self._plain_stepper

    def _all_position_loader(self, train_data):
        """The all-position view of `train_data` (built once per loader; data/all_positions.py)."""
        if isinstance(train_data, AllPositionLoader) or not hasattr(train_data, "_dataset"):
            return train_data  # already wrapped, or prepared batches (benchmarks)
        if getattr(self, "_wrapped", (None, None))[0] is not train_data:
            self._wrapped = (train_data, AllPositionLoader(train_data))
        return self._wrapped[1]

    def _check_nan(self, loss):
        if not torch.isfinite(loss).all():
            self._diverged(float(loss.detach().float().sum()))

    def _diverged(self, loss: float):
        lr = self.config["learning_rate"]
        hint = (f"lower --learning_rate (now {lr}), or clip gradients (e.g. "
                "--clip_grad_norm=\"{'max_norm': 5}\"); --detect_anomaly=True shows the first "
                "operation that produced it")
        raise DivergenceError(self.phase, int(getattr(self, "_epoch", self.start_epoch)), loss, hint)

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None) -> tuple[float, dict]:
        require_rating_field(self.config, train_data._dataset)
        start = time()
        generator = getattr(train_data, "generator", None)
        finished = self.resume_file is not None and self._resume(generator)

        def after_validation(epoch_idx, valid_score):
            if self.resume_file is not None:
                self._save_resume_state(epoch_idx, generator, start)
            if callback_fn is not None:
                callback_fn(epoch_idx, valid_score)

        # Always record the best state (in memory); write_files decides whether it hits disk.
        with anomaly_mode(self.config["detect_anomaly"]):  # also in Ray workers and scripts
            self.anomaly_mode = torch.is_anomaly_enabled()  # what this phase trained under
            try:
                if finished:  # killed between its last epoch and publishing: nothing left to train
                    result = self.best_valid_score, self.best_valid_result
                else:
                    result = super().fit(train_data, valid_data, verbose=verbose, saved=True,
                                         show_progress=show_progress, callback_fn=after_validation)
            except ValueError as error:  # a loss path that bypasses _check_nan
                if "loss is nan" not in str(error).lower():
                    raise
                self._diverged(float("nan"))
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            where = self.saved_model_file if self.write_files else "kept in memory (no file)"
            self.logger.info(f"{self.phase}: best weights from epoch {self.best_epoch} "
                             f"({self.config['valid_metric']} {self.best_valid_score:.4f}): {where}")
        self.fit_seconds = self._seconds_before + time() - start
        return result

    def _save_resume_state(self, epoch: int, generator: torch.Generator | None, start: float) -> None:
        """After validation epoch `epoch` (RecBole has updated its early-stopping state)."""
        save_resume_state(self.resume_file, {
            "model": self.config["model"], "phase": self.phase, "epoch": int(epoch),
            "cur_step": int(self.cur_step), "best_valid_score": float(self.best_valid_score),
            "best_valid_result": {k: float(v) for k, v in (self.best_valid_result or {}).items()},
            "best_epoch": int(self.best_epoch), "best_state": self._best_state,
            "train_loss_dict": {int(k): float(v) for k, v in self.train_loss_dict.items()},
            "seconds": self._seconds_before + time() - start,
            "weights": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "random_streams": random_streams(generator),
        })

    def _resume(self, generator: torch.Generator | None) -> bool:
        """Load the resume state, if there is one; returns whether the phase had already finished
        (stopped early, or at the epoch cap) when it was written."""
        state = load_resume_state(self.resume_file, self.config["model"])
        if state is None:
            return False
        self.best_valid_score = state["best_valid_score"]
        self.best_valid_result = state["best_valid_result"]
        self.best_epoch, self._best_state = state["best_epoch"], state["best_state"]
        if self._best_state is not None:  # the best epoch's weights file, as fit would have left it
            self.model.load_state_dict(self._best_state)
            self._write_best_weights(self.best_epoch)
        self.model.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch = state["epoch"] + 1
        self.cur_step = state["cur_step"]
        self.train_loss_dict = dict(state["train_loss_dict"])
        self._seconds_before = float(state["seconds"])
        self.resumed_from_epoch = state["epoch"]
        restore_random_streams(state["random_streams"], generator)
        finished = self.start_epoch >= self.epochs or self.cur_step > self.stopping_step
        self.logger.info(f"{self.phase}: resuming after epoch {state['epoch']} (best epoch {self.best_epoch}, "
                         f"{self.config['valid_metric']} {self.best_valid_score:.4f}; "
                         f"{self._seconds_before:.0f} s trained before) from {self.resume_file}"
                         + ("; it had already finished" if finished else ""))
        return finished

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model and (model_file or self.write_files):
            load_into(self.model, model_file or self.saved_model_file)
        elif load_best_model and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def _valid_epoch(self, valid_data, show_progress=False):
        self._captured = [] if self.keep_valid_scores_mb > 0 else None
        self._captured_bytes = 0
        try:
            return super()._valid_epoch(valid_data, show_progress=show_progress)
        finally:
            self._last_valid_scores, self._captured = self._captured or None, None

    def validate_keeping_scores(self, valid_data) -> list[torch.Tensor] | None:
        """One validation evaluation as `fit` runs it each validation epoch; returns the scores it
        kept (None when keep_valid_scores_mb is 0 or too small)."""
        self._valid_epoch(valid_data)
        return self._last_valid_scores

    def _capture(self, scores: torch.Tensor, history_index) -> None:
        """Keep the model's own scores over the real items (before any masking). A view of the
        batch's fresh scores tensor, which RecBole's collector only reads, so keeping costs no copy."""
        if self._captured is None:
            return
        if history_index is not None:  # not the raw scores any more (non-sequential loaders)
            self._captured = None
            return
        kept = scores[:, 1:].float()
        if self.config["mask_input_items"]:  # masked in place next: keep a copy, not a view
            kept = kept.clone()
        self._captured_bytes += kept.numel() * kept.element_size()
        if self._captured_bytes > self.keep_valid_scores_mb * 2 ** 20:
            self._captured = None  # over budget: the diagnostics will run the forward instead
        else:
            self._captured.append(kept)

    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        self._capture(scores, batched_data[1])
        if self.config["mask_input_items"]:
            item_seq = interaction[self.config["ITEM_ID_FIELD"] + self.config["LIST_SUFFIX"]]
            scores = mask_input_items(scores, item_seq.to(scores.device), positive_u, positive_i)
        return interaction, scores, positive_u, positive_i

    def phase_result(self) -> PhaseResult:
        return PhaseResult(
            name=self.phase, model=self.config["model"],
            best_valid_score=float(self.best_valid_score),
            best_valid_result=dict(self.best_valid_result or {}), best_epoch=int(self.best_epoch),
            epochs=len(self.train_loss_dict), seconds=getattr(self, "fit_seconds", 0.0),
            weights=self.saved_model_file if self.write_files else "",
            meta={"anomaly_mode": getattr(self, "anomaly_mode", None),
                  **({} if self.resumed_from_epoch is None else {"resumed_after_epoch": self.resumed_from_epoch})},
            valid_scores=self._best_valid_scores,
        )
