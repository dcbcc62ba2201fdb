"""The converged reproduction's page sections: phase convergence and reuse, the student search,
and the bridge to the authors' protocol, on crafted files with known answers."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from run_scripts.reproduce.converged_sections import OURS, apportion_seed, variant_label
from run_scripts.reproduce.results_page import main as report_main, reading

CHOICE = "--beta=0.75 --temperature=6"
PAPER_GRU4REC_BASE = 16.683  # run_scripts/reproduce/paper_table2.csv


def _row(teacher: str, seed: int, recall: float, budget: str, phases: dict | None = None,
         dataset: str = "lastfm", overrides: str = CHOICE, machine: str = "m1") -> dict:
    return {"model": "GRU4Rec", "dataset": dataset, "teacher": teacher, "seed": seed,
            "test_recall@10": recall, "test_ndcg@10": recall / 2, "valid_ndcg@10": recall / 2,
            "seconds": 100.0, "epochs": 30, "best_epoch": 20, "phases": json.dumps(phases) if phases else "",
            "config_files": budget, "overrides": overrides, "machine": machine,
            "config_hash": f"h{len(overrides)}", "run_id": f"{teacher}-{seed}-{dataset}"}


@pytest.fixture
def files(tmp_path):
    budget = tmp_path / "budget.yaml"
    budget.write_text("epochs: 150\nstopping_step: 10\n")
    plain = {"best_epoch": 20, "epochs": 30, "seconds": 3600.0}
    main = [
        _row("none", 1, 0.10, str(budget), {"student": {**plain, "store_key": "k1", "reused": False}}),
        _row("model", 1, 0.11, str(budget), {
            "student": {**plain, "store_key": "k3", "reused": True, "trained_as": "CSRec-M student"},
            "teacher-2": {"best_epoch": 150, "epochs": 150, "seconds": 7200.0, "store_key": "k2", "reused": False},
            "teacher-1": {**plain, "store_key": "k1", "reused": True, "trained_as": "Base student"}},
            machine="m2"),
        # its config file is gone: the cap is unknown, not guessed
        _row("none", 2, 0.12, str(tmp_path / "gone.yaml"), {"student": {**plain, "store_key": "k4"}}),
    ]
    main_csv = tmp_path / "lastfm.csv"
    pd.DataFrame(main).to_csv(main_csv, index=False)
    authors = f"--preset=paper {CHOICE}"  # lastfm's own preset: not a change
    bridge = [
        _row("none", 1, 0.12, str(budget), dataset="lastfm", overrides=f"--mask_input_items=True {CHOICE}"),
        _row("none", 1, 0.14, str(budget), dataset="lastfm_authors", overrides=authors),
        _row("none", 1, 0.155, str(budget), dataset="lastfm_authors", overrides=f"{authors} --mask_input_items=True"),
        _row("none", 2, 0.17, str(budget), dataset="lastfm_authors", overrides=f"{authors} --mask_input_items=True"),
        _row("model", 1, 0.18, str(budget), dataset="lastfm_authors", overrides=f"{authors} --mask_input_items=True"),
        _row("none", 1, 0.15, str(budget), dataset="lastfm_authors",
             overrides=f"{authors} --mask_input_items=True --train_batch_size=64"),
    ]
    bridge_csv = tmp_path / "bridge.csv"
    pd.DataFrame(bridge).to_csv(bridge_csv, index=False)
    hyper = tmp_path / "hyper" / "GRU4Rec"
    hyper.mkdir(parents=True)
    (hyper / "best_config.yaml").write_text("# best of 2\nteacher: model\nseed: 2020\nbeta: 0.75\n"
                                            "temperature: 6\nteacher_store: /somewhere\n")
    pd.DataFrame([{"trial": "t8", "beta": 0.75, "temperature": 6, "valid ndcg@10": 0.0749, "best_epoch": 36,
                   "epochs": 48, "weights": "/w8", "ndcg@10": 0.0749, "status": "ok"},
                  {"trial": "t0", "beta": 0.25, "temperature": 1, "valid ndcg@10": 0.0701, "best_epoch": 12,
                   "epochs": 22, "weights": "/w0", "ndcg@10": 0.0701, "status": "ok"}]).to_csv(
        hyper / "trials.csv", index=False)
    (hyper / "summary.txt").write_text("best of 2 trials: beta=0.75 temperature=6\n")
    return {"main": str(main_csv), "bridge": str(bridge_csv), "hyper": str(tmp_path / "hyper"),
            "out": tmp_path / "results.md", "tmp": tmp_path}


def _page(files, *extra, results=None) -> str:
    argv = ["--results", results or files["main"], "--analyses", "--output", str(files["out"]), *extra]
    assert report_main(argv) == 0
    return files["out"].read_text()


def test_phase_table_marks_the_cap_and_counts_reuse(files):
    text = _page(files)
    # phases in training order, rows in method order then seed
    assert "| method | seed | teacher-1 | teacher-2 | student |" in text
    assert "| Base | 1 |  |  | 20/30 |\n| Base | 2 |  |  | 20/30 |\n| CSRec-M | 1 |" in text
    assert "| 20/30 reused (Base student) | 150/150 (cap) | 20/30 reused (CSRec-M student) |" in text
    # k1 trained once (Base seed 1) and loaded by CSRec-M; k2, k4 trained; k3 loaded, trained elsewhere
    assert "5 phases in 3 runs: 3 distinct models trained, 2 phases loaded from the teacher store" in text
    assert "(1 of the loaded models were trained by none of these runs" in text
    # reused phases excluded: 1 h + 1 h (Base, m1) and 2 h (teacher-2, m2)
    assert "4.00 h of training (trained phases only; 2.00 h on `m1`, 2.00 h on `m2`)" in text
    assert "Epoch cap 150 (unknown for 1 runs" in text
    assert "phases that hit it: GRU4Rec CSRec-M seed 1 teacher-2." in text


def test_no_phase_hits_the_cap_is_said(files, tmp_path):
    frame = pd.read_csv(files["main"], keep_default_na=False)
    frame = frame[frame["teacher"] == "none"]  # drops the capped teacher-2
    frame.to_csv(tmp_path / "uncapped.csv", index=False)
    assert "phases that hit it: none." in _page(files, results=str(tmp_path / "uncapped.csv"))


def test_results_before_the_phases_column_have_no_phase_section(files, tmp_path):
    frame = pd.read_csv(files["main"], keep_default_na=False).drop(columns="phases")
    frame.to_csv(tmp_path / "old.csv", index=False)
    text = _page(files, results=str(tmp_path / "old.csv"))
    assert "## What ran" in text and "## Phases" not in text
    assert "## Student beta/T search" not in text and "## Bridge" not in text


def test_bad_phases_cell_is_one_line_exit_2(files, tmp_path, capsys):
    frame = pd.read_csv(files["main"], keep_default_na=False)
    frame.loc[0, "phases"] = "{not json"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    argv = ["--results", str(tmp_path / "bad.csv"), "--analyses", "--output", str(files["out"])]
    assert report_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "`phases` is not JSON" in err and "seed 1" in err


def test_search_section_shows_the_kept_point(files):
    text = _page(files, "--hyper", files["hyper"])
    assert "**GRU4Rec**: kept beta 0.75, temperature 6. Chosen on validation only (best valid ndcg@10 of " \
           "CSRec-M, seed 2020, 2 trials; the test set played no part in the choice), then kept for every " \
           "method and seed of GRU4Rec." in text
    assert "| beta | temperature | valid ndcg@10 | best_epoch | epochs | status | kept |" in text
    assert "| 0.7500 | 6 | 0.0749 | 36 | 48 | ok | yes |" in text
    assert "| 0.2500 | 1 | 0.0701 | 12 | 22 | ok |  |" in text
    assert "`best of 2 trials: beta=0.75 temperature=6`" in text


def test_search_not_finished_and_trials_md_only(files):
    hyper = files["tmp"] / "hyper"
    (hyper / "GRU4Rec" / "best_config.yaml").unlink()  # search still running: trials so far
    (hyper / "NARM").mkdir()
    (hyper / "NARM" / "trials.md").write_text("| rank | beta |\n|---|---|\n| 1 | 0.5 |\n")
    (hyper / "SASRec").mkdir()
    (hyper / "notes.txt").write_text("not a model")
    text = _page(files, "--hyper", str(hyper))
    assert "**GRU4Rec**: search not finished (no `best_config.yaml`): no point kept yet." in text
    assert "| 0.7500 | 6 | 0.0749 | 36 | 48 | ok |" in text and "| yes |" not in text
    assert "**NARM**: search not finished" in text and "| 1 | 0.5 |" in text
    assert "**SASRec**: (not run yet)" in text and "notes.txt" not in text


def test_bridge_table_gap_apportioning_and_target(files):
    text = _page(files, "--bridge", files["bridge"])
    assert "**GRU4Rec** (the paper's Recall@10: Base 16.683%, CSRec-M 18.165%)" in text
    # our protocol: Base seeds 1 and 2 (10, 12); both options: Base seeds 1 and 2 (15.5, 17)
    assert f"| {OURS} | 11.00 ± 1.41 | 5.50 ± 0.71 | 2 | {PAPER_GRU4REC_BASE - 11:.2f} |" in text
    assert f"| windows authors, evaluation masked | 16.25 ± 1.06 | 8.12 ± 0.53 | 2 | " \
           f"{PAPER_GRU4REC_BASE - 16.25:.2f} | 18.00 | 9.00 | 1 |" in text
    # apportioning on seed 1 (the seed with every variant), from 10.00
    gap = PAPER_GRU4REC_BASE - 10.0
    assert f"**GRU4Rec Base, seed 1: what each change closes** of the {gap:.2f}-point gap" in text
    assert f"| {OURS} | 10.00 | 0.00 | 0.00 |" in text
    assert f"| windows ours, evaluation masked | 12.00 | 2.00 | {100 * 2 / gap:.2f} |" in text
    assert f"| windows authors, evaluation ours | 14.00 | 4.00 | {100 * 4 / gap:.2f} |" in text
    assert f"| windows authors, evaluation masked | 15.50 | 5.50 | {100 * 5.5 / gap:.2f} |" in text
    assert f"| windows authors, evaluation masked, --train_batch_size=64 | 15.00 | 5.00 | {100 * 5 / gap:.2f} |" in text
    assert "2.00 (evaluation) + 4.00 (windows) = 6.00 points; both together 5.50 (interaction -0.50)" in text
    assert "--preset" not in text.split("## Bridge")[1].split("##")[0]  # lastfm's own preset: no variant
    assert "- GRU4Rec Base with both options: 16.25% over 2 seed(s) against the paper's 16.683%: within 1 " \
           "point (gap +0.43): target met." in text
    assert "- GRU4Rec Base with windows authors, evaluation masked, --train_batch_size=64: 15.00% over 1 " \
           "seed(s) against the paper's 16.683%: not within 1 point (gap +1.68): target not met." in text


def _bridge_part(page: str) -> str:
    return page.split("## Bridge")[1].split("\n## ")[0]


def test_bridged_softrec_sits_beside_its_main_runs(files):
    main = pd.read_csv(files["main"], keep_default_na=False)
    softrec = _row("pop", 1, 0.115, main.loc[0, "config_files"])
    pd.concat([main, pd.DataFrame([softrec])]).to_csv(files["main"], index=False)
    assert "SoftRec" not in _bridge_part(_page(files, "--bridge", files["bridge"]))  # not bridged yet
    bridge = pd.read_csv(files["bridge"], keep_default_na=False)
    authors = f"--preset=paper {CHOICE} --mask_input_items=True"
    bridged = _row("pop", 1, 0.16, softrec["config_files"], dataset="lastfm_authors", overrides=authors)
    pd.concat([bridge, pd.DataFrame([bridged])]).to_csv(files["bridge"], index=False)
    section = _bridge_part(_page(files, "--bridge", files["bridge"]))
    assert "(the paper's Recall@10: Base 16.683%, SoftRec " in section
    assert "| variant | Base Recall@10 (%) |" in section and "| SoftRec Recall@10 (%) | SoftRec NDCG@10 (%) |" in section
    # our protocol and both options: Base seeds 1-2, SoftRec seed 1 (11.5, then 16), CSRec-M seed 1
    assert "| 11.00 ± 1.41 | 5.50 ± 0.71 | 2 |" in section and "| 11.50 | 5.75 | 1 |" in section
    assert "| 16.00 | 8.00 | 1 |" in section


def test_target_missed_is_said(files):
    frame = pd.read_csv(files["bridge"], keep_default_na=False)
    frame.loc[[2, 3], "test_recall@10"] = [0.13, 0.14]
    frame.to_csv(files["bridge"], index=False)
    text = _page(files, "--bridge", files["bridge"])
    assert "Base with both options: 13.50% over 2 seed(s) against the paper's 16.683%: not within 1 point " \
           "(gap +3.18): target not met." in text


def test_bridge_without_both_options_says_so(files):
    frame = pd.read_csv(files["bridge"], keep_default_na=False).iloc[:1]  # evaluation alone, seed 1
    frame.to_csv(files["bridge"], index=False)
    text = _page(files, "--bridge", files["bridge"])
    assert "- GRU4Rec Base with both options: (not run yet) (the paper: 16.683%)." in text
    assert "The two changes alone and together are not all run yet" in text


def test_apportioning_seed_needs_our_protocol():
    rows = pd.DataFrame({"model": "GRU4Rec", "method": "Base", "seed": [0, 0, 0, 3, 3],
                         "variant": ["a", "b", "c", OURS, "a"]})
    assert apportion_seed(rows, "GRU4Rec") == 3  # seed 0 has more variants but no run of ours
    assert apportion_seed(rows[rows["seed"] == 0], "GRU4Rec") is None


def test_variant_label_names_other_settings_verbatim():
    baseline = {"preset": "paper", "beta": "0.75"}
    row = lambda dataset, overrides: pd.Series({"dataset": dataset, "overrides": overrides})  # noqa: E731
    assert variant_label(row("lastfm_authors", "--preset=paper --beta=0.75"), baseline) == \
        "windows authors, evaluation ours"
    assert variant_label(row("lastfm", "--mask_input_items=True --preset=none --beta=0.5"), baseline) == \
        "windows ours, evaluation masked, --beta=0.5 --preset=none"


def test_missing_inputs_render_as_not_run(files, tmp_path):
    text = _page(files, "--hyper", str(tmp_path / "nothing"), "--bridge", str(tmp_path / "none.csv"))
    assert "## Student beta/T search\n\n(not run yet)" in text
    assert "## Bridge to the paper's numbers: the authors' protocol\n\n(not run yet)" in text


def test_analyses_not_run_are_named_per_folder(files, tmp_path):
    some = tmp_path / "analyses"
    some.mkdir()
    pd.DataFrame([{"dataset": "lastfm", "model": "GRU4Rec", "method": "Base", "group": "niche",
                   "metric": "ndcg@10", "value": 0.02}]).to_csv(some / "popularity.csv", index=False)
    (some / "popularity.png").write_bytes(b"png")
    (some / "length.csv").write_text("only the csv: not a finished analysis\n")
    sweeps = tmp_path / "GRU4Rec"  # a model's sweeps; its per-user analyses live in `some`
    sweeps.mkdir()
    pd.DataFrame([{"dataset": "lastfm", "model": "GRU4Rec", "method": "CSRec-M", "sweep_value": "1",
                   "metric": "ndcg@10", "mean": 0.05}]).to_csv(sweeps / "num_teachers.csv", index=False)
    (sweeps / "num_teachers.png").write_bytes(b"png")
    argv = ["--results", files["main"], "--analyses", str(some), str(sweeps), str(tmp_path / "absent"),
            "--output", str(files["out"])]
    assert report_main(argv) == 0
    section = files["out"].read_text().split("## Analyses\n\n")[1]
    assert f"### popularity ({some})" in section and "### length" not in section
    assert f"- `{some}`: not run yet: length\n" in section
    assert f"- `{sweeps}`: not run yet: length, sparsity, sample_ratio, expectation\n" in section
    assert f"- `{tmp_path / 'absent'}`: no analysis outputs yet" in section


def test_bad_search_and_bridge_paths_are_one_line_exit_2(files, capsys):
    (files["tmp"] / "hyper" / "GRU4Rec" / "best_config.yaml").write_text("beta: [0.75\n")
    for extra, message in ((["--hyper", files["hyper"]], "is not valid YAML"),
                           (["--hyper", files["bridge"]], "--hyper"),
                           (["--bridge", files["hyper"]], "--bridge")):
        argv = ["--results", files["main"], "--analyses", "--output", str(files["out"]), *extra]
        assert report_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err


def test_reading_names_methods_better_and_worse_than_the_references():
    def method(name: str, mean: float, p_base: float, p_softrec: float) -> dict:
        return {"dataset": "lastfm", "model": "GRU4Rec", "metric": "ndcg@10", "method": name, "mean": mean,
                "n": 3, "mean_Base": 0.050, "p_users_vs_Base": p_base,
                "mean_SoftRec": 0.060, "p_users_vs_SoftRec": p_softrec}
    summary = pd.DataFrame([method("Base", 0.050, float("nan"), 0.001), method("SoftRec", 0.060, 0.001, float("nan")),
                            method("CSRec-M", 0.055, 0.01, 0.02), method("CSRec-D", 0.058, 0.2, 0.3),
                            method("CSRec-T", 0.065, 0.001, 0.04)])
    line = reading(summary)
    assert line == ("- GRU4Rec on lastfm, NG@10: best CSRec-T (6.500%, 3 seeds); better than Base at p<0.05 over "
                    "users: SoftRec, CSRec-M, CSRec-T; better than SoftRec: CSRec-T; "
                    "worse than SoftRec: Base, CSRec-M.")


def test_reading_says_seed_for_a_single_seed():
    summary = pd.DataFrame([{"dataset": "lastfm", "model": "SASRec", "metric": "ndcg@10", "method": "CSRec-M",
                             "mean": 0.07, "n": 1, "mean_Base": float("nan"), "p_users_vs_Base": float("nan"),
                             "mean_SoftRec": float("nan"), "p_users_vs_SoftRec": float("nan")}])
    assert "(7.000%, 1 seed);" in reading(summary)


def test_paper_rows_follow_the_datasets_of_the_results(files, tmp_path):
    """The paper's Table 2 holds Last.FM and Yelp: each page shows the rows of its own datasets,
    and the relative change over Base is taken against the same dataset's paper Base."""
    from run_scripts.reproduce.results_page import paper_table

    paper = paper_table()
    assert not paper.duplicated(["dataset", "model", "method", "metric"]).any()
    assert {"lastfm", "yelp"} <= set(paper["dataset"])
    yelp = pd.read_csv(files["main"]).assign(dataset="yelp")
    yelp_csv = tmp_path / "yelp.csv"
    yelp.to_csv(yelp_csv, index=False)
    text = _page(files, results=str(yelp_csv))
    paper_section = text.split("## The paper's Table 2")[1].split("\n## ")[0]
    assert "5.812" in paper_section and "16.683" not in paper_section  # yelp's GRU4Rec Base only
    assert report_main(["--results", files["main"], str(yelp_csv), "--analyses", "--output", str(files["out"])]) == 0
    paper_section = files["out"].read_text().split("## The paper's Table 2")[1].split("\n## ")[0]
    assert "5.812" in paper_section and "16.683" in paper_section


def test_phase_tables_are_per_dataset_when_there_are_several(files, tmp_path):
    yelp_csv = tmp_path / "yelp.csv"
    pd.read_csv(files["main"]).assign(dataset="yelp").to_csv(yelp_csv, index=False)
    assert "**GRU4Rec**\n" in _page(files)  # one dataset: named by the model alone
    assert report_main(["--results", files["main"], str(yelp_csv), "--analyses", "--output", str(files["out"])]) == 0
    text = files["out"].read_text()
    assert "**GRU4Rec on lastfm**" in text and "**GRU4Rec on yelp**" in text


def test_yelp_bridge_beside_lastfms_each_against_its_own_paper_rows(files):
    """Two bridge CSVs, two datasets: a subsection each, each gap against its dataset's paper
    value; a Base row run without beta/T (as the Yelp table's Base rows) shows no extra setting."""
    budget = pd.read_csv(files["main"], keep_default_na=False).loc[0, "config_files"]
    yelp_main = files["tmp"] / "yelp.csv"
    pd.DataFrame([_row("none", 1, 0.05, budget, dataset="yelp", overrides=""),
                  _row("model", 1, 0.05523, budget, dataset="yelp", overrides=CHOICE)]).to_csv(yelp_main, index=False)
    yelp_bridge = files["tmp"] / "yelp_bridge.csv"
    pd.DataFrame([_row("none", 1, 0.08, budget, dataset="yelp_authors", overrides="--mask_input_items=True"),
                  _row("model", 1, 0.085, budget, dataset="yelp_authors",
                       overrides=f"--mask_input_items=True {CHOICE}")]).to_csv(yelp_bridge, index=False)
    argv = ["--results", files["main"], str(yelp_main), "--analyses", "--output", str(files["out"]),
            "--bridge", files["bridge"], str(yelp_bridge)]
    assert report_main(argv) == 0
    section = _bridge_part(files["out"].read_text())
    lastfm, yelp = section.split("### lastfm")[1].split("### yelp")
    assert "(the paper's Recall@10: Base 16.683%, CSRec-M 18.165%)" in lastfm
    assert "(the paper's Recall@10: Base 5.812%, CSRec-M 6.405%)" in yelp
    # Yelp's Base and CSRec-M alike: only the two options differ from their own main rows
    assert f"| {OURS} | 5.00 | 2.50 | 1 | {5.812 - 5:.2f} | 5.52 | 2.76 | 1 | 0.88 |" in yelp
    assert f"| windows authors, evaluation masked | 8.00 | 4.00 | 1 | {5.812 - 8:.2f} | 8.50 | 4.25 | 1 |" in yelp
    assert "--beta" not in yelp and "16.683" not in yelp
    assert "- GRU4Rec Base with both options: 8.00% over 1 seed(s) against the paper's 5.812%: not within " \
           "1 point (gap -2.19): target not met." in yelp
