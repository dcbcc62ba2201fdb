"""Teachers keep their best-epoch validation scores, so the soft-label diagnostics need no second
forward pass: the kept scores are the restored model's, the figures are the same either way, and
a budget, no validation or a store-loaded teacher fall back to the forward."""
from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, init_seed

from recbole_csrec import run_recbole_csrec
from recbole_csrec.data.item_counts import training_item_counts
from recbole_csrec.evaluation import popular_items
from recbole_csrec.quick_start import build_configs
from recbole_csrec.soft_labels.diagnostics import TeacherView, soft_label_diagnostics
from recbole_csrec.teachers.popularity import popularity_logits
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config


def _fit(data_path: str, keep_mb: float, epochs: int = 3, **overrides):
    settings = fast_config(data_path, epochs=epochs, eval_batch_size=16, **overrides)
    config, _ = build_configs("GRU4Rec", TINY_NAME, "model", None, settings)
    init_seed(config["seed"], config["reproducibility"])
    train_data, valid_data, _ = data_preparation(config, create_dataset(config))
    model = get_model("GRU4Rec")(config, train_data._dataset)
    trainer = CSRecTrainer(config, model, phase="t", write_files=False, keep_valid_scores_mb=keep_mb)
    trainer.fit(train_data, valid_data)
    return model, trainer, train_data, valid_data


@torch.no_grad()
def _forward(model, valid_data) -> list[torch.Tensor]:
    model.eval()
    return [model.full_sort_predict(batch[0]).float()[:, 1:] for batch in valid_data]


@pytest.mark.parametrize("mask", [False, True], ids=["plain", "mask_input_items"])
def test_kept_scores_are_the_restored_best_epoch_models(tiny_data, mask):
    model, trainer, _, valid_data = _fit(tiny_data, keep_mb=64, mask_input_items=mask)
    kept = trainer.phase_result().valid_scores
    assert trainer.best_epoch >= 0 and len(kept) == len(valid_data) > 1
    for mine, again in zip(kept, _forward(model, valid_data)):
        assert torch.equal(mine, again)
    assert all(torch.isfinite(scores).all() for scores in kept)  # raw scores: nothing masked
    again = trainer.validate_keeping_scores(valid_data)  # one more evaluation, as fit runs it
    assert all(torch.equal(a, b) for a, b in zip(again, kept)) and len(again) == len(kept)


@pytest.mark.parametrize("keep_mb, overrides", [(0.0, {}), (1e-4, {}), (64, {"eval_step": 0})],
                         ids=["off", "over budget", "no validation"])
def test_nothing_kept(tiny_data, keep_mb, overrides):
    _, trainer, _, _ = _fit(tiny_data, keep_mb=keep_mb, epochs=2, **overrides)
    assert trainer.phase_result().valid_scores is None


class _NoForward(torch.nn.Module):
    def full_sort_predict(self, interaction):
        raise AssertionError("a teacher with kept scores was run forward")


def test_figures_on_kept_scores_equal_the_forward_pass(tiny_data):
    model, trainer, train_data, valid_data = _fit(tiny_data, keep_mb=64)
    counts = training_item_counts(train_data)
    args = (3.0, popularity_logits(counts), popular_items(counts))
    forward = soft_label_diagnostics(valid_data, TeacherView({"t": model}, ["t"]), *args)
    kept = soft_label_diagnostics(valid_data, TeacherView({"t": _NoForward()}, ["t"]), *args,
                                  stored={"t": trainer.phase_result().valid_scores})
    assert kept == pytest.approx(forward, rel=1e-6, abs=1e-9)


def test_a_run_gives_the_same_diagnostics_with_trained_and_stored_teachers(tiny_data):
    """The first run's teachers keep their scores; the second loads them from the store and runs
    them forward: the figures agree."""
    settings = fast_config(tiny_data, epochs=2, reuse_teachers=True, teacher_store="store")
    trained = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", config_dict=settings)
    stored = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", config_dict=settings)
    assert all(phase["reused"] for name, phase in stored["phases"].items() if name.startswith("teacher"))
    first, second = (dict(r["diagnostics"]) for r in (trained, stored))
    first.pop("seconds"), second.pop("seconds")
    assert second == pytest.approx(first, rel=1e-5, abs=1e-7)
