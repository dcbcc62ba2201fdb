"""Peak memory of a training phase, on CPU (process RSS, sampled) or GPU (the CUDA allocator's
peak), and the bytes a phase keeps resident. Used by the speed benchmark (benchmark/speed.py)."""
from __future__ import annotations

import ctypes
import sys
import threading
from typing import Any

import torch

from recbole_csrec.estimates import process_rss
from recbole_csrec.soft_labels import TeacherEnsemble

def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


GLIBC_MMAP_THRESHOLD = 128 * 1024  # glibc's initial M_MMAP_THRESHOLD


def use_measurable_allocator(threshold: int = 256 * 1024) -> None:
    """Make CPU RSS follow tensor allocations: blocks above 256 KB come from mmap and go back on free.

    This slows every large allocation (a page fault per page, on every step: the Base step of
    GRU4Rec on lastfm went from 1.04 s to 1.74 s), and more so for the phase with more large
    temporaries, so it is switched on only after the timed epochs, for the memory passes.
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD (fixed until set again)


def _malloc_trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class PeakMemory:
    """Peak bytes allocated during a `with` block, above what was allocated when it began."""

    def __init__(self, device: torch.device, interval: float = 0.002) -> None:
        self.cuda = device.type == "cuda"
        self.interval = interval  # seconds between RSS samples (CPU)
        self.device = device
        self._peak = 0
        self._stop = threading.Event()

    rss = staticmethod(process_rss)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self.rss())

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            _malloc_trim()  # free heap pages go back to the OS, so reusing them shows in RSS
            self.start = self._peak = self.rss()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._peak, self.rss()) - self.start


def tensor_bytes(*objects: Any) -> int:
    """Bytes of the tensors held by modules, optimizers and soft-label sources."""
    total = 0
    for obj in objects:
        if obj is None:
            continue
        if isinstance(obj, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in obj.state_dict().values())
        elif isinstance(obj, torch.optim.Optimizer):
            total += sum(v.numel() * v.element_size() for state in obj.state.values()
                         for v in state.values() if torch.is_tensor(v))
        elif hasattr(obj, "nbytes"):
            total += int(obj.nbytes)
        elif isinstance(obj, TeacherEnsemble):
            total += sum(tensor_bytes(t) for t in obj.teachers)
    return total
