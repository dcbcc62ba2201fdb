"""On a CUDA device: the student objective, the soft-label cache and a whole run. Skipped without
one (CI has none); run_scripts/gpu_check.sh runs these where a GPU is lent."""
from __future__ import annotations

import pytest
import torch

from recbole_csrec import run_recbole_csrec
from recbole_csrec.loss import forward_student_objective
from tests.conftest import TINY_NAME, fast_config

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device: run run_scripts/gpu_check.sh on a GPU machine")


@needs_cuda
def test_student_objective_on_cuda_matches_cpu():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(64, 500, generator=generator)
    teacher = torch.randn(64, 500, generator=generator)
    teacher[:, 0] = float("-inf")
    log_q = torch.log_softmax(teacher / 3.0, dim=-1)
    target = torch.randint(1, 500, (64,), generator=generator)
    results = {}
    for device in ("cpu", "cuda"):
        # a fresh leaf per device: on CPU `.to` returns `logits` itself, and marking that as
        # requiring grad would make the CUDA copy a non-leaf with no .grad (seen on an H200)
        x = logits.detach().clone().to(device).requires_grad_(True)
        objective = forward_student_objective(x, log_q.to(device), target.to(device), 0.5)
        objective.loss.backward()
        results[device] = (objective.loss.item(), x.grad.cpu())
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], rel=1e-5)
    assert torch.allclose(results["cuda"][1], results["cpu"][1], atol=1e-6)


@needs_cuda
@pytest.mark.parametrize("teacher", ["model", "training"])
def test_whole_run_on_cuda_matches_its_cpu_run_closely(tiny_data, teacher):
    """Every phase trains on the GPU; metrics land near the CPU run's (kernels differ, not the method)."""
    results = {}
    for use_gpu in (False, True):
        results[use_gpu] = run_recbole_csrec(
            model="GRU4Rec", dataset=TINY_NAME, teacher=teacher,
            config_dict=fast_config(tiny_data, epochs=2, num_teachers=2, use_gpu=use_gpu, reuse_teachers=False,
                                    checkpoint_dir=f"saved-{use_gpu}"))
    gpu, cpu = results[True], results[False]
    assert list(gpu["phases"]) == list(cpu["phases"])
    for name in cpu["phases"]:
        assert gpu["phases"][name]["test_result"]["ndcg@10"] == pytest.approx(
            cpu["phases"][name]["test_result"]["ndcg@10"], abs=0.05), name
