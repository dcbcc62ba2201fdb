"""Each analysis command runs on the tiny dataset and writes a non-empty CSV and PNG."""
from __future__ import annotations

import os

import pandas as pd
import pytest
import yaml

from recbole_csrec import names
from recbole_csrec import teachers as teacher_registry
from run_scripts.reproduce.analyses import main as analyze, sweep_summary
from run_scripts.reproduce.results_page import sweep_runs_line
from recbole_csrec.benchmark.runner import main as benchmark_main
from recbole_csrec.data.drop_users import drop_users_copy
from recbole_csrec.data.protocol import Stats, read_manifest, write_manifest
from recbole_csrec.errors import CSRecError
from tests.conftest import TINY_NAME, fast_config


@pytest.fixture
def tiny_yaml(tiny_data, tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(fast_config(tiny_data, num_teachers=1)))
    return str(path)


def _check(out: str, name: str) -> pd.DataFrame:
    assert os.path.getsize(os.path.join(out, f"{name}.png")) > 1000
    frame = pd.read_csv(os.path.join(out, f"{name}.csv"))
    assert len(frame) > 0
    return frame


def test_popularity_and_length(tiny_yaml, tmp_path):
    bench = str(tmp_path / "bench")
    assert benchmark_main(["--teachers", "pop", "--datasets", TINY_NAME, "--seeds", "1",
                           "--config_files", tiny_yaml, "--output", bench, "--no_table"]) == 0
    out = str(tmp_path / "an")
    results = os.path.join(bench, "results.csv")
    assert analyze(["popularity", "--results", results, "--output", out]) == 0
    frame = _check(out, "popularity")
    assert set(frame["group"]) == {"popular", "niche"} and set(frame["method"]) == {"SoftRec"}
    assert frame.groupby("method")["users"].sum().eq(40).all()  # every tiny test row in one group
    # both of the paper's metrics in one file, each the same as alone (Fig. 1 / 3 show Recall and NDCG)
    assert analyze(["popularity", "--results", results, "--output", out, "--metric", "recall@10", "ndcg@10"]) == 0
    both = _check(out, "popularity")
    assert both["metric"].tolist() == ["recall@10"] * 2 + ["ndcg@10"] * 2
    pd.testing.assert_frame_equal(both[both["metric"] == "ndcg@10"].reset_index(drop=True), frame)
    assert analyze(["length", "--results", results, "--output", out, "--bins", "4", "8"]) == 0
    assert set(_check(out, "length")["group"]) <= {"1-4", "5-8", ">8"}


def test_num_teachers_and_sample_ratio(tiny_yaml, tmp_path):
    out = str(tmp_path / "an")
    common = ["--dataset", TINY_NAME, "--seeds", "1", "--config_files", tiny_yaml, "--output", out]
    assert analyze(["num_teachers", "--values", "1", "--teachers", "model", "--baselines", "none"] + common) == 0
    frame = _check(out, "num_teachers")
    assert set(frame["method"]) == {"CSRec-M", "Base"}
    assert analyze(["sample_ratio", "--values", "0.5"] + common) == 0
    assert _check(out, "sample_ratio")["method"].tolist() == ["CSRec-D"]
    # the report says what each sweep ran, from its runs file
    line = sweep_runs_line(os.path.join(out, "num_teachers_runs.csv"))
    assert line.startswith("2 runs: GRU4Rec on tiny, seeds 1, methods Base, CSRec-M, num_teachers in {1}")
    assert sweep_runs_line(os.path.join(out, "missing_runs.csv")) == ""


def test_summarize_only_reports_a_stopped_sweep_without_training(tiny_yaml, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "an")
    common = ["--dataset", TINY_NAME, "--seeds", "1", "--config_files", tiny_yaml, "--output", out]
    assert analyze(["num_teachers", "--summarize_only"] + common) == 2
    assert "nothing to summarize" in capsys.readouterr().err
    assert analyze(["num_teachers", "--values", "1", "--teachers", "model"] + common) == 0
    os.remove(os.path.join(out, "num_teachers.csv"))

    def no_training(*args, **kwargs):
        raise AssertionError("--summarize_only must not train")

    monkeypatch.setattr("run_scripts.reproduce.analyses.run_benchmark", no_training)
    # values 2-4 never ran (a sweep stopped after m=1): the summary holds m=1 only
    assert analyze(["num_teachers", "--teachers", "model", "--summarize_only"] + common) == 0
    frame = _check(out, "num_teachers")
    assert frame["sweep_value"].astype(str).tolist() == ["1"] and frame["seeds"].tolist() == [1]


def test_sweep_runs_line_lists_values_in_order_whatever_order_they_landed_in(tmp_path):
    runs = tmp_path / "sparsity_runs.csv"
    landed = [("model", "2021", "0.3"), ("none", "2020", "0.15"), ("model", "2020", "0.0"),
              ("none", "2021", "0.3")]
    pd.DataFrame([{"model": "GRU4Rec", "dataset": "ml", "teacher": t, "method": names.method_name(t),
                   "seed": seed, "sweep": "sparsity", "sweep_value": v, "seconds": 60}
                  for t, seed, v in landed]).to_csv(runs, index=False)
    assert sweep_runs_line(str(runs)).startswith(
        "4 runs: GRU4Rec on ml, seeds 2020, 2021, methods Base, CSRec-M, sparsity in {0.0, 0.15, 0.3}; 4 min")


def test_sweep_summary_follows_the_sweeps_order_not_the_landing_order(tmp_path):
    runs = tmp_path / "num_teachers_runs.csv"
    landed = [("model", "1", 0.1), ("model", "3", 0.3), ("none", "", 0.05), ("model", "2", 0.2),
              ("pop", "2", 0.25)]
    pd.DataFrame([{"model": "GRU4Rec", "dataset": "ml", "teacher": t, "seed": "1", "sweep_value": v,
                   "test_ndcg@10": x} for t, v, x in landed]).to_csv(runs, index=False)
    frame = sweep_summary(str(runs), "GRU4Rec", "ml", ["1", "2", "3"], "ndcg@10")
    assert frame[["method", "sweep_value"]].values.tolist() == [
        ["Base", ""], ["SoftRec", "2"], ["CSRec-M", "1"], ["CSRec-M", "2"], ["CSRec-M", "3"]]
    assert frame["mean"].tolist() == [0.05, 0.25, 0.1, 0.2, 0.3]


def test_sparsity_removes_users(tiny_yaml, tmp_path):
    out = str(tmp_path / "an")
    assert analyze(["sparsity", "--values", "0.5", "--teachers", "none", "--dataset", TINY_NAME,
                    "--seeds", "1", "--config_files", tiny_yaml, "--output", out]) == 0
    frame = _check(out, "sparsity")
    assert frame["sweep_value"].tolist() == [0.5]
    kept = pd.read_csv(os.path.join(out, "sparsity_data", "drop-0.5", TINY_NAME, f"{TINY_NAME}.inter"), sep="\t")
    assert kept["user_id:token"].nunique() == 20


def test_expectation_needs_training_teacher(tiny_yaml, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "an")
    args = ["expectation", "--dataset", TINY_NAME, "--seeds", "1", "--config_files", tiny_yaml, "--output", out]
    if "training" not in teacher_registry.TEACHERS:
        assert analyze(args) == 2
        assert "teacher 'training' is not registered" in capsys.readouterr().err
        # stand-in for CSRec-T so that the command itself is exercised
        monkeypatch.setitem(teacher_registry.TEACHERS, "training", teacher_registry.TEACHERS["none"])
        monkeypatch.setitem(names.METHOD_NAMES, "training", "CSRec-T")
    assert analyze(args) == 0
    frame = _check(out, "expectation")
    assert frame["sweep_value"].astype(str).tolist() == ["True", "False"]


def test_sparsity_on_pre_split_files(tmp_path):
    # built-in datasets come as <name>.train/valid/test.inter: a removed user leaves all three
    source = tmp_path / "src" / "split"
    source.mkdir(parents=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    for part, offset in (("train", 0), ("valid", 1), ("test", 2)):
        rows = "".join(f"u{u}\t1 2\t{u % 7 + offset}\n" for u in range(10))
        (source / f"split.{part}.inter").write_text(header + rows)
    write_manifest(str(source), "split", {"window": 3}, Stats(*range(10)))  # as a built-in has
    config = {"dataset": "split", "data_path": str(source), "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id",
              "benchmark_filename": ["train", "valid", "test"]}
    data_path, sparsity = drop_users_copy(config, 0.3, 0, str(tmp_path / "out"))
    kept = [set(pd.read_csv(os.path.join(data_path, "split", f"split.{part}.inter"), sep="\t")["user_id:token"])
            for part in ("train", "valid", "test")]
    assert len(kept[0]) == 7 and kept[0] == kept[1] == kept[2]
    # still a complete prepared dataset (so it is not rebuilt over), saying how it was derived
    manifest = read_manifest(os.path.join(data_path, "split"))
    assert manifest["params"] == {"window": 3} and manifest["derived"]["removed"] == 3
    assert 0.0 < sparsity < 1.0
    with pytest.raises(CSRecError, match="no nothing"):
        drop_users_copy({**config, "dataset": "nothing"}, 0.3, 0, str(tmp_path / "out2"))


def test_plots_without_matplotlib_name_the_extra(monkeypatch):
    import sys

    from run_scripts.reproduce.analyses import pyplot
    from recbole_csrec.errors import CSRecError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(CSRecError, match=r"pip install 'recbole-csrec\[plots\]'"):
        pyplot()
