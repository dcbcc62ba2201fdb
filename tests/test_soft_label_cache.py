"""The soft-label cache gives the on-the-fly loss (up to fp16), falls back when over budget."""
from __future__ import annotations

import logging
import os

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, init_seed

from recbole_csrec import CSRecError, run_recbole_csrec
from recbole_csrec.config import CSRecConfig
from recbole_csrec.model import CSRecStudent
from recbole_csrec.soft_labels import (CachedSoftLabels, TeacherEnsemble, TopKSoftLabels,
                                       cache_soft_labels, load_soft_label_cache)
from recbole_csrec.soft_labels.cache import ROW_ID_FIELD
from tests.conftest import TINY_NAME, fast_config


def _setup(data_path: str, **overrides):
    config = CSRecConfig(model="GRU4Rec", dataset=TINY_NAME, config_dict=fast_config(data_path, **overrides))
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    teachers = []
    for seed in (1, 2):
        init_seed(seed, True)
        teacher = get_model("GRU4Rec")(config, train_data._dataset)
        with torch.no_grad():  # spread the logits over several units, like a trained teacher
            teacher.item_embedding.weight.mul_(40.0)
        teachers.append(teacher)
    return config, train_data, TeacherEnsemble(teachers, config["ensemble"])


def _losses(config, train_data, source, seed: int = 7) -> list[float]:
    init_seed(0, True)
    backbone = get_model("GRU4Rec")(config, train_data._dataset)
    student = CSRecStudent(config, train_data._dataset, backbone, source).eval()  # no dropout noise
    train_data.generator.manual_seed(seed)  # the same shuffled order for both sources
    losses = []
    with torch.no_grad():
        for batch in train_data:
            ce, kl = student.calculate_loss(batch)
            losses.append(float(ce + kl))
    return losses


@pytest.mark.parametrize("ensemble", ["logits", "probs"])
def test_cache_equals_on_the_fly(tiny_data, ensemble):
    config, train_data, ensemble_source = _setup(tiny_data, ensemble=ensemble, train_batch_size=32)
    cache = cache_soft_labels(ensemble_source, config, train_data)
    assert isinstance(cache, CachedSoftLabels)
    assert cache.tensors["table"].dtype == torch.float16
    assert cache.tensors["table"].shape[0] == (1 if ensemble == "logits" else 2)

    batches = list(train_data)
    assert all(ROW_ID_FIELD in b.interaction for b in batches)
    rows = torch.cat([b[ROW_ID_FIELD] for b in batches])
    assert not torch.equal(rows, torch.arange(len(rows)))  # the loader really shuffles
    assert torch.equal(rows.sort().values, torch.arange(len(train_data._dataset)))

    on_the_fly = _losses(config, train_data, ensemble_source)
    cached = _losses(config, train_data, cache)
    assert len(cached) == len(on_the_fly) > 1
    assert cached == pytest.approx(on_the_fly, rel=2e-3, abs=2e-3)
    for batch in batches[:2]:  # per-row soft labels agree, for another temperature too
        exact = ensemble_source.log_probs(batch, 1.0).exp()
        assert torch.allclose(cache.log_probs(batch, 1.0).exp(), exact, atol=5e-3)


def test_budget_exceeded_falls_back_and_says_so(tiny_data, caplog):
    config, train_data, source = _setup(tiny_data, soft_label_cache_mb=0.001)
    with caplog.at_level(logging.INFO):
        result = cache_soft_labels(source, config, train_data)
    assert result is source
    assert "on-the-fly teacher inference" in caplog.text
    assert "exceeds soft_label_cache_mb=0.001" in caplog.text


def test_topk_approximation_when_asked(tiny_data, caplog):
    config, train_data, source = _setup(tiny_data, soft_label_cache_mb=0.02, soft_label_topk=5)
    with caplog.at_level(logging.INFO):
        cache = cache_soft_labels(source, config, train_data)
    assert isinstance(cache, TopKSoftLabels)
    assert "top-5 approximation" in caplog.text
    batch = next(iter(train_data))
    approx, exact = cache.log_probs(batch, 3.0), source.log_probs(batch, 3.0)
    assert torch.isinf(approx[:, 0]).all()
    # the K most likely items are the teachers' K most likely items
    assert torch.equal(approx.topk(5).indices.sort().values, exact.topk(5).indices.sort().values)


def test_cache_file_round_trip(tiny_data, tmp_path):
    config, train_data, source = _setup(tiny_data)
    file = str(tmp_path / "cache" / "soft.pt")
    built = cache_soft_labels(source, config, train_data, cache_file=file)
    loaded = cache_soft_labels(source, config, train_data, cache_file=file)
    assert loaded is not built and isinstance(loaded, CachedSoftLabels)
    assert torch.equal(loaded.tensors["table"], built.tensors["table"])
    other = train_data._dataset.copy(train_data._dataset.inter_feat[:-3])
    with pytest.raises(CSRecError, match="other training data"):
        load_soft_label_cache(file, other)


def test_an_edited_cache_file_is_refused_then_deleted_and_rebuilt(tiny_data, tmp_path, caplog):
    config, train_data, source = _setup(tiny_data)
    file = str(tmp_path / "cache" / "soft.pt")
    built = cache_soft_labels(source, config, train_data, cache_file=file)
    table = built.tensors["table"].clone()
    raw = bytearray(open(file, "rb").read())
    offset = raw.find(table.numpy().tobytes()[:64])  # inside the table's bytes, size unchanged
    assert offset > 0
    raw[offset + 5] ^= 0xFF
    with open(file, "wb") as handle:
        handle.write(raw)
    with pytest.raises(CSRecError, match="was edited after it was written"):
        load_soft_label_cache(file, train_data._dataset)
    with caplog.at_level(logging.INFO):
        rebuilt = cache_soft_labels(source, config, train_data, cache_file=file)
    assert "was edited after it was written" in caplog.text and "deleted, built again" in caplog.text
    assert torch.equal(rebuilt.tensors["table"], table)
    assert os.listdir(tmp_path / "cache") == ["soft.pt"]
    assert torch.equal(load_soft_label_cache(file, train_data._dataset).tensors["table"], table)


def test_bad_cache_keys(tiny_data):
    with pytest.raises(CSRecError, match="soft_label_cache_mb=-1"):
        run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_dict=fast_config(tiny_data, soft_label_cache_mb=-1))
    with pytest.raises(CSRecError, match="soft_label_topk='x'"):
        run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_dict=fast_config(tiny_data, soft_label_topk="x"))


def test_tempered_cache_matches_on_the_fly_log_probs_for_each_temperature(tiny_data):
    """The exact cache turns into fp16 log softmax(e/T) once per T; a second T re-tempers it.
    Each batch's log-probs and sum q log q agree with the teachers' own, up to fp16."""
    config, train_data, ensemble_source = _setup(tiny_data, train_batch_size=32)
    cache = cache_soft_labels(ensemble_source, config, train_data)
    batch = next(iter(train_data))
    for temperature in (3.0, 1.0, 6.0):
        expected = ensemble_source.log_probs(batch, temperature)
        soft_labels = cache.batch(batch, temperature)
        assert soft_labels.log_probs.dtype == torch.float16
        got = soft_labels.log_probs.float()
        assert torch.isinf(got[:, 0]).all()
        q = expected.exp()
        # probabilities agree to fp16 precision of log-values of the size the logits had
        assert torch.allclose(got.exp(), q, atol=2e-3)
        expected_q_log_q = (q * expected).nansum(dim=-1)
        assert torch.allclose(soft_labels.q_log_q, expected_q_log_q, atol=2e-2)
        assert torch.equal(cache.log_probs(batch, temperature), got)
    with pytest.raises(RuntimeError, match="saved before"):
        cache.save(str(tiny_data) + "/cache.pt")
