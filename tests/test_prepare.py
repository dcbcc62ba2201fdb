"""The paper's protocol: k-core, non-overlapping windows, leave-one-out, files RecBole loads."""
from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import yaml
from recbole.data import create_dataset, data_preparation

from recbole_csrec import CSRecError
from recbole_csrec.config import CSRecConfig, PROPERTIES_DIR
from recbole_csrec.data import builtin, subsample_sequences
from recbole_csrec.data.builtin import BUILTIN_DATASETS, BuiltinDataset, ensure_dataset_files
from recbole_csrec.data.protocol import (Columns, cut_windows, dataset_yaml, k_core, prepare_dataset,
                                        read_manifest)
from recbole_csrec.prepare_cli import main as prepare_main


def _read(path):
    with open(path) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        return header, [line.rstrip("\n").split("\t") for line in handle]


def _write_csv(path, rows, header="user,item,stars,ts"):
    with open(path, "w") as handle:
        handle.write(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")


def test_cut_windows_tail_rule():
    assert cut_windows(10, 4) == [(0, 4), (4, 8)]          # tail of 2 dropped
    assert cut_windows(11, 4) == [(0, 4), (4, 8), (8, 11)]  # tail of 3 kept
    assert cut_windows(3, 10) == [(0, 3)]                   # short user: one shorter window
    assert cut_windows(2, 10) == []


@pytest.fixture
def crafted(tmp_path):
    """User a: 9 items (windows 4+4, tail 1 dropped); user b: 5 items; x is rare and filtered."""
    rows = [("a", f"i{k}", k % 5 + 1, 100 - k) for k in range(9)]      # timestamps decrease
    rows += [("b", f"i{k}", 5, k) for k in range(5)]
    rows += [("c", "x", 5, 0)]
    return str(tmp_path / "raw.csv"), rows


def test_windows_and_leave_one_out(tmp_path, crafted):
    path, rows = crafted
    _write_csv(path, rows)
    stats = prepare_dataset(path, "csv", "toy", window=4, min_count=1,
                            columns=Columns(user="user", item="item", rating="stars", time="ts"),
                            output_dir=str(tmp_path / "ds"))
    folder = tmp_path / "ds" / "toy"
    header, train = _read(folder / "toy.train.inter")
    assert header == ["user_id:token", "item_id_list:token_seq", "item_id:token", "rating:float"]
    _, valid = _read(folder / "toy.valid.inter")
    _, test = _read(folder / "toy.test.inter")
    # user a in time order: i8 i7 ... i0 -> windows [i8 i7 i6 i5], [i4 i3 i2 i1], tail [i0] dropped
    assert ["a_0", "i8 i7 i6", "i5", "1.0"] in test
    assert ["a_0", "i8 i7", "i6", "2.0"] in valid
    assert [r for r in train if r[0] == "a_0"] == [["a_0", "i8", "i7", "3.0"]]
    assert ["a_1", "i4 i3 i2", "i1", "2.0"] in test
    # user b: windows [i0..i3] and tail [i4] dropped; prefixes of length >= 1 are training samples
    assert [r[:3] for r in train if r[0] == "b_0"] == [["b_0", "i0", "i1"]]
    assert len(test) == len(valid) == stats.windows == 3  # a_0, a_1, b_0 (c: 1 item, no window)
    # no window's validation/test item is in another window's training part of the same user
    # (user a's items are all distinct, so an item id names one interaction), nor in its own
    held_out = {}
    for uid, _, target, _ in valid + test:
        held_out.setdefault(uid, set()).add(target)
    seen_in_training = {}
    for uid, history, target, _ in train:
        seen_in_training.setdefault(uid, set()).update(history.split(" ") + [target])
    for window in ("a_0", "a_1"):
        for other in ("a_0", "a_1"):
            assert not held_out[window] & seen_in_training[other], (window, other)
    assert held_out["a_0"] == {"i6", "i5"} and held_out["a_1"] == {"i2", "i1"}
    assert seen_in_training["a_0"] == {"i8", "i7"} and seen_in_training["a_1"] == {"i4", "i3"}
    assert stats.users == 3 and stats.interactions == 15 and stats.length == 4
    config = yaml.safe_load(open(folder / "toy.yaml"))  # the prepared dataset's yaml lives with it
    assert config == dataset_yaml("toy", 4, True)
    assert read_manifest(str(folder))["stats"]["windows"] == 3


def test_k_core_is_iterated():
    # item z (count 1) goes, then u2 falls below 2, then item y falls below 2, then u1
    rows = [("u1", "w"), ("u1", "y"), ("u2", "y"), ("u2", "z"),
            ("u3", "w"), ("u3", "v"), ("u4", "v"), ("u4", "w"), ("u4", "q")]
    kept = k_core(pd.DataFrame(rows, columns=["user", "item"]), 2)
    assert sorted(map(tuple, kept.values.tolist())) == [("u3", "v"), ("u3", "w"), ("u4", "v"), ("u4", "w")]


@pytest.mark.parametrize("rows, kwargs, message", [
    ([("a", "i", "good", 1)] * 5, {}, "non-numeric value 'good'"),
    ([("a", "i", 1, 1)] * 5, {"window": 2}, "--window=2"),
    ([("a", f"i{k}", 1, k) for k in range(5)], {"min_count": 5}, "nothing left"),
    ([("a", "i", 1, 1)] * 5, {"columns": Columns(user="who", item="item")}, "column 'who'"),
])
def test_bad_input_leaves_nothing(tmp_path, rows, kwargs, message):
    path = str(tmp_path / "raw.csv")
    _write_csv(path, rows)
    args = {"window": 3, "min_count": 1,
            "columns": Columns(user="user", item="item", rating="stars", time="ts")}
    args.update(kwargs)
    with pytest.raises(CSRecError, match=message):
        prepare_dataset(path, "csv", "bad", output_dir=str(tmp_path / "ds"), **args)
    assert os.listdir(tmp_path / "ds") == [] if (tmp_path / "ds").exists() else True


def test_cli_one_line_error_exit_2(tmp_path, capsys):
    path = str(tmp_path / "raw.csv")
    _write_csv(path, [("a", "i", 1, 1)] * 5)
    code = prepare_main(["--input", path, "--format", "csv", "--name", "bad", "--window", "3",
                         "--user-col", "user", "--item-col", "item", "--rating-col", "missing",
                         "--output-dir", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "column 'missing'" in err


def test_atomic_input_loads_in_recbole_with_consistent_ids(tiny_data, tmp_path, capsys):
    """RecBole's remapped ids map back to exactly the written tokens, in every split."""
    tiny_inter = os.path.join(tiny_data, "tiny", "tiny.inter")
    out = str(tmp_path / "prep")
    assert prepare_main(["--input", tiny_inter, "--format", "atomic", "--name", "tw", "--window", "5",
                         "--output-dir", out]) == 0
    printed = capsys.readouterr().out
    assert "#interactions" in printed and f"--config_files={os.path.join(out, 'tw', 'tw.yaml')}" in printed
    config = CSRecConfig(model="GRU4Rec", dataset="tw", config_file_list=[os.path.join(out, "tw", "tw.yaml")],
                         config_dict={"preset": "paper", "data_path": out, "epochs": 1, "show_progress": False,
                                      "state": "WARNING", "use_gpu": False,
                                      "metrics": ["Recall", "NDCG", "Recall+", "NDCG+"],
                                      "valid_metric": "NDCG+@10"})
    ensure_dataset_files(config)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    for loader, split in ((train, "train"), (valid, "valid"), (test, "test")):
        _, rows = _read(os.path.join(out, "tw", f"tw.{split}.inter"))
        feat = loader._dataset.inter_feat
        for k in (0, len(rows) // 2, len(rows) - 1):
            length = int(feat["item_length"][k])
            tokens = dataset.id2token("item_id", feat["item_id_list"][k][:length].numpy()).tolist()
            target = dataset.id2token("item_id", int(feat["item_id"][k]))
            assert (tokens, target) == (rows[k][1].split(" "), rows[k][2])
            assert float(feat["rating"][k]) == float(rows[k][3])  # raw, not normalised
    # data-level subsampling by user id keeps or drops whole windows
    sub = subsample_sequences(train, 0.5, seed=3)
    uid = train._dataset.inter_feat["user_id"]
    kept = set(sub._dataset.inter_feat["user_id"].tolist())
    assert 0 < len(kept) < len(set(uid.tolist()))
    assert len(sub._dataset) == int(sum(u in kept for u in uid.tolist()))


def test_builtin_yaml_matches_protocol():
    for name, spec in BUILTIN_DATASETS.items():
        with open(os.path.join(PROPERTIES_DIR, "dataset", f"{name}.yaml")) as handle:
            shipped = yaml.safe_load(handle)
        shipped.pop("epochs", None)  # a compute budget, not part of the protocol
        assert shipped.pop("preset") == "paper"  # the paper's datasets train with its settings
        assert shipped == dataset_yaml(name, spec.window, True)


def test_lastfm_matches_table_1(tmp_path):
    folder = str(tmp_path / "lastfm")
    builtin.build_builtin("lastfm", folder)
    stats = read_manifest(folder)["stats"]
    assert (stats["users"], stats["items"], stats["interactions"], stats["length"]) == (1090, 3646, 52551, 20)


def test_corrupted_cache_is_rebuilt(tmp_path, tiny_data, monkeypatch):
    spec = BuiltinDataset(os.path.join(tiny_data, "tiny", "tiny.inter"), "atomic", window=5)
    monkeypatch.setitem(BUILTIN_DATASETS, "mini", spec)
    folder = str(tmp_path / "mini")

    class Cfg(dict):
        def __getitem__(self, key):
            return self.get(key)

    config = Cfg(dataset="mini", data_path=folder)
    ensure_dataset_files(config)
    test_file = os.path.join(folder, "mini.test.inter")
    good = open(test_file).read()
    with open(test_file, "w") as handle:  # a half-written file
        handle.write(good[: len(good) // 2])
    assert not builtin.builtin_is_current("mini", folder)
    ensure_dataset_files(config)
    assert open(test_file).read() == good
    os.remove(os.path.join(folder, "manifest.json"))  # interrupted before the manifest
    ensure_dataset_files(config)
    assert builtin.builtin_is_current("mini", folder)
    assert json.load(open(os.path.join(folder, "manifest.json")))["params"]["window"] == 5
    assert sorted(os.listdir(tmp_path)) == ["data", "mini"]  # no temp folders left


def _prepared_tiny(tiny_data, tmp_path, window=5):
    out = str(tmp_path / "prep")
    prepare_dataset(os.path.join(tiny_data, "tiny", "tiny.inter"), "atomic", "tw", window=window,
                    output_dir=out)
    return out, os.path.join(out, "tw", "tw.yaml")


def test_filtered_metrics_in_a_whole_run(tiny_data, tmp_path):
    from recbole_csrec import run_recbole_csrec
    from tests.conftest import fast_config

    out, props_yaml = _prepared_tiny(tiny_data, tmp_path)
    settings = fast_config(out, metrics=["Recall", "NDCG", "Recall+", "NDCG+"], valid_metric="NDCG+@10",
                           rating_threshold=3)
    del settings["load_col"], settings["MAX_ITEM_LIST_LENGTH"]  # the prepared yaml's own
    result = run_recbole_csrec(model="GRU4Rec", dataset="tw", teacher="none",
                               config_file_list=[props_yaml], config_dict=settings)
    for key in ("recall@10", "ndcg@10", "recall+@10", "ndcg+@10"):
        assert key in result["test_result"]
    assert result["best_valid_score"] == result["best_valid_result"]["ndcg+@10"]


def test_plain_recbole_trainer_collects_ratings(tiny_data, tmp_path):
    from recbole.trainer import Trainer
    from recbole.utils import get_model

    out, props_yaml = _prepared_tiny(tiny_data, tmp_path)
    config = CSRecConfig(model="GRU4Rec", dataset="tw", config_file_list=[props_yaml],
                         config_dict={"preset": "paper", "data_path": out, "use_gpu": False, "state": "WARNING",
                                      "metrics": ["Recall", "Recall+"], "topk": [10],
                                      "valid_metric": "Recall+@10", "rating_threshold": 0})
    dataset = create_dataset(config)
    _, _, test = data_preparation(config, dataset)
    model = get_model("GRU4Rec")(config, dataset)
    result = Trainer(config, model).evaluate(test, load_best_model=False)
    assert result["recall+@10"] == result["recall@10"]  # threshold 0: every row counts


def test_normalised_ratings_are_refused(tiny_data, tmp_path):
    out, props_yaml = _prepared_tiny(tiny_data, tmp_path)
    with pytest.raises(CSRecError, match="normalize_all"):
        CSRecConfig(model="GRU4Rec", dataset="tw", config_file_list=[props_yaml],
                    config_dict={"preset": "paper", "data_path": out, "metrics": ["Recall+"],
                                 "valid_metric": "Recall+@10", "normalize_all": True})
    with pytest.raises(CSRecError, match="rating_threshold"):
        CSRecConfig(model="GRU4Rec", dataset="tw", config_file_list=[props_yaml],
                    config_dict={"preset": "paper", "data_path": out, "rating_threshold": "high"})


def test_no_rating_field_fails_before_training(tiny_data, tmp_path, capsys, monkeypatch):
    from recbole_csrec.cli import main as cli_main

    out, props_yaml = _prepared_tiny(tiny_data, tmp_path)
    # main(argv) hands exactly argv's --key=value settings to RecBole (not the process's sys.argv).
    code = cli_main(["--model=GRU4Rec", "--dataset=tw", f"--config_files={props_yaml}",
                     f"--data_path={out}", "--epochs=1", "--metrics=[Recall,NDCG+]", "--valid_metric=NDCG+@10",
                     "--load_col={'inter': ['user_id', 'item_id_list', 'item_id']}", "--state=WARNING",
                     "--use_gpu=False", "--preset=paper"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "rating field 'rating'" in err[-1]
