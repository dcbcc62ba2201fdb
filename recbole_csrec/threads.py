"""Training uses every core this process may run on, unless told otherwise.

torch's default intra-op thread count is the machine's physical cores, whatever the process's
CPU affinity (taskset, a container's cpuset, a Ray worker): a process pinned to one core then
runs two threads on it, each slowing the other. `use_allowed_cores` sets the count to
`len(os.sched_getaffinity(0))` unless OMP_NUM_THREADS or an earlier torch.set_num_threads chose.
"""
from __future__ import annotations

import os

import torch

_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before anyone set it


def allowed_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_allowed_cores() -> int:
    """Set torch's threads to the allowed cores when nobody chose a count; returns the count."""
    if "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() == _DEFAULT_THREADS:
        torch.set_num_threads(allowed_cores())
    return torch.get_num_threads()
