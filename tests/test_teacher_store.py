"""Teacher store: keys, reuse across runs, resume after a crash, one training under concurrency."""
from __future__ import annotations

import os
import threading
import time

import pytest
import torch
from torch import nn

from recbole_csrec import CSRecError, run_recbole_csrec
from recbole_csrec.quick_start import build_configs
from recbole_csrec.teachers.store import TeacherStore, teacher_key, teacher_key_fields
from recbole_csrec.teachers.context import TeacherContext
from tests.conftest import TINY_NAME, fast_config


def _key(data_path: str, seed: int = 2021, kind: str = "model", objective: str = "ce",
         extra: dict | None = None, **overrides) -> str:
    _, teacher_config = build_configs("GRU4Rec", TINY_NAME, kind, None, fast_config(data_path, **overrides))
    return teacher_key(teacher_key_fields(teacher_config, seed, extra, objective))


def test_key_follows_what_determines_a_teacher(tiny_data):
    base = _key(tiny_data)
    assert base == _key(tiny_data)
    # Student-only and ensemble-only keys do not split the store.
    for student_only in ({"beta": 0.25}, {"temperature": 9.0}, {"kl_direction": "reverse"},
                         {"num_teachers": 3}, {"ensemble": "probs"}, {"show_progress": True},
                         {"checkpoint_dir": "elsewhere"}):
        assert _key(tiny_data, **student_only) == base, student_only
    # The key describes the model, not the role it plays: the teacher kind that asks is not in it.
    for kind in ("none", "data", "training"):
        assert _key(tiny_data, kind=kind) == base, kind
    # What shapes the model's weights does.
    changed = {_key(tiny_data, seed=2022), _key(tiny_data, objective="main-teacher"),
               _key(tiny_data, extra={"sample_ratio": 0.8}),
               _key(tiny_data, extra={"alpha": 0.5}), _key(tiny_data, hidden_size=32),
               _key(tiny_data, epochs=2), _key(tiny_data, learning_rate=0.01),
               _key(tiny_data, MAX_ITEM_LIST_LENGTH=5), _key(tiny_data, teacher_model="SASRec"),
               _key(tiny_data, valid_metric="Recall@10")}
    assert base not in changed and len(changed) == 10
    with pytest.raises(ValueError, match="'sgd'"):
        _key(tiny_data, objective="sgd")
    # Same content elsewhere: same key; changed content: new key.
    inter = os.path.join(tiny_data, TINY_NAME, f"{TINY_NAME}.inter")
    with open(inter, "a") as handle:
        handle.write("1\t2\t5\t99\n")
    assert _key(tiny_data) != base


_REAL_TRAIN = TeacherContext._train


class _Killed(Exception):
    """Stands in for a kill signal in the middle of a phase."""


def _count_training(monkeypatch, fail_on: str | None = None) -> list[str]:
    trained: list[str] = []
    original = _REAL_TRAIN

    def counting(self, name, *args, **kwargs):
        trained.append(name)
        if name == fail_on:
            raise _Killed(f"killed during {name}")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(TeacherContext, "_train", counting)
    return trained


def test_second_run_reuses_teachers(tiny_data, monkeypatch):
    trained = _count_training(monkeypatch)
    first = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                              config_dict=fast_config(tiny_data))
    assert trained == ["teacher-1", "teacher-2"]
    assert not first["phases"]["teacher-1"]["reused"]
    second = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data))
    assert trained == ["teacher-1", "teacher-2"]  # nothing trained again
    for name in ("teacher-1", "teacher-2"):
        assert second["phases"][name]["reused"]
        assert second["phases"][name]["best_valid_result"] == first["phases"][name]["best_valid_result"]
        loaded = torch.load(second["phases"][name]["weights"], weights_only=True)
        assert loaded["meta"]["phase"] == f"CSRec-M {name}"
    # Same teachers loaded -> the same student, bit for bit on CPU.
    assert second["test_result"] == pytest.approx(first["test_result"])
    # The soft labels of stored teachers are cached once in the store, beside them.
    cache_files = os.listdir(os.path.join("saved", "teacher_store", "soft_labels"))
    assert len(cache_files) == 1
    # A student-only change still reuses (teachers and their soft-label cache).
    built = []
    import recbole_csrec.soft_labels.cache as cache_module
    real_build = cache_module.build_soft_label_cache
    monkeypatch.setattr(cache_module, "build_soft_label_cache",
                        lambda *a, **k: built.append(1) or real_build(*a, **k))
    run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                      config_dict=fast_config(tiny_data, beta=0.25, temperature=6))
    assert len(trained) == 2 and built == []
    run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model",
                      config_dict=fast_config(tiny_data, reuse_teachers=False, num_teachers=1))
    assert len(trained) == 3


def test_killed_run_resumes_without_retraining(tiny_data, monkeypatch):
    trained = _count_training(monkeypatch, fail_on="teacher-2")
    with pytest.raises(_Killed):
        run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="data",
                          config_dict=fast_config(tiny_data))
    store = TeacherStore(os.path.join("saved", "teacher_store"))
    complete = [k for k in os.listdir(store.root) if store.get(k) is not None]
    assert len(complete) == 1  # teacher-1 only; nothing for teacher-2 looks complete

    trained = _count_training(monkeypatch)
    result = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="data",
                               config_dict=fast_config(tiny_data))
    assert trained == ["teacher-2"]
    assert result["phases"]["teacher-1"]["reused"] and not result["phases"]["teacher-2"]["reused"]


def test_crash_while_publishing_leaves_no_entry(tmp_path, monkeypatch):
    store = TeacherStore(str(tmp_path / "store"))

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recbole_csrec.teachers.store.save_weights", broken_save)
    key = teacher_key({"role": "teacher-1"})
    with pytest.raises(OSError), store.lock(key):
        store.publish(key, {"role": "teacher-1"}, nn.Linear(2, 2), {"epochs": 1})
    assert store.get(key) is None
    assert [n for n in os.listdir(store.root) if not n.startswith(".locks")] == []


def test_concurrent_requests_train_once(tmp_path):
    store = TeacherStore(str(tmp_path / "store"))
    trainings: list[int] = []
    outcomes: list[str] = []

    shared = teacher_key({"role": "teacher-1"})

    def request(worker: int) -> None:
        with store.lock(shared):
            entry = store.get(shared)
            if entry is None:
                trainings.append(worker)
                time.sleep(0.3)  # "training": the other request must wait, then reuse
                model = nn.Linear(3, 3)
                entry = store.publish(shared, {"role": "teacher-1"}, model, {"epochs": 1})
        fresh = nn.Linear(3, 3)
        entry.load_into(fresh)
        outcomes.append(entry.key)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(trainings) == 1
    assert outcomes == [shared] * 4


def _published(tmp_path, fields: dict) -> tuple[TeacherStore, str]:
    store = TeacherStore(str(tmp_path / "store"))
    key = teacher_key(fields)
    with store.lock(key):
        store.publish(key, fields, nn.Linear(3, 3), {"epochs": 1})
    return store, key


@pytest.mark.parametrize("tamper, message", [
    ("truncate", "truncated or edited"),
    ("edit_weights", "truncated or edited"),
    ("edit_fields", "do not hash to its key"),
    ("foreign", "names another key"),
])
def test_a_tampered_or_foreign_entry_is_never_loaded(tmp_path, caplog, tamper, message):
    """Truncated or edited weights, edited key fields, or another key's entry copied in: one
    warning naming the folder, the entry moved aside, and the phase trains again (get is None)."""
    import json
    import logging
    import shutil

    store, key = _published(tmp_path, {"role": "teacher-1"})
    folder = store.folder(key)
    weights, manifest_path = os.path.join(folder, "weights.pth"), os.path.join(folder, "manifest.json")
    if tamper == "truncate":
        with open(weights, "r+b") as handle:
            handle.truncate(os.path.getsize(weights) // 2)
    elif tamper == "edit_weights":
        with open(weights, "r+b") as handle:
            handle.seek(-20, os.SEEK_END)
            handle.write(b"\x00" * 4)
    elif tamper == "edit_fields":
        manifest = json.load(open(manifest_path))
        manifest["fields"]["role"] = "teacher-2"
        json.dump(manifest, open(manifest_path, "w"))
    else:
        other_store, other = _published(tmp_path / "other", {"role": "teacher-9"})
        shutil.rmtree(folder)
        shutil.copytree(other_store.folder(other), folder)
    with caplog.at_level(logging.WARNING):
        assert store.get(key) is None
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and folder in lines[0] and message in lines[0] and "trained again" in lines[0]
    assert not os.path.exists(folder) and os.listdir(os.path.join(store.root, ".rejected"))
    with store.lock(key):  # the phase trains again and publishes a fresh entry
        store.publish(key, {"role": "teacher-1"}, nn.Linear(3, 3), {"epochs": 1})
    assert store.get(key) is not None


def test_an_entry_from_another_package_version_is_used_and_said(tmp_path, caplog):
    import json
    import logging

    store, key = _published(tmp_path, {"role": "teacher-1"})
    manifest_path = os.path.join(store.folder(key), "manifest.json")
    manifest = json.load(open(manifest_path))
    manifest["package_version"] = "0.0.1"
    json.dump(manifest, open(manifest_path, "w"))
    with caplog.at_level(logging.INFO):
        assert store.get(key) is not None
    assert any("written by recbole_csrec 0.0.1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("overrides, message", [
    ({"reuse_teachers": "yes"}, "reuse_teachers='yes'"),
    ({"teacher_store": ""}, "teacher_store=''"),
    ({"teacher_store": 3}, "teacher_store=3"),
])
def test_bad_store_keys(tiny_data, overrides, message):
    with pytest.raises(CSRecError, match=message):
        build_configs("GRU4Rec", TINY_NAME, "model", None, fast_config(tiny_data, **overrides))


def test_busy_teacher_is_skipped_not_waited_for(tmp_path):
    store = TeacherStore(str(tmp_path / "store"))
    with store.lock("busy") as held:
        assert held
        with store.lock("busy", blocking=False) as other:
            assert not other
        with store.lock("free", blocking=False) as other:
            assert other
