"""bf16 only where the hardware has bf16 units (else one log line and fp32); torch threads follow
the cores the process may use; the bf16 fused layer stays close to fp32."""
from __future__ import annotations

import logging
import os

import pytest
import torch

from recbole_csrec import precision, threads
from recbole_csrec.model.output_layer import ItemScores, fused_cross_entropy


def test_bf16_without_units_runs_fp32_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(precision, "bf16_units", lambda device_type: (False, "this CPU has no bf16 units (test)"))
    monkeypatch.setattr(precision, "_told", set())
    config = {"bf16": True, "device": "cpu"}
    with caplog.at_level(logging.WARNING):
        assert precision.bf16_active(config) is False
        assert precision.bf16_active(config) is False
    lines = [r.getMessage() for r in caplog.records if "bf16=True" in r.getMessage()]
    assert lines == ["bf16=True: this CPU has no bf16 units (test): training in fp32"]
    assert precision.bf16_active({"bf16": False, "device": "cpu"}) is False


def test_bf16_with_units_is_active(monkeypatch):
    monkeypatch.setattr(precision, "bf16_units", lambda device_type: (True, "CPU has amx_bf16"))
    assert precision.bf16_active({"bf16": True, "device": "cpu"}) is True


def test_cpu_units_come_from_cpuinfo():
    ok, found = precision.bf16_units.__wrapped__("cpu")
    with open("/proc/cpuinfo") as handle:
        flags = handle.read()
    assert ok == any(flag in flags for flag in precision.CPU_BF16_FLAGS)
    assert ("has no bf16 units" in found) != ok


def test_bf16_fused_layer_is_close_to_fp32():
    """bf16 operands, fp32 statistics: the loss within bf16's rounding of fp32's (runs emulated
    where there are no units: slow, so small)."""
    torch.manual_seed(0)
    hidden = torch.randn(16, 8, requires_grad=True)
    weight = torch.randn(40, 8, requires_grad=True)
    target = torch.randint(1, 40, (16,))
    fp32 = fused_cross_entropy(ItemScores(hidden, weight), target)
    bf16 = fused_cross_entropy(ItemScores(hidden, weight), target, bf16=True)
    bf16.backward()
    assert bf16.dtype == torch.float32 and bf16.item() == pytest.approx(fp32.item(), rel=2e-2)
    assert hidden.grad.dtype == torch.float32 and torch.isfinite(weight.grad).all()


def test_threads_follow_the_allowed_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = torch.get_num_threads()
    monkeypatch.setattr(threads, "_DEFAULT_THREADS", previous)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    try:
        assert threads.use_allowed_cores() == 1
    finally:
        torch.set_num_threads(previous)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user chose: left alone
    monkeypatch.setattr(threads, "_DEFAULT_THREADS", torch.get_num_threads())
    assert threads.use_allowed_cores() == previous
    assert threads.allowed_cores() >= 1 and os.cpu_count() >= 1
