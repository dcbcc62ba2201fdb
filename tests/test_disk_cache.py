"""The exact soft-label table on disk (soft_labels/disk_cache.py): chosen when the table exceeds
soft_label_cache_mb and a teacher store is in use, equal to the in-memory cache, shared by later
students, refused when damaged or foreign, never half-written."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch

from recbole_csrec import CSRecError
from recbole_csrec.soft_labels import CachedSoftLabels, DiskSoftLabels, cache_soft_labels
from recbole_csrec.soft_labels import disk_cache
from recbole_csrec.soft_labels.cache import PATH_ON_THE_FLY
from recbole_csrec.soft_labels.placement import PATH_DISK, disk_cache_folder, plan_cache
from tests.test_soft_label_cache import _losses, _setup


def _disk_and_ram(tiny_data, tmp_path, caplog, **overrides):
    config, train_data, source = _setup(tiny_data, soft_label_cache_mb=0.001, train_batch_size=32, **overrides)
    file = str(tmp_path / "store" / "soft_labels" / "key.pt")
    with caplog.at_level(logging.INFO):
        disk = cache_soft_labels(source, config, train_data, cache_file=file)
    config["soft_label_cache_mb"] = 2048
    ram = cache_soft_labels(source, config, train_data)
    return config, train_data, source, disk, ram, file


@pytest.mark.parametrize("ensemble", ["logits", "probs"])
def test_disk_cache_equals_the_ram_cache(tiny_data, tmp_path, caplog, ensemble):
    config, train_data, source, disk, ram, file = _disk_and_ram(tiny_data, tmp_path, caplog, ensemble=ensemble)
    assert isinstance(disk, DiskSoftLabels) and isinstance(ram, CachedSoftLabels)
    assert "exceeds soft_label_cache_mb=0.001: exact table on disk" in caplog.text
    assert os.path.isdir(disk_cache_folder(file)) and not os.path.exists(file)
    np.testing.assert_array_equal(disk.logits.array, ram.tensors["table"].numpy())
    for temperature in (3.0, 1.0):
        # a fresh RAM cache per T: the RAM table re-tempers in place (fp16 twice), the disk one
        # tempers every T from its logits
        ram = cache_soft_labels(source, config, train_data)
        for batch in list(train_data)[:2]:
            a, b = disk.batch(batch, temperature), ram.batch(batch, temperature)
            assert torch.equal(a.log_probs, b.log_probs)
            assert (a.q_log_q is None) == (b.q_log_q is None)
            if a.q_log_q is not None:
                assert torch.allclose(a.q_log_q, b.q_log_q)
    ram = cache_soft_labels(source, config, train_data)
    assert _losses(config, train_data, disk) == pytest.approx(_losses(config, train_data, ram), rel=1e-6)


def test_a_second_student_opens_the_folder_and_shares_tempered_tables(tiny_data, tmp_path, caplog):
    config, train_data, source, disk, _, file = _disk_and_ram(tiny_data, tmp_path, caplog)
    batch = next(iter(train_data))
    first = disk.batch(batch, 6.0).log_probs
    config["soft_label_cache_mb"] = 0.001
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = cache_soft_labels(source, config, train_data, cache_file=file)
    assert isinstance(again, DiskSoftLabels) and "disk cache opened" in caplog.text
    assert torch.equal(again.batch(batch, 6.0).log_probs, first)
    tempered = [n for n in os.listdir(disk_cache_folder(file)) if n.startswith("tempered-")]
    assert tempered == ["tempered-6.0"]  # written once, by the first student that asked for T=6
    assert not [n for n in os.listdir(os.path.dirname(file)) if n.startswith(".tmp")]


def test_truncated_edited_or_foreign_folders_are_refused(tiny_data, tmp_path, caplog):
    config, train_data, source, disk, _, file = _disk_and_ram(tiny_data, tmp_path, caplog)
    folder = disk_cache_folder(file)
    other = train_data._dataset.copy(train_data._dataset.inter_feat[:-3])
    with pytest.raises(CSRecError, match="other training data"):
        DiskSoftLabels(folder, other)
    data = os.path.join(folder, "logits.f16")
    with open(data, "r+b") as handle:
        handle.truncate(os.path.getsize(data) - 2)
    with pytest.raises(CSRecError, match="truncated or edited"):
        DiskSoftLabels(folder, train_data._dataset)
    with open(os.path.join(folder, "meta.json"), "w") as handle:
        json.dump({"format": "something else"}, handle)
    with pytest.raises(CSRecError, match="not a recbole_csrec disk soft-label cache"):
        DiskSoftLabels(folder, train_data._dataset)


def _flip_byte(file: str, offset: int) -> None:
    """An edit that keeps the file's size (a later write into the table)."""
    with open(file, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_edited_tables_are_deleted_and_rebuilt(tiny_data, tmp_path, caplog):
    config, train_data, source, disk, _, file = _disk_and_ram(tiny_data, tmp_path, caplog)
    folder, batch = disk_cache_folder(file), next(iter(train_data))
    original, tempered = disk.logits.array.copy(), disk.batch(batch, 3.0).log_probs
    del disk
    _flip_byte(os.path.join(folder, "logits.f16"), 1000)
    with pytest.raises(CSRecError, match="edited after it was written"):
        DiskSoftLabels(folder, train_data._dataset)
    config["soft_label_cache_mb"] = 0.001
    caplog.clear()
    with caplog.at_level(logging.INFO):
        rebuilt = cache_soft_labels(source, config, train_data, cache_file=file)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "logits.f16' was edited" in warnings[0] and "built again" in warnings[0]
    assert os.listdir(os.path.dirname(file)) == [os.path.basename(folder)]  # the edited one deleted
    assert "disk cache built" in caplog.text
    np.testing.assert_array_equal(rebuilt.logits.array, original)
    # a tempered table edited after it was written is moved aside and tempered again
    assert torch.equal(rebuilt.batch(batch, 3.0).log_probs, tempered)
    _flip_byte(os.path.join(folder, "tempered-3.0", "log_probs.f16"), 10)
    again = cache_soft_labels(source, config, train_data, cache_file=file)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert torch.equal(again.batch(batch, 3.0).log_probs, tempered)
    assert "tempered table not used" in caplog.text and "was edited" in caplog.text
    assert sorted(os.listdir(folder)) == ["logits.f16", "meta.json", "tempered-3.0"]


def test_a_failed_write_leaves_no_folder(tiny_data, tmp_path, monkeypatch):
    config, train_data, source = _setup(tiny_data, soft_label_cache_mb=0.001)
    folder = str(tmp_path / "soft_labels" / "key.disk")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(disk_cache.os, "pwrite", full_disk)
    with pytest.raises(OSError, match="No space left"):
        disk_cache.build_disk_cache(source, train_data._dataset, folder)
    assert not os.path.exists(folder) and os.listdir(tmp_path / "soft_labels") == []


def test_plan_order_ram_topk_disk_on_the_fly(tmp_path, monkeypatch):
    rows, items = 1000, 500  # 0.95 MB fp16
    assert plan_cache(rows, items, 1, 1.0)[0] == "exact"
    assert plan_cache(rows, items, 1, 0.5, disk_folder=str(tmp_path / "x.disk"))[0] == PATH_DISK
    # top-K only when asked for, and then before the disk
    assert plan_cache(rows, items, 1, 0.5, topk=8, disk_folder=str(tmp_path / "x.disk"))[0] == "topk"
    path, reason = plan_cache(rows, items, 1, 0.001, topk=8, disk_folder=str(tmp_path / "x.disk"))
    assert path == PATH_DISK and "does not fit either" in reason
    path, reason = plan_cache(rows, items, 1, 0.001)
    assert path == PATH_ON_THE_FLY and "no disk cache without a teacher store" in reason
    monkeypatch.setattr("recbole_csrec.soft_labels.placement.disk_free_bytes", lambda folder: 10 * 2 ** 20)
    path, reason = plan_cache(rows, items, 1, 0.5, disk_folder=str(tmp_path / "x.disk"))
    assert path == PATH_ON_THE_FLY and "a disk cache needs" in reason and "MB free" in reason


def test_a_whole_run_over_budget_trains_on_the_disk_cache(tiny_data, tmp_path, caplog):
    from recbole_csrec import run_recbole_csrec
    from tests.conftest import TINY_NAME, fast_config

    store = str(tmp_path / "store")
    config = fast_config(tiny_data, soft_label_cache_mb=0.001, teacher_store=store, num_teachers=2,
                         checkpoint_dir=str(tmp_path / "saved"), state="INFO")
    with caplog.at_level(logging.INFO):
        result = run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_dict=config)
    assert "exact table on disk" in caplog.text
    folders = os.listdir(os.path.join(store, "soft_labels"))
    assert len(folders) == 1 and folders[0].endswith(".disk")
    assert [n for n in os.listdir(os.path.join(store, "soft_labels", folders[0])) if n.startswith("tempered-")]
    assert result["test_result"]["recall@10"] >= 0


def test_a_zero_budget_never_caches(tmp_path):
    assert plan_cache(1000, 500, 1, 0, disk_folder=str(tmp_path / "x.disk"))[0] == PATH_ON_THE_FLY


@pytest.mark.parametrize("extra, expected", [
    ([], "-> exact (exact cache"),
    (["--soft_label_cache_mb=0.01"], "-> disk (exact cache"),
    (["--soft_label_cache_mb=0.01", "--reuse_teachers=False"], "-> on-the-fly (exact cache"),
    (["--soft_label_cache_mb=0.01", "--soft_label_topk=4"], "-> topk (exact cache"),
])
def test_dry_run_says_where_the_soft_labels_will_live(tmp_path, capsys, extra, expected):
    from recbole_csrec.cli import main
    from tests.test_input_checks import tree
    from tests.test_prepare_sequences import _files, _synthetic_sequences

    seq_path, _ = _files(tmp_path, _synthetic_sequences())
    from recbole_csrec.prepare_cli import main as prepare_main
    assert prepare_main(["--input", seq_path, "--format", "sequences", "--name", "seqs", "--window", "5",
                         "--output-dir", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    before = tree(tmp_path)
    code = main(["--model=GRU4Rec", "--dataset=seqs", f"--data_path={tmp_path / 'data'}", "--preset=paper",
                 f"--config_files={tmp_path / 'data' / 'seqs' / 'seqs.yaml'}", "--teacher=model",
                 f"--checkpoint_dir={tmp_path / 'saved'}", "--dry_run", *extra])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("soft labels:"))
    assert code == 0 and expected in line and "training rows x" in line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("teacher, extra, present, absent", [
    ("none", [], ["peak memory: ~", "disk: ~"], ["CSRec-T normaliser", "soft-label cache"]),
    ("training", [], ["CSRec-T normaliser: exact", "ms per main-teacher step"], []),
    ("training", ["--noise_normalizer=importance", "--noise_sample_size=16"], ["CSRec-T normaliser: importance, K=16"], []),
    ("model", ["--soft_label_cache_mb=0.01"], ["the disk soft-label cache"], ["CSRec-T normaliser"]),
])
def test_dry_run_estimates_memory_disk_and_normaliser(tmp_path, capsys, teacher, extra, present, absent):
    from recbole_csrec.cli import main
    from recbole_csrec.prepare_cli import main as prepare_main
    from tests.test_prepare_sequences import _files, _synthetic_sequences

    seq_path, _ = _files(tmp_path, _synthetic_sequences())
    assert prepare_main(["--input", seq_path, "--format", "sequences", "--name", "seqs", "--window", "5",
                         "--output-dir", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    code = main(["--model=GRU4Rec", "--dataset=seqs", f"--data_path={tmp_path / 'data'}",
                 f"--config_files={tmp_path / 'data' / 'seqs' / 'seqs.yaml'}", f"--teacher={teacher}",
                 f"--checkpoint_dir={tmp_path / 'saved'}", "--dry_run", *extra])
    out = capsys.readouterr().out
    block = out[out.index("  estimates:"):]
    assert code == 0 and "training rows" in block.splitlines()[0]
    assert all(text in block for text in present), block
    assert not any(text in block for text in absent), block
    memory = float(block.split("peak memory: ~")[1].split()[0].replace(",", ""))
    assert memory > 50  # at least the process itself


def test_bench_scale_prints_the_disk_cache_ratio_and_rss(tiny_data, tmp_path, capsys):
    import yaml

    from recbole_csrec.benchmark.scale import main
    from tests.conftest import TINY_NAME, fast_config

    settings = tmp_path / "tiny.yaml"
    settings.write_text(yaml.safe_dump(fast_config(tiny_data, soft_label_cache_mb=0.001,
                                                   checkpoint_dir=str(tmp_path / "saved"))))
    code = main(["--dataset", TINY_NAME, "--epochs", "1", "--store_parent", str(tmp_path),
                 "--config_files", str(settings), "--noise_normalizer=importance", "--noise_sample_size=8"])
    out = capsys.readouterr().out
    assert code == 0, out
    ratio = float(out.split("disk_cache_student/base epoch ratio: ")[1].split()[0])
    csrec_t = float(out.split("csrec_t/base epoch ratio: ")[1].split()[0])
    error = float(out.split("normalizer relative error: ")[1].split()[0])
    rss = float(out.split("peak rss mb: ")[1].split()[0])
    assert ratio > 0 and csrec_t > 0 and rss > 50
    assert 0 < error < 0.05  # an estimate (importance): not exact, and close
    assert [n for n in os.listdir(tmp_path) if n.startswith("bench-scale-store-")] == []  # removed


def test_cost_curve_exponent_and_one_catalogue_point(tmp_path, monkeypatch):
    """The curve's fit recovers a known power law, and one tiny point measures every phase."""
    from recbole_csrec.benchmark import scale_curve

    monkeypatch.chdir(tmp_path)  # the point's trainers write RecBole's log folders to the cwd

    assert scale_curve.fitted_exponent([1e3, 1e4, 1e5], [2e-3, 2e-2, 2e-1]) == pytest.approx(1.0)
    assert scale_curve.fitted_exponent([1e3, 4e3], [1.0, 16.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="two or more sizes"):
        scale_curve.fitted_exponent([2e4, 2e4], [1.0, 1.1])
    point = scale_curve.catalogue_point("GRU4Rec", 300, steps=1, repeats=1, root=str(tmp_path),
                                        users=400)
    assert point["items"] == 300
    for column in scale_curve.CATALOGUE_COLUMNS:
        assert point[f"{column}_step_s"] > 0
    assert point["eval_s_per_1000_users"] > 0 and point["peak_rss_mb"] > 50
    assert point["student_ram_compiled_step_s"] > 0 and point["student_disk_compiled_step_s"] > 0  # compiled_loss
    assert "| GRU4Rec | 300 |" in scale_curve.compiled_table([point])


def test_cost_curve_with_one_catalogue_size_prints_its_steps(monkeypatch, capsys):
    """One --items size measures the steps and says the slope is n/a (it used to divide by zero)."""
    from recbole_csrec.benchmark import scale_curve

    def fake_point(kind, model_name, size, steps, repeats, threads):
        steps_s = {f"{c}_step_s": 0.01 * (i + 1) for i, c in enumerate(scale_curve.CATALOGUE_COLUMNS)}
        compiled = {f"{c}_compiled_step_s": 0.01 for c in ("student_ram", "student_disk", "csrec_t")}
        return {"model": model_name, "items": size, "rows": 10, "eval_s_per_1000_users": 0.5,
                "peak_rss_mb": 100.0, **steps_s, **compiled}

    monkeypatch.setattr(scale_curve, "_child", fake_point)
    result = scale_curve.curve(["GRU4Rec"], [20_000], [], steps=1, repeats=1, threads=1)
    out = capsys.readouterr().out
    assert "| GRU4Rec | 20,000 | 10 | 10.0 | 20.0 | 30.0 | 40.0 |" in out
    assert "exponents: n/a (one catalogue size" in out and result["exponents"] == {}
    scale_curve.curve(["GRU4Rec"], [5_000, 20_000], [], steps=1, repeats=1, threads=1)
    assert "csrec_t exponent: 0.00" in capsys.readouterr().out  # equal costs: a flat slope
