"""Soft-label diagnostics: every figure against numpy on hand-made teachers, the teachers'
accuracy against RecBole's evaluator, and the figures in a run, the results CSV and the report."""
from __future__ import annotations

import glob
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.utils import get_model, init_seed

from recbole_csrec import CSRecError, run_recbole_csrec
from recbole_csrec.data.item_counts import training_item_counts
from recbole_csrec.evaluation import popular_items
from recbole_csrec.model.noise import NoiseModel
from recbole_csrec.quick_start import build_configs
from recbole_csrec.soft_labels import FixedLogits, SoftLabelSource, TeacherEnsemble
from recbole_csrec.soft_labels.diagnostics import TeacherView, soft_label_diagnostics, teacher_view
from recbole_csrec.teachers.popularity import popularity_logits
from recbole_csrec.trainer import CSRecTrainer
from tests.conftest import TINY_NAME, fast_config

# --- a hand-made ensemble: 3 teachers with fixed logits for 7 rows over 13 real items ----------
N_ITEMS = 14  # id 0 is padding
ROWS = 7
T = 2.0
_rng = np.random.default_rng(7)
LOGITS = (2.5 * _rng.normal(size=(3, ROWS, N_ITEMS))).astype(np.float32)
TARGETS = _rng.integers(1, N_ITEMS, size=ROWS)
COUNTS = np.concatenate([[0], _rng.permutation(np.arange(1, N_ITEMS)) * 3])  # distinct counts


class TableTeacher(torch.nn.Module):
    """full_sort_predict = a fixed row of logits (padding column included, as RecBole's models)."""

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.table = torch.tensor(table)

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return self.table[interaction["row"]].clone()


def _batches(splits=((0, 4), (4, ROWS))):
    """Full-sort eval batches as RecBole's sequential loader yields them."""
    return [(Interaction({"row": torch.arange(a, b)}), None, torch.arange(b - a),
             torch.tensor(TARGETS[a:b])) for a, b in splits]


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _expected_label(scores: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """numpy figures of one source over real items: scores and p are [ROWS, 13]."""
    popular = np.argsort(-COUNTS[1:])[:math.ceil(0.2 * (N_ITEMS - 1))]
    target = TARGETS - 1
    ranks = 1 + (scores > scores[np.arange(ROWS), target][:, None]).sum(axis=1)
    return {"recall@10": np.mean(ranks <= 10),
            "ndcg@10": np.mean(np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0.0)),
            "entropy": np.mean(-(p * np.log(p)).sum(axis=1)),
            "target_mass": np.mean(p[np.arange(ROWS), target]),
            "popular_mass": np.mean(p[:, popular].sum(axis=1))}


def _expected(names, ensemble, mode, noise=None, fixed=None) -> dict[str, float]:
    real = {n: LOGITS[i][:, 1:].astype(np.float64) for i, n in enumerate(names)}
    probs = {n: _softmax(q / T) for n, q in real.items()}
    if fixed is not None:
        p_e = np.repeat(_softmax(fixed[1:] / T)[None], ROWS, axis=0)
    elif mode == "logits":
        p_e = _softmax(np.mean([real[n] for n in ensemble], axis=0) / T)
    else:
        p_e = np.mean([probs[n] for n in ensemble], axis=0)
    c = COUNTS[1:].astype(np.float64)
    pop = _softmax((-5 + 10 * (c - c.min()) / (c.max() - c.min())) / T)
    out = {}
    sources = {"ensemble": (p_e, p_e), "pop": (np.repeat(pop[None], ROWS, 0),) * 2}
    sources.update({n: (real[n], probs[n]) for n in names})
    for source, (scores, p) in sources.items():
        out.update({f"{source}_{k}": v for k, v in _expected_label(scores, p).items()})
    if len(names) > 1:
        kls = [np.mean((probs[a] * np.log(probs[a] / probs[b])).sum(axis=1))
               for a in names for b in names if a != b]
        top = {n: np.argsort(-real[n], axis=1)[:, :10] for n in names}
        overlaps = [np.mean([len(set(top[a][r]) & set(top[b][r])) / 10 for r in range(ROWS)])
                    for i, a in enumerate(names) for b in names[i + 1:]]
        out.update(teachers_kl=np.mean(kls), teachers_top10_overlap=np.mean(overlaps))
    if noise is not None:
        S = noise.M.detach().double().numpy() @ noise.N.detach().double().numpy()
        log_h = S - np.log(np.exp(S).sum(axis=0, keepdims=True))
        out["noise_diag_mass"] = np.mean(np.exp(np.diag(log_h)))
    out["rows"] = ROWS
    return out


def _check(figures: dict, expected: dict) -> None:
    assert set(figures) == set(expected)
    for key, value in expected.items():
        assert figures[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def _run(view: TeacherView) -> dict:
    counts = torch.tensor(COUNTS, dtype=torch.float32)
    return soft_label_diagnostics(_batches(), view, T, popularity_logits(counts), popular_items(counts))


@pytest.mark.parametrize("mode", ["logits", "probs"])
def test_every_figure_matches_numpy_for_an_ensemble(mode):
    names = ["teacher-1", "teacher-2", "teacher-3"]
    source = TeacherEnsemble([TableTeacher(LOGITS[i]) for i in range(3)], mode)
    view = teacher_view(source, names)
    assert list(view.teachers) == names and view.ensemble == names
    _check(_run(view), _expected(names, names, mode))


def test_training_level_view_compares_g1_with_g2_and_reads_h():
    torch.manual_seed(0)
    noise = NoiseModel(N_ITEMS, rank=3, normalizer="exact")
    view = TeacherView({"main-teacher": TableTeacher(LOGITS[0]), "side-teacher": TableTeacher(LOGITS[1])},
                       ["main-teacher"], noise=noise)
    figures = _run(view)
    _check(figures, _expected(["main-teacher", "side-teacher"], ["main-teacher"], "logits", noise))
    # the soft labels are g1's alone
    assert figures["ensemble_ndcg@10"] == pytest.approx(figures["main-teacher_ndcg@10"])


def test_popularity_teacher_is_its_own_ensemble_and_base_has_none():
    counts = torch.tensor(COUNTS, dtype=torch.float32)
    view = teacher_view(FixedLogits(popularity_logits(counts)), [])
    assert view.teachers == {}
    figures = _run(view)
    _check(figures, _expected([], [], "logits", fixed=popularity_logits(counts).numpy().astype(np.float64)))
    for figure in ("recall@10", "entropy", "popular_mass"):
        assert figures[f"ensemble_{figure}"] == pytest.approx(figures[f"pop_{figure}"])
    assert teacher_view(None, []) is None
    assert teacher_view(SoftLabelSource(), []) is None  # a kind this module does not know: skipped


def test_batching_and_row_chunks_do_not_change_the_figures(monkeypatch):
    from recbole_csrec.soft_labels import diagnostics

    view = teacher_view(TeacherEnsemble([TableTeacher(LOGITS[i]) for i in range(2)]), ["a", "b"])
    counts = torch.tensor(COUNTS, dtype=torch.float32)
    args = (view, T, popularity_logits(counts), popular_items(counts))
    one = soft_label_diagnostics(_batches(((0, ROWS),)), *args)
    many = soft_label_diagnostics(_batches(((0, 1), (1, 3), (3, ROWS))), *args)
    monkeypatch.setattr(diagnostics, "CHUNK_ELEMENTS", 2 * N_ITEMS)  # 2 rows per chunk
    chunked = soft_label_diagnostics(_batches(((0, ROWS),)), *args)
    assert one.keys() == many.keys() == chunked.keys()
    for key in one:
        assert many[key] == pytest.approx(one[key], rel=1e-6), key
        assert chunked[key] == pytest.approx(one[key], rel=1e-6), key


def test_history_items_are_masked_for_ranking_only():
    # mask every real item but the target (RecBole's history_index for non-sequential loaders)
    view = teacher_view(TeacherEnsemble([TableTeacher(LOGITS[0])]), ["a"])
    counts = torch.tensor(COUNTS, dtype=torch.float32)
    u, i = zip(*[(r, item) for r in range(ROWS) for item in range(1, N_ITEMS) if item != TARGETS[r]])
    batch = (Interaction({"row": torch.arange(ROWS)}), (torch.tensor(u), torch.tensor(i)),
             torch.arange(ROWS), torch.tensor(TARGETS))
    masked = soft_label_diagnostics([batch], view, T, popularity_logits(counts), popular_items(counts))
    plain = _run(view)
    for source in ("ensemble", "a", "pop"):
        assert masked[f"{source}_recall@10"] == masked[f"{source}_ndcg@10"] == pytest.approx(1.0)
        assert masked[f"{source}_entropy"] == pytest.approx(plain[f"{source}_entropy"])


def test_teacher_accuracy_matches_recbole_evaluator(tiny_data):
    config, _ = build_configs("SASRec", TINY_NAME, "model", None, fast_config(tiny_data))
    init_seed(config["seed"], config["reproducibility"])
    train_data, valid_data, _ = data_preparation(config, create_dataset(config))
    model = get_model("SASRec")(config, train_data._dataset)
    trainer = CSRecTrainer(config, model, phase="t", weights_file="unused.pth", write_files=False)
    expected = trainer.evaluate(valid_data, load_best_model=False)
    counts = training_item_counts(train_data)
    figures = soft_label_diagnostics(valid_data, TeacherView({"t": model}, ["t"]), 3.0,
                                     popularity_logits(counts), popular_items(counts))
    assert figures["rows"] == len(valid_data._dataset)
    for metric in ("recall@10", "ndcg@10"):  # RecBole rounds to 4 decimals
        assert expected[metric] > 0
        assert figures[f"t_{metric}"] == pytest.approx(expected[metric], abs=5.1e-5)


# --- whole runs ------------------------------------------------------------------------------
def _teacher_boards() -> list[str]:
    return glob.glob(os.path.join("log_tensorboard", "*", "teachers"))


def test_run_returns_diagnostics_and_off_skips_them(tiny_data):
    settings = fast_config(tiny_data, epochs=2)
    on = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", config_dict=settings)
    figures = on["diagnostics"]
    for name in ("ensemble", "teacher-1", "teacher-2", "pop"):
        for figure in ("recall@10", "ndcg@10", "entropy", "target_mass", "popular_mass"):
            assert isinstance(figures[f"{name}_{figure}"], float)
    assert 0 <= figures["teachers_top10_overlap"] <= 1 and figures["teachers_kl"] >= 0
    for phase in ("teacher-1", "teacher-2"):  # the evaluator's figures for the same weights
        for metric in ("recall@10", "ndcg@10"):
            assert figures[f"{phase}_{metric}"] == pytest.approx(
                on["phases"][phase]["best_valid_result"][metric], abs=5.1e-5)
    assert len(_teacher_boards()) == 1

    off = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                            config_dict={**settings, "diagnostics": False})
    assert off["diagnostics"] == {}
    assert len(_teacher_boards()) == 1  # nothing written
    assert off["test_result"] == on["test_result"]  # the pass never touches the student


@pytest.mark.parametrize("teacher", ["none", "training"])
def test_base_has_none_and_training_level_compares_g1_g2(tiny_data, teacher):
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher=teacher,
                               config_dict=fast_config(tiny_data))
    figures = result["diagnostics"]
    if teacher == "none":
        assert figures == {}
        return
    assert {"main-teacher_ndcg@10", "side-teacher_ndcg@10", "teachers_kl"} <= set(figures)
    assert figures["ensemble_ndcg@10"] == pytest.approx(figures["main-teacher_ndcg@10"], abs=1e-6)
    assert 0 < figures["noise_diag_mass"] < 1


def test_bad_diagnostics_value(tiny_data):
    with pytest.raises(CSRecError, match="diagnostics='maybe' is not accepted"):
        build_configs("GRU4Rec", TINY_NAME, "model", None, fast_config(tiny_data, diagnostics="maybe"))


# --- results CSV and report ------------------------------------------------------------------
def test_benchmark_appends_diag_columns_to_an_old_csv(tmp_path):
    from recbole_csrec.benchmark.aggregate import load_results
    from recbole_csrec.benchmark.runner import run_benchmark

    path = tmp_path / "results.csv"
    pd.DataFrame([{"model": "GRU4Rec", "dataset": "ml", "teacher": "none", "seed": 2,
                   "config_hash": "old", "test_ndcg@10": 0.1}]).to_csv(path, index=False)

    def fake_run(teacher, config_dict, **kwargs):
        diagnostics = {} if teacher == "none" else {"ensemble_popular_mass": 0.25, "teacher-1_ndcg@10": 0.5}
        return {"test_result": {"ndcg@10": 0.2}, "best_valid_result": {}, "phases": {},
                "diagnostics": diagnostics}

    run_benchmark(["GRU4Rec"], ["ml"], ["none", "model"], [1], output=str(path), run_fn=fake_run)
    frame = load_results([str(path)])
    assert len(frame) == 3
    model_row = frame[frame["teacher"] == "model"].iloc[0]
    assert float(model_row["diag_ensemble_popular_mass"]) == 0.25
    assert float(model_row["diag_teacher-1_ndcg@10"]) == 0.5
    assert (frame[frame["teacher"] == "none"]["diag_ensemble_popular_mass"] == "").all()  # old row too


def _gain_csv(folder) -> tuple[str, dict]:
    """2 models x 2 seeds x (Base, SoftRec, CSRec-M); the gain falls as the popularity mass rises."""
    rows, gains = [], {}
    for m, model in enumerate(["GRU4Rec", "NARM"]):
        for seed in (1, 2):
            base = 0.10 + 0.01 * seed + 0.02 * m
            rows.append({"model": model, "dataset": "d", "teacher": "none", "seed": seed, "test_ndcg@10": base})
            for teacher, mass in (("pop", 0.6), ("model", 0.2)):
                mass += 0.01 * seed + 0.05 * m
                gain = 0.3 - mass
                gains[(model, teacher, seed)] = gain
                rows.append({"model": model, "dataset": "d", "teacher": teacher, "seed": seed,
                             "test_ndcg@10": base * (1 + gain), "diag_ensemble_popular_mass": mass,
                             "diag_ensemble_entropy": 2.0 + mass * (seed - 1.5),
                             "diag_pop_popular_mass": 0.6})
    path = os.path.join(folder, "results.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, gains


def test_report_plots_gain_against_the_soft_labels(tmp_path):
    from recbole_csrec.benchmark.aggregate import load_results
    from run_scripts.reproduce.label_gain import gain_frame
    from run_scripts.reproduce.results_page import main as report_main

    path, gains = _gain_csv(str(tmp_path))
    frame = gain_frame(load_results([path]))
    assert len(frame) == len(gains)
    for _, row in frame.iterrows():
        teacher = {"SoftRec": "pop", "CSRec-M": "model"}[row["method"]]
        assert row["gain"] == pytest.approx(gains[(row["model"], teacher, row["seed"])])
    out = tmp_path / "docs" / "results.md"
    assert report_main(["--results", path, "--analyses", "--output", str(out)]) == 0
    text = out.read_text()
    assert "## Student gain vs the soft labels" in text
    assert "Over 8 runs (SoftRec, CSRec-M on GRU4Rec, NARM)" in text
    assert "smaller gains" in text and "rho = -1.00" in text  # gain falls with the mass
    assert "![student gain vs soft labels](results/soft_label_gain.png)" in text
    assert os.path.getsize(tmp_path / "docs" / "results" / "soft_label_gain.png") > 1000
    assert len(pd.read_csv(tmp_path / "docs" / "results" / "soft_label_gain.csv")) == 8

    # a CSV from before the diagnostics: no section, no plot
    old = tmp_path / "old.csv"
    pd.read_csv(path).drop(columns=[c for c in pd.read_csv(path).columns if c.startswith("diag_")]) \
        .to_csv(old, index=False)
    out2 = tmp_path / "old.md"
    assert report_main(["--results", str(old), "--analyses", "--output", str(out2)]) == 0
    assert "Student gain vs the soft labels" not in out2.read_text()
    assert not os.path.exists(tmp_path / "old")
