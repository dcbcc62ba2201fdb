"""Hyperparameter search: search-space errors, a 2-trial local search, a multi-process cluster."""
from __future__ import annotations

import csv
import json
import os

import pytest
import yaml

from recbole_csrec import CSRecError
from recbole_csrec.quick_start import build_configs, run_recbole_csrec
from recbole_csrec.tune import load_search_space, parse_search_space, run_hyper_csrec
from recbole_csrec.tune.cli import main as hyper_main
from recbole_csrec.tune.space import check_space
from tests.conftest import TINY_NAME, fast_config

WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _space_file(tmp_path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


def test_paper_grid_ships_and_parses():
    space = load_search_space("properties/hyper/paper_grid.yaml")
    assert space.grid == {"alpha": [0.25, 0.5, 0.75], "beta": [0.25, 0.5, 0.75],
                          "temperature": [1, 3, 6, 9]}
    assert space.num_trials() == 36


def test_grid_and_sampled_entries():
    space = parse_search_space({"beta": [0.25, 0.5], "learning_rate": {"type": "loguniform", "low": 1e-4,
                                "high": 1e-2}, "ensemble": {"type": "choice", "values": ["logits", "probs"]}})
    assert space.grid == {"beta": [0.25, 0.5]}
    assert space.sampled["learning_rate"] == {"type": "loguniform", "low": 1e-4, "high": 1e-2}
    assert ("ensemble", "probs") in space.values_to_check()


@pytest.mark.parametrize("text, message", [
    ("[0.25, 0.5]", "expected a mapping"),
    ("beta: 0.5", "neither a list"),
    ("beta: []", "non-empty list"),
    ("beta: {type: normal, mean: 0}", "type 'normal'"),
    ("beta: {type: uniform, low: 0.1, hi: 0.9}", "unknown: hi; missing: high"),
    ("beta: {type: uniform, low: 0.9, high: 0.1}", "low < high"),
    ("learning_rate: {type: loguniform, low: 0, high: 0.1}", "low > 0"),
    ("ensemble: {type: choice, values: []}", "non-empty list"),
    ("model: [GRU4Rec, NARM]", "give it with --model"),
    ("beta: [0.25\n  temperature: 3", "not valid yaml"),
])
def test_bad_space_files(tmp_path, text, message):
    with pytest.raises(CSRecError, match=message):
        load_search_space(_space_file(tmp_path, text))


def test_missing_space_file():
    with pytest.raises(CSRecError, match="does not exist"):
        load_search_space("no/such/space.yaml")


def test_unknown_keys_bad_values_and_teacher_specific_keys(tiny_data):
    config, _ = build_configs("GRU4Rec", TINY_NAME, "model", None, fast_config(tiny_data))
    known = set(config.final_config_dict)
    with pytest.raises(CSRecError, match="unknown config key.*betta"):
        check_space(parse_search_space({"betta": [0.5]}), known, "model")

    def check_value(key, value):
        build_configs("GRU4Rec", TINY_NAME, "model", None, fast_config(tiny_data, **{key: value}))

    with pytest.raises(CSRecError, match=r"beta=1.5: beta=1.5 is outside \[0, 1\]"):
        check_space(parse_search_space({"beta": [0.5, 1.5]}), known, "model", check_value)
    # alpha acts on the CSRec-T main teacher only: dropped for CSRec-M, not an error.
    space = parse_search_space({"alpha": [0.25, 0.5], "beta": [0.5]})
    assert check_space(space, known | {"alpha"}, "model") == ["alpha"]
    assert space.keys == ["beta"]


def test_cli_errors_before_ray_starts(tiny_data, tmp_path, capsys):
    space = _space_file(tmp_path, "betta: [0.5]\n")
    code = hyper_main(["--model=GRU4Rec", f"--dataset={TINY_NAME}", "--teacher=model",
                       f"--params_file={space}", f"--data_path={tiny_data}", "--preset=paper"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [err[0]] and err[0].startswith("run_hyper_csrec: error: ") and "betta" in err[0]
    code = hyper_main(["--dataset=tiny", f"--params_file={space}", "--scheduler=hyperband"])
    assert code == 2 and "hyperband" in capsys.readouterr().err


def _fixed(data_path: str, **overrides) -> dict:
    fixed = fast_config(data_path, **{"epochs": 2, "num_teachers": 1, **overrides})
    fixed.pop("checkpoint_dir")
    return fixed


def test_two_trial_search_picks_by_validation(tiny_data, tmp_path):
    space = _space_file(tmp_path, "beta: [0.25, 0.75]\n")
    out = tmp_path / "out"
    result = run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=space,
                             fixed=_fixed(tiny_data), output=str(out), num_cpus=2)
    rows = result["rows"]
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)
    assert rows[0]["valid_score"] >= rows[1]["valid_score"]
    assert result["best_params"] == {"beta": rows[0]["beta"]}
    assert result["best_valid_score"] == max(row["valid_score"] for row in rows)
    assert all(row["epochs"] == 2 for row in rows)  # reported every student epoch
    assert "ndcg@10" in result["test_result"] and all("test" not in key for row in rows for key in row)
    # Both trials needed the same teacher: it was trained once, its soft labels cached once.
    store = out / "teacher_store"
    entries = [json.load(open(store / n / "manifest.json"))["trained_as"]
               for n in os.listdir(store) if not n.startswith(".") and n != "soft_labels"]
    assert sorted(entries) == ["CSRec-M student", "CSRec-M student", "CSRec-M teacher-1"]
    assert len(os.listdir(store / "soft_labels")) == 1
    with open(out / "trials.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["beta"]) for r in table] == [row["beta"] for row in rows]
    assert "valid ndcg@10" in table[0]
    assert (out / "trials.md").read_text().count("\n") == 4
    assert os.path.isdir(out / "ray")
    assert result["summary"] in (out / "summary.txt").read_text()
    # The best config is usable with --config_files.
    config, _ = build_configs("GRU4Rec", TINY_NAME, None, [result["best_config"]], None)
    assert config["beta"] == rows[0]["beta"] and config["teacher"] == "model"
    assert yaml.safe_load(open(result["best_config"]))["teacher_store"] == str(store)
    # A run at the chosen point is the chosen trial's model: its student is loaded, not trained.
    rerun = run_recbole_csrec(model="GRU4Rec", dataset=TINY_NAME, config_file_list=[result["best_config"]],
                              config_dict=_fixed(tiny_data))
    student = rerun["phases"]["student"]
    assert student["reused"] and student["trained_as"] == "CSRec-M student"
    assert rerun["best_valid_result"]["ndcg@10"] == pytest.approx(result["best_valid_score"])
    assert rerun["test_result"] == result["test_result"]


@pytest.mark.ray_cluster
def test_search_on_a_local_multi_process_cluster(tiny_data, tmp_path, monkeypatch):
    """Starts a 2-node Ray cluster in separate processes and connects with `address`, as
    --address does; one trial fails (a GRU with 0 layers: torch refuses it when the trial builds
    the model; values the config checks catch stop the search before Ray) and the other finishes."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("PYTHONPATH", WORKTREE)  # the cluster's workers import this checkout
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        space = _space_file(tmp_path, "num_layers: [1, 0]\n")
        result = run_hyper_csrec(model="GRU4Rec", dataset=TINY_NAME, teacher="model", params_file=space,
                                 fixed=_fixed(tiny_data, epochs=1), output=str(tmp_path / "out"),
                                 address=cluster.address)
    finally:
        cluster.shutdown()
    status = {row["num_layers"]: row for row in result["rows"]}
    assert status[1]["status"] == "ok" and status[0]["status"] == "error"
    assert status[0]["error"]
    assert result["failed"] == 1 and result["best_params"] == {"num_layers": 1}


def test_cli_passes_ray_resource_caps(monkeypatch, tmp_path):
    """--num_cpus and --max_concurrent_trials reach the search (a one-core search beside other work)."""
    from recbole_csrec.tune import runner

    seen = {}

    def fake_search(**kwargs):
        seen.update(kwargs)
        return {"summary": "ok"}

    monkeypatch.setattr(runner, "run_hyper_csrec", fake_search)
    assert hyper_main(["--params_file", "space.yaml", "--num_cpus", "1", "--max_concurrent_trials", "1"]) == 0
    assert seen["num_cpus"] == 1 and seen["max_concurrent_trials"] == 1
