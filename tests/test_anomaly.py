"""Autograd anomaly mode: off while CSRec trains (RecBole's import turns it on), on with
detect_anomaly, the caller's setting restored, and the same numbers either way."""
from __future__ import annotations

import pytest
import torch
from recbole.model.sequential_recommender import GRU4Rec
from recbole.trainer import Trainer

from recbole_csrec import run_recbole_csrec
from recbole_csrec.anomaly import anomaly_mode
from tests.conftest import TINY_NAME, fast_config


@pytest.fixture
def observed_steps(monkeypatch):
    """Anomaly mode seen inside every GRU4Rec training forward (teachers and students), and the
    loss of every training epoch (RecBole's Trainer._train_epoch returns it)."""
    steps: list[bool] = []
    epoch_losses: list[float] = []
    forward, train_epoch = GRU4Rec.forward, Trainer._train_epoch

    def observing_forward(self, *args, **kwargs):
        if torch.is_grad_enabled():  # a training step (evaluation runs under no_grad)
            steps.append(torch.is_anomaly_enabled())
        return forward(self, *args, **kwargs)

    def observing_epoch(self, *args, **kwargs):
        loss = train_epoch(self, *args, **kwargs)
        epoch_losses.extend(loss if isinstance(loss, tuple) else (loss,))
        return loss

    monkeypatch.setattr(GRU4Rec, "forward", observing_forward)
    monkeypatch.setattr(Trainer, "_train_epoch", observing_epoch)
    return steps, epoch_losses


def _run(tiny_data, **overrides) -> dict:
    return run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                             config_dict=fast_config(tiny_data, epochs=2, num_teachers=1,
                                                     reuse_teachers=False, **overrides))


def test_recbole_import_leaves_anomaly_mode_on():
    """The trap this key exists for: if RecBole stops doing this, the key can go."""
    assert torch.is_anomaly_enabled()  # recbole.model.sequential_recommender was imported above


@pytest.mark.parametrize("caller_setting", [True, False])
def test_default_run_trains_with_anomaly_off_and_restores_callers_setting(tiny_data, observed_steps,
                                                                          caller_setting):
    torch.autograd.set_detect_anomaly(caller_setting)
    try:
        result = _run(tiny_data)
        assert torch.is_anomaly_enabled() == caller_setting
    finally:
        torch.autograd.set_detect_anomaly(True)
    steps, _ = observed_steps
    assert steps and not any(steps)
    assert {phase["anomaly_mode"] for phase in result["phases"].values()} == {False}


def test_detect_anomaly_true_trains_with_anomaly_on(tiny_data, observed_steps):
    torch.autograd.set_detect_anomaly(False)
    try:
        _run(tiny_data, detect_anomaly=True)
        assert not torch.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(True)
    steps, _ = observed_steps
    assert steps and all(steps)


def test_same_losses_and_metrics_either_way(tiny_data, observed_steps):
    steps, epoch_losses = observed_steps
    off = _run(tiny_data)
    losses_off = list(epoch_losses)
    epoch_losses.clear()
    on = _run(tiny_data, detect_anomaly=True)
    losses_on = list(epoch_losses)
    assert len(losses_off) == len(losses_on) > 0
    assert losses_off == pytest.approx(losses_on, abs=1e-6)
    for phase in off["phases"]:
        for split in ("best_valid_result", "test_result"):
            assert off["phases"][phase][split] == pytest.approx(on["phases"][phase][split], abs=1e-6)


def test_anomaly_mode_restores_on_error():
    torch.autograd.set_detect_anomaly(True)
    with pytest.raises(RuntimeError):
        with anomaly_mode(False):
            assert not torch.is_anomaly_enabled()
            raise RuntimeError("a failing phase")
    assert torch.is_anomaly_enabled()
