"""`bf16: True`: bf16 matmuls where the hardware has bf16 units, fp32 everywhere else.

On CPU the units are AMX tiles (`amx_bf16`) or AVX-512 BF16 (`avx512_bf16`) in /proc/cpuinfo;
without them torch emulates bf16 matmuls, which is slower than fp32, so the key then says so in
one log line and training stays fp32. On CUDA, devices that support bf16 (compute >= 8.0).
What bf16 changes: RecBole's trainer autocasts the forward (its `enable_amp`, bf16 on CPU), and
the fused output layer multiplies in bf16 with fp32 softmax statistics and loss.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from logging import getLogger
from typing import Iterator

import torch

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=None)
def bf16_units(device_type: str) -> tuple[bool, str]:
    """(has bf16 units, what was found) for 'cpu' or 'cuda'."""
    if device_type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ok, f"CUDA device {'supports' if ok else 'does not support'} bf16"
    try:
        with open("/proc/cpuinfo") as handle:
            flags = set(next((line for line in handle if line.startswith("flags")), "").split())
    except OSError:
        flags = set()
    found = [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if found:
        return True, f"CPU has {', '.join(found)}"
    return False, f"this CPU has no bf16 units (none of {', '.join(CPU_BF16_FLAGS)} in /proc/cpuinfo)"


_told: set[str] = set()


def bf16_active(config) -> bool:
    """Whether this run trains with bf16 matmuls: `bf16` asked for and the device has the units.
    Says once per process (log) when bf16 was asked for but runs fp32."""
    if not config["bf16"]:
        return False
    device_type = torch.device(config["device"]).type
    ok, found = bf16_units(device_type)
    if not ok and device_type not in _told:
        _told.add(device_type)
        getLogger().warning(f"bf16=True: {found}: training in fp32")
    return ok


@contextmanager
def bf16_autocast_dtype(device_type: str, enabled: bool) -> Iterator[None]:
    """RecBole's trainer autocasts with the device's default dtype (bf16 on CPU, fp16 on CUDA):
    inside, the default is bf16 on every device."""
    if not enabled or device_type == "cpu" or not hasattr(torch, "set_autocast_dtype"):
        yield
        return
    previous = torch.get_autocast_dtype(device_type)
    torch.set_autocast_dtype(device_type, torch.bfloat16)
    try:
        yield
    finally:
        torch.set_autocast_dtype(device_type, previous)
