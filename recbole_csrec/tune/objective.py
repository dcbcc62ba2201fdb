"""One Ray Tune trial: a whole CSRec run whose student reports VALIDATION metrics every epoch.

Teachers come from the teacher store (trained once across trials); the test set is not
evaluated here: the runner evaluates only the chosen trial, after selection.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.tune.carried import point_params


class TuneReportingTrainer(CSRecTrainer):
    """Reports each validation epoch to Ray Tune, after RecBole has saved a new best."""

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        self._last_valid_result = valid_result
        return valid_score, valid_result

    def _report(self, epoch_idx: int, valid_score: float) -> None:
        from ray.air import session

        metrics = {k: float(v) for k, v in getattr(self, "_last_valid_result", {}).items()}
        session.report({"valid_score": float(valid_score), "epoch": int(epoch_idx),
                        "torch_threads": torch.get_num_threads(),
                        "best_valid_score": float(self.best_valid_score),
                        "weights": self.saved_model_file, **metrics})

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False,
            callback_fn=None):
        def callback(epoch_idx, valid_score):
            self._report(epoch_idx, valid_score)
            if callback_fn is not None:
                callback_fn(epoch_idx, valid_score)

        return super().fit(train_data, valid_data, verbose=verbose, saved=saved,
                           show_progress=show_progress, callback_fn=callback)


def use_assigned_cpus() -> int:
    """Give torch the CPUs Ray assigned to this trial. Ray starts its workers with
    OMP_NUM_THREADS=1, so a trial holding --cpus_per_trial=2 trained on one core (NextItNet on
    Last.FM: 12.4 s per epoch in a trial against 7.2 s with both cores)."""
    from ray.air import session

    # The trial's own request ({"CPU": 2.0}); the worker's assigned resources name placement
    # group bundles instead.
    cpus = session.get_trial_resources().required_resources.get("CPU")
    threads = max(1, int(cpus or 1))  # a fraction of a CPU still needs one thread
    torch.set_num_threads(threads)
    return threads


def csrec_trial(params: dict[str, Any], model: str, dataset: str, teacher: str | None,
                config_file_list: list[str] | None, fixed: dict[str, Any]) -> None:
    """Ray Tune function trainable: `params` are this trial's searched values."""
    from recbole_csrec.quick_start import run_recbole_csrec

    from recbole_csrec.overrides import recbole_argv

    use_assigned_cpus()
    config_dict = {**fixed, **point_params(params)}  # a grid over whole points (--trials_from) too
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if config_dict.get("use_gpu") and visible:
        # RecBole sets CUDA_VISIBLE_DEVICES from gpu_id: keep the GPU Ray gave this trial.
        config_dict["gpu_id"] = visible
    # A Ray worker's own arguments (--node-ip-address=...) must not become config keys (they
    # would also split the teacher store): RecBole sees an empty command line.
    with recbole_argv():
        run_recbole_csrec(model=model, dataset=dataset, teacher=teacher,
                          config_file_list=config_file_list, config_dict=config_dict, saved=True,
                          trainer_class=TuneReportingTrainer, evaluate_test=False)
