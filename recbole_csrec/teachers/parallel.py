"""Independent teachers (model- and data-level) trained one after the other, or as Ray tasks.

With `parallel_teachers: true` and more than one worker (a GPU each, or a group of CPU cores
each), every teacher trains in its own Ray task; otherwise, and by default, they train in turn.
A teacher's weights depend only on its seed and its data, never on the order: each task seeds
its model, dropout and shuffling from the teacher's seed exactly as the sequential loop does, and
uses the same number of torch threads as this process.
"""
from __future__ import annotations

import dataclasses
import os
from logging import getLogger
from typing import Any

import torch

from recbole_csrec.ray_session import start_ray

from recbole_csrec.teachers.context import PhaseSpec, TeacherContext
from recbole_csrec.trainer import PhaseResult


def train_teachers(ctx: TeacherContext, specs: list[PhaseSpec]) -> list[Any]:
    """Train (or load from the teacher store) every teacher of `specs`; return the frozen
    models in spec order. Phase results are appended to `ctx.phases` in spec order on both paths.
    """
    workers = parallel_workers(ctx.config, len(specs))
    if workers > 1:
        return _train_with_ray(ctx, specs, workers)
    return ctx.train_phases(specs)


def parallel_workers(config, n_teachers: int) -> int:
    """How many teachers can train at once: 1 means sequential (and is the default)."""
    if not config["parallel_teachers"] or n_teachers < 2:
        return 1
    device = torch.device(config["device"])
    if device.type == "cuda":
        available = torch.cuda.device_count()
        unit = "GPU"
    else:
        available = (os.cpu_count() or 1) // _cpus_per_teacher(n_teachers)
        unit = "CPU group"
    workers = min(n_teachers, available)
    if workers < 2:
        getLogger().info(f"parallel_teachers: only {available} {unit} available, training teachers "
                         "sequentially")
        return 1
    getLogger().info(f"parallel_teachers: training {n_teachers} teachers as Ray tasks, "
                     f"{workers} at a time (one {unit} each)")
    return workers


def _cpus_per_teacher(n_teachers: int) -> int:
    return max(1, (os.cpu_count() or 1) // n_teachers)


def _train_one(ctx: TeacherContext, spec: PhaseSpec, threads: int) -> tuple[dict, PhaseResult]:
    """Body of one Ray task: the same steps as the sequential loop, in a fresh process."""
    torch.set_num_threads(threads)
    ctx.config.compatibility_settings()  # RecBole's numpy aliases, set when a Config is built
    ctx = dataclasses.replace(ctx, phases=[])
    model, _ = ctx.train_phase(spec.name, ctx.build_teacher_model(spec.seed), spec.train_data,
                               spec.seed, store_fields=spec.store_fields)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    result = ctx.phases[0]
    if result.valid_scores is not None:  # back to the driver, which may have no GPU of its own
        result.valid_scores = [scores.cpu() for scores in result.valid_scores]
    return state, result


def _train_with_ray(ctx: TeacherContext, specs: list[PhaseSpec], workers: int) -> list[Any]:
    import ray  # lazy: ray is slow to import and only needed here

    start_ray(num_cpus=os.cpu_count())
    on_gpu = torch.device(ctx.config["device"]).type == "cuda"
    task = ray.remote(num_cpus=1 if on_gpu else _cpus_per_teacher(len(specs)),
                      num_gpus=1 if on_gpu else 0)(_train_one)
    threads = torch.get_num_threads()
    shared = ray.put(dataclasses.replace(ctx, phases=[]))
    # make_model is bound to this process's context: the task builds its own from `shared`.
    light = [dataclasses.replace(spec, make_model=None) for spec in specs]
    outputs = ray.get([task.remote(shared, spec, threads) for spec in light])
    teachers = []
    for spec, (state, result) in zip(specs, outputs):
        model = ctx.build_teacher_model(spec.seed)
        model.load_state_dict(state)
        model.eval()
        model.requires_grad_(False)
        ctx.phases.append(result)
        teachers.append(model)
    return teachers
