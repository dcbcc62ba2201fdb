"""CSRec-T: the noise model h, the main teacher's loss parts, and whole --teacher=training runs."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, init_seed

from recbole_csrec import CSRecError, run_recbole_csrec
from recbole_csrec.cli import main as cli_main
from recbole_csrec.model.main_teacher import MainTeacher
from recbole_csrec.model.noise import NoiseModel, column_log_normalizer
from recbole_csrec.model.teacher_pair_loss import teacher_pair_loss
from recbole_csrec.quick_start import build_configs
from tests.conftest import REPO, TINY_NAME, fast_config, write_tiny_dataset

SAMPLED_TOLERANCE = 0.03  # relative error of one sampled-normaliser draw, K = |I|/2, S ~ N(0, 1)


def _noise(n_items: int, rank: int, scale: float = 1.0, **kwargs) -> NoiseModel:
    """A noise model whose scores S = M N have standard deviation about `scale`."""
    model = NoiseModel(n_items + 1, rank, **kwargs)
    with torch.no_grad():
        std = scale ** 0.5 / rank ** 0.25
        model.M.normal_(0.0, std)
        model.N.normal_(0.0, std)
    return model


def _brute_force_expectation(noise: NoiseModel, target: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """-sum_j P(j) log h(i|j) from the full |I| x |I| matrix, log-softmax over rows i."""
    log_h = torch.log_softmax(noise.M @ noise.N, dim=0)
    return -(log_p.exp() * log_h[target - 1]).sum(dim=-1).mean()


def _batch(n_items: int, size: int = 16, scale: float = 2.0):
    target = torch.randint(1, n_items + 1, (size,))
    log_p = torch.log_softmax(torch.randn(size, n_items) * scale, dim=-1)
    return target, log_p


# --- the noise model h -----------------------------------------------------------------------------

def test_exact_chunked_equals_brute_force():
    torch.manual_seed(0)
    noise = _noise(13, 4, scale=3.0, normalizer="exact", chunk_size=3)  # 13 columns in 5 chunks
    target, log_p = _batch(13)
    expected = _brute_force_expectation(noise, target, log_p)
    assert torch.allclose(noise.expectation_term(target, log_p.exp()), expected, atol=1e-5, rtol=1e-5)
    # h(.|j) is a distribution over the 13 real items for every j
    all_rows = noise.log_h_rows(torch.arange(1, 14))
    assert torch.allclose(all_rows.exp().sum(dim=0), torch.ones(13), atol=1e-5)


def test_chunked_normaliser_gradient_matches_autograd():
    torch.manual_seed(1)
    M = torch.randn(9, 3, dtype=torch.double, requires_grad=True)
    N = torch.randn(3, 7, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: column_log_normalizer(a, b, 2), (M, N))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 12), rank=st.integers(1, 4),
       chunk=st.integers(1, 12), block=st.integers(1, 60), scale=st.sampled_from([1.0, 30.0, 1e3]),
       seed=st.integers(0, 2 ** 16))
def test_blocked_normaliser_equals_logsumexp(rows, cols, rank, chunk, block, scale, seed):
    """Any blocking (columns per chunk, entries per block, so 1 to all rows per block) gives
    logsumexp over the rows of M N, also when a later row block holds a larger maximum than
    the earlier ones (the online merge rescales the running sum)."""
    generator = torch.Generator().manual_seed(seed)
    M = torch.randn(rows, rank, dtype=torch.double, generator=generator) * scale ** 0.5
    N = torch.randn(rank, cols, dtype=torch.double, generator=generator) * scale ** 0.5
    expected = torch.logsumexp(M @ N, dim=0)
    assert torch.allclose(column_log_normalizer(M, N, chunk, block), expected, rtol=1e-10, atol=1e-9)


def test_row_blocked_normaliser_gradient_matches_autograd():
    torch.manual_seed(4)
    M = torch.randn(9, 3, dtype=torch.double, requires_grad=True)
    N = torch.randn(3, 7, dtype=torch.double, requires_grad=True)
    # 2 columns x 2 rows per block: 4 column chunks x 5 row blocks, the last of each partial
    assert torch.autograd.gradcheck(lambda a, b: column_log_normalizer(a, b, 2, 4), (M, N))


def test_noise_blocks_bench_compares_layouts_and_rejects_bad_input():
    """run_scripts/bench_noise_blocks.py: one table row per normaliser part, the two layouts'
    log Z equal; a non-positive size is one error line and exit 2."""
    script = [sys.executable, os.path.join(REPO, "run_scripts", "bench_noise_blocks.py")]
    small = ["--items", "300", "--exact_items", "200", "--samples", "32", "--repeats", "1"]
    done = subprocess.run(script + small, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| importance") or line.startswith("| exact")]
    assert len(rows) == 3
    assert all(float(row.strip("| ").split("|")[-1]) < 1e-5 for row in rows)
    bad = subprocess.run(script + ["--samples", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--samples 0" in bad.stderr


def test_sampled_normaliser_against_exact():
    torch.manual_seed(2)
    noise = _noise(200, 8, scale=1.0, normalizer="sampled", sample_size=200)
    target, log_p = _batch(200, size=64)
    exact = _brute_force_expectation(noise, target, log_p)
    # K = |I|: the "sample" is every row, so the estimate is exact
    assert torch.allclose(noise.expectation_term(target, log_p.exp()), exact, atol=1e-4, rtol=1e-5)
    noise.sample_size = 100
    draws = torch.stack([noise.expectation_term(target, log_p.exp()) for _ in range(50)])
    assert ((draws - exact).abs() / exact).max() < SAMPLED_TOLERANCE
    assert not torch.allclose(draws[0], draws[1])  # a fresh sample per step


def test_auto_normaliser_choice():
    assert NoiseModel(11, 4, "auto", exact_max_items=10).normalizer == "exact"
    assert NoiseModel(12, 4, "auto", exact_max_items=10).normalizer == "importance"


def test_importance_normaliser_is_unbiased_in_value_and_gradient():
    """The mean of many importance draws approaches the exact term and its gradients (M, N and
    the g1 log-probabilities), where the row-sampled estimate alone stays biased."""
    torch.manual_seed(3)
    exact = _noise(60, 4, scale=3.0, normalizer="exact")
    target, log_p = _batch(60, size=16, scale=3.0)

    def value_and_grads(noise):
        logits = log_p.clone().requires_grad_(True)
        noise.zero_grad()
        value = noise.expectation_term(target, torch.softmax(logits, dim=-1))
        value.backward()
        return value.detach(), noise.M.grad.clone(), noise.N.grad.clone(), logits.grad.clone()

    truth = value_and_grads(exact)
    importance = _noise(60, 4, scale=3.0, normalizer="importance", sample_size=8)
    importance.load_state_dict(exact.state_dict())
    draws = [value_and_grads(importance) for _ in range(400)]
    for part, want in enumerate(truth):
        mean = torch.stack([d[part] for d in draws]).mean(dim=0)
        spread = torch.stack([d[part] for d in draws]).std(dim=0) / 20 + 1e-6  # standard error of the mean
        assert ((mean - want).abs() / spread).max() < 5, f"part {part} biased"
    sampled = _noise(60, 4, scale=3.0, normalizer="sampled", sample_size=8)
    sampled.load_state_dict(exact.state_dict())
    with torch.no_grad():
        biased = torch.stack([sampled.expectation_term(target, log_p.exp()) for _ in range(400)])
    assert (truth[0] - biased.mean()) > 5 * biased.std() / 20  # Jensen: the sampled one is low


def test_noise_model_is_finite_with_large_scores():
    torch.manual_seed(3)
    noise = _noise(20, 4, scale=1e3, normalizer="exact", chunk_size=6)
    target, log_p = _batch(20, scale=1e3)
    value = noise.expectation_term(target, log_p.exp())
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(noise.M.grad).all() and torch.isfinite(noise.N.grad).all()
    assert torch.allclose(value, _brute_force_expectation(noise, target, log_p), rtol=1e-4)


# --- the main teacher's loss ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """Config, training dataset and one training batch of the tiny dataset (built once)."""
    root = tmp_path_factory.mktemp("csrec_t")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(sys, "argv", ["pytest"])
        config, _ = build_configs("GRU4Rec", TINY_NAME, "training",
                                  config_dict=fast_config(write_tiny_dataset(str(root / "data")),
                                                          noise_rank=4))
        train_data, _, _ = data_preparation(config, create_dataset(config))
        batch = next(iter(train_data))
    return config, train_data._dataset, batch


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("with_p1_grad", [True, False])
@pytest.mark.parametrize("pad_logit", [0.0, 50.0])
def test_fused_pair_loss_equals_autograd(pad_logit, with_p1_grad, compiled):
    """teacher_pair_loss's values and hand-written gradient against autograd through RecBole's CE
    and the log-softmax KLs, with random weights on every output (P_g1's included, or no gradient
    reaching P_g1), eager and compiled (`compiled_loss`)."""
    torch.manual_seed(4)
    z = torch.randn(6, 12) * 3
    z[:, 0] = pad_logit  # the padding column enters CE only
    z2 = torch.randn(6, 11) * 3
    target = torch.randint(1, 12, (6,))
    weights = torch.rand(3) + 0.5
    g_p1 = torch.randn(6, 11)

    def reference(logits):
        log_p1 = torch.log_softmax(logits[:, 1:], dim=-1)
        log_p2 = torch.log_softmax(z2, dim=-1)
        ce = torch.nn.functional.cross_entropy(logits, target)
        kl21 = (log_p2.exp() * (log_p2 - log_p1)).sum(-1).mean()
        kl12 = (log_p1.exp() * (log_p1 - log_p2)).sum(-1).mean()
        return ce, kl21, kl12, log_p1.exp()

    results = []
    for fn in (reference, lambda logits: teacher_pair_loss(logits, z2, target, compiled)):
        logits = z.clone().requires_grad_(True)
        ce, kl21, kl12, p1 = fn(logits)
        p1_term = (g_p1 * p1).sum() if with_p1_grad else 0.0  # without: no expectation term
        (weights[0] * ce + weights[1] * kl21 + weights[2] * kl12 + p1_term).backward()
        results.append((ce, kl21, kl12, p1, logits.grad))
    for want, got in zip(*results):
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
    from recbole_csrec.model.compiled_blocks import COMPILED
    assert COMPILED.failed is None


def _main_teacher(setup, alpha: float = 0.5, expectation_term: bool = True) -> MainTeacher:
    config, dataset, _ = setup
    init_seed(0, True)
    g1 = get_model("GRU4Rec")(config, dataset)
    g2 = get_model("GRU4Rec")(config, dataset)
    return MainTeacher(config, dataset, g1, g2, alpha=alpha, expectation_term=expectation_term)


def test_gradients_reach_g1_and_h_not_g2(tiny_setup):
    teacher = _main_teacher(tiny_setup)
    parts = teacher.calculate_loss(tiny_setup[2])
    assert len(parts) == 4
    sum(parts).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in teacher.g1.parameters())
    assert teacher.noise.M.grad.abs().sum() > 0 and teacher.noise.N.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.side_teacher.parameters())
    # g2 is not part of the module: not optimised, not saved
    names = [name for name, _ in teacher.named_parameters()]
    assert names and all(n.startswith(("g1.", "noise.")) for n in names)
    assert {"noise.M", "noise.N"} <= set(teacher.state_dict())


def _numpy_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Batch mean of KL(softmax(p) || softmax(q)) over real items, in float64 numpy (an oracle
    independent of the module's torch code)."""
    def softmax(x):
        x = x[:, 1:].double().numpy()
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    p, q = softmax(logits_p), softmax(logits_q)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def test_kl_terms_follow_eq_12(tiny_setup):
    batch = tiny_setup[2]
    for alpha in (1.0, 0.0, 0.25):
        teacher = _main_teacher(tiny_setup, alpha=alpha).eval()  # eval: no dropout, logits reproducible
        _, kl_21, kl_12, _ = teacher.calculate_loss(batch)
        with torch.no_grad():
            logits_1 = teacher.g1.full_sort_predict(batch)
            logits_2 = teacher.side_teacher.full_sort_predict(batch)
        assert kl_21.item() == pytest.approx(alpha * _numpy_kl(logits_2, logits_1), abs=1e-6)
        assert kl_12.item() == pytest.approx((1 - alpha) * _numpy_kl(logits_1, logits_2), abs=1e-6)
        if alpha == 1.0:
            assert kl_12.item() == 0.0 and kl_21.item() > 0
        if alpha == 0.0:
            assert kl_21.item() == 0.0 and kl_12.item() > 0


def test_expectation_term_matches_brute_force_on_g1(tiny_setup):
    batch = tiny_setup[2]
    teacher = _main_teacher(tiny_setup).eval()
    *_, expectation = teacher.calculate_loss(batch)
    with torch.no_grad():
        log_p1 = torch.log_softmax(teacher.g1.full_sort_predict(batch)[:, 1:], dim=-1)
    expected = _brute_force_expectation(teacher.noise, batch["item_id"], log_p1)
    assert torch.allclose(expectation, expected, atol=1e-5)


def test_no_nan_with_large_logits_and_padding(tiny_setup):
    batch = tiny_setup[2]
    assert (batch["item_id_list"] == 0).any()  # padded sequences are in the batch
    teacher = _main_teacher(tiny_setup).eval()
    before = [p.detach() for p in teacher.calculate_loss(batch)[1:]]
    with torch.no_grad():
        # column 0 (padding) gets a huge logit: it must not change any distribution
        teacher.g1.item_embedding.weight[0].fill_(1e3)
    after = [p.detach() for p in teacher.calculate_loss(batch)[1:]]
    for old, new in zip(before, after):
        assert torch.allclose(old, new, atol=1e-6)
    with torch.no_grad():
        for model in (teacher.g1, teacher.side_teacher):  # logits x 1e3
            model.dense.weight.mul_(1e3)
            model.dense.bias.mul_(1e3)
    teacher.train()
    parts = teacher.calculate_loss(batch)
    sum(parts).backward()
    assert all(torch.isfinite(p) for p in parts)
    assert all(torch.isfinite(p.grad).all() for p in teacher.parameters() if p.grad is not None)


def test_without_expectation_term_there_is_no_h(tiny_setup):
    teacher = _main_teacher(tiny_setup, expectation_term=False)
    assert teacher.noise is None
    assert len(teacher.calculate_loss(tiny_setup[2])) == 3


# --- configuration ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("alpha", 1.5, "alpha=1.5 is outside [0, 1]"),
    ("alpha", -0.25, "alpha=-0.25 is outside [0, 1]"),
    ("alpha", "high", "alpha='high' is not a number"),
    ("noise_rank", 0, "noise_rank=0 must be an integer >= 1"),
    ("noise_rank", 2.5, "noise_rank=2.5 must be an integer >= 1"),
    ("expectation_term", "maybe", "expectation_term='maybe' is not accepted"),
    ("noise_normalizer", "fast", "noise_normalizer='fast' is not accepted"),
    ("noise_sample_size", 0, "noise_sample_size=0 must be an integer >= 1"),
])
def test_bad_keys_are_rejected(tiny_data, key, value, message):
    with pytest.raises(CSRecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_configs("GRU4Rec", TINY_NAME, "training", config_dict=fast_config(tiny_data, **{key: value}))


def test_cli_bad_alpha_exits_2(tiny_data, monkeypatch, capsys):
    args = ["--model=GRU4Rec", f"--dataset={TINY_NAME}", "--teacher=training", f"--data_path={tiny_data}",
            "--alpha=2", "--preset=paper"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_csrec.py"] + args)
    assert cli_main(args) == 2
    assert "alpha=2 is outside [0, 1]" in capsys.readouterr().err
    assert not os.path.exists("saved")


# --- whole runs -------------------------------------------------------------------------------------

def _check_run(result: dict, expectation_term: bool = True) -> None:
    assert result["method"] == "CSRec-T"
    assert list(result["phases"]) == ["side-teacher", "main-teacher", "student"]
    for name, phase in result["phases"].items():
        assert "ndcg@10" in phase["test_result"], name
        assert torch.load(phase["weights"], weights_only=True)["meta"]["phase"] == name
    main = result["phases"]["main-teacher"]
    assert main["expectation_term"] is expectation_term
    state = torch.load(main["weights"], weights_only=True)["state_dict"]
    assert ("noise.M" in state and "noise.N" in state) is expectation_term
    assert any(k.startswith("g1.") for k in state)
    side = torch.load(result["phases"]["side-teacher"]["weights"], weights_only=True)["state_dict"]
    assert "item_embedding.weight" in side  # a plain RecBole model's state_dict


@pytest.mark.parametrize("model", ["GRU4Rec", "SASRec"])
def test_training_level_end_to_end(tiny_data, model):
    result = run_recbole_csrec(model=model, dataset=TINY_NAME, teacher="training",
                               config_dict=fast_config(tiny_data, noise_rank=8))
    _check_run(result)
    assert result["phases"]["main-teacher"]["noise_normalizer"] == "exact"


def test_training_level_without_expectation_term(tiny_data):
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="training",
                               config_dict=fast_config(tiny_data, expectation_term=False))
    _check_run(result, expectation_term=False)


def test_training_level_sampled_normaliser_from_cli(tiny_data, monkeypatch):
    args = ["--model=GRU4Rec", f"--dataset={TINY_NAME}", "--teacher=training", f"--data_path={tiny_data}",
            "--epochs=1", "--embedding_size=16", "--hidden_size=16", "--MAX_ITEM_LIST_LENGTH=10",
            "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}", "--state=WARNING",
            "--use_gpu=False", "--noise_rank=4", "--noise_normalizer=sampled", "--noise_sample_size=10",
            "--checkpoint_dir=saved", "--preset=paper"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_csrec.py"] + args)
    assert cli_main(args) == 0
    weights = [os.path.join(root, f) for root, _, files in os.walk("saved") for f in files
               if "teacher_store" not in root]  # the run's own files, not the shared store
    assert sorted(os.path.basename(w) for w in weights) == ["main-teacher.pth", "side-teacher.pth",
                                                             "student.pth"]
