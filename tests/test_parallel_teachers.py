"""Teachers trained as Ray tasks equal teachers trained one after the other (same seeds).

Both runs train every teacher (`reuse_teachers: False`: no teacher store, so the parallel run
cannot load the sequential run's teachers), and the parallel one is checked to have trained in
Ray worker processes."""
from __future__ import annotations

import os

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_csrec.config import CSRecConfig
from recbole_csrec.ray_session import start_ray
from recbole_csrec.teachers import TEACHERS, TeacherContext
from recbole_csrec.teachers import parallel as parallel_module
from recbole_csrec.teachers.parallel import parallel_workers
from tests.conftest import TINY_NAME, fast_config

_TRAIN_ONE = parallel_module._train_one  # the real task body, also in a Ray worker importing this file


def _train_one_recording_pid(ctx, spec, threads):
    """The Ray task body, plus the process it ran in."""
    state, result = _TRAIN_ONE(ctx, spec, threads)
    result.meta["test_pid"] = os.getpid()
    return state, result


def _teachers(data_path: str, teacher: str, parallel: bool):
    config = CSRecConfig(model="GRU4Rec", dataset=TINY_NAME,
                         config_dict=fast_config(data_path, teacher=teacher, parallel_teachers=parallel,
                                                 epochs=2, reuse_teachers=False))
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    ctx = TeacherContext(config=config, teacher_config=config, dataset=dataset, train_data=train_data,
                         valid_data=valid_data, test_data=test_data, run_dir="saved/run", saved=False)
    return TEACHERS[teacher](ctx), ctx


@pytest.fixture(scope="module")
def ray_two_cpus(tmp_path_factory):
    ray = pytest.importorskip("ray")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    # workers import this package (repo root) and this test module (its wrapped task body)
    path = os.pathsep.join([os.path.dirname(tests_dir), tests_dir])
    # Workers run in the driver's cwd at ray.init: a temp dir, so that what they write (RecBole's
    # log/ and log_tensorboard/) never lands in the checkout.
    before, before_path = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(tmp_path_factory.mktemp("ray_workers"))
    try:
        os.environ["PYTHONPATH"] = os.pathsep.join([path, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        start_ray(num_cpus=2)  # the package's own way: a local Ray even beside another one
    finally:
        os.chdir(before)
    yield ray
    ray.shutdown()
    if before_path is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = before_path


def test_default_is_sequential(tiny_data):
    config = CSRecConfig(model="GRU4Rec", dataset=TINY_NAME, config_dict=fast_config(tiny_data))
    assert config["parallel_teachers"] is False
    assert parallel_workers(config, 2) == 1


@pytest.mark.parametrize("teacher", ["model", "data"])
def test_parallel_equals_sequential(tiny_data, ray_two_cpus, monkeypatch, teacher):
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # two CPU groups, whatever this machine has
    monkeypatch.setattr(parallel_module, "_train_one", _train_one_recording_pid)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tasks use the driver's thread count; 1 keeps 2 tasks on 2 CPUs
    try:
        sequential, seq_ctx = _teachers(tiny_data, teacher, parallel=False)
        parallel, par_ctx = _teachers(tiny_data, teacher, parallel=True)
    finally:
        torch.set_num_threads(threads)
    assert [p.name for p in par_ctx.phases] == [p.name for p in seq_ctx.phases] == ["teacher-1", "teacher-2"]
    assert [p.meta["seed"] for p in par_ctx.phases] == [p.meta["seed"] for p in seq_ctx.phases]
    # every teacher was trained (none loaded from a store) ...
    assert not any(p.meta.get("reused") for p in seq_ctx.phases + par_ctx.phases)
    assert not os.path.exists(os.path.join("saved", "teacher_store"))
    # ... sequentially in this process, and in parallel in Ray worker processes
    assert not any("test_pid" in p.meta for p in seq_ctx.phases)
    worker_pids = [p.meta["test_pid"] for p in par_ctx.phases]
    assert all(pid != os.getpid() for pid in worker_pids)
    # workers import RecBole on their own (which turns anomaly mode on); they still train with it off
    assert [p.meta["anomaly_mode"] for p in par_ctx.phases + seq_ctx.phases] == [False] * 4
    for a, b in zip(sequential.teachers, parallel.teachers):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name
        assert not b.training
    # the two teachers differ from each other (different seeds), so the check above is not vacuous
    first, second = (t.state_dict()["item_embedding.weight"] for t in parallel.teachers)
    assert not torch.equal(first, second)
