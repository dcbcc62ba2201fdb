"""The converged reproduction's page sections: phase convergence and reuse, the student search,
and the bridge to the authors' protocol, on crafted files with known answers."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from recbole_csrec.benchmark.results_page import main as report_main

CHOICE = "--beta=0.75 --temperature=6"


def _phases(**phases) -> str:
    return json.dumps(phases)


def _row(teacher: str, seed: int, recall: float, budget: str, phases: str = "", dataset: str = "lastfm",
         overrides: str = CHOICE) -> dict:
    return {"model": "GRU4Rec", "dataset": dataset, "teacher": teacher, "seed": seed,
            "test_recall@10": recall, "test_ndcg@10": recall / 2, "valid_ndcg@10": recall / 2,
            "seconds": 100.0, "epochs": 30, "best_epoch": 20, "phases": phases, "config_files": budget,
            "overrides": overrides, "config_hash": f"h{len(overrides)}", "run_id": f"{teacher}-{seed}-{dataset}"}


@pytest.fixture
def files(tmp_path):
    budget = tmp_path / "budget.yaml"
    budget.write_text("epochs: 150\nstopping_step: 10\n")
    plain = {"best_epoch": 20, "epochs": 30, "seconds": 3600.0}
    main = [
        _row("none", 1, 0.10, str(budget), _phases(student={**plain, "store_key": "k1", "reused": False})),
        _row("model", 1, 0.11, str(budget), _phases(
            **{"teacher-1": {**plain, "store_key": "k1", "reused": True, "trained_as": "Base student"},
               "teacher-2": {"best_epoch": 150, "epochs": 150, "seconds": 7200.0, "store_key": "k2", "reused": False},
               "student": {**plain, "store_key": "k3", "reused": True, "trained_as": "CSRec-M student"}})),
    ]
    main_csv = tmp_path / "lastfm.csv"
    pd.DataFrame(main).to_csv(main_csv, index=False)
    bridge = [
        _row("none", 1, 0.12, str(budget), dataset="lastfm", overrides=f"--mask_input_items=True {CHOICE}"),
        _row("none", 1, 0.14, str(budget), dataset="lastfm_authors", overrides=f"--preset=paper {CHOICE}"),
        _row("none", 1, 0.16, str(budget), dataset="lastfm_authors",
             overrides=f"--preset=paper --mask_input_items=True {CHOICE}"),
        _row("none", 1, 0.15, str(budget), dataset="lastfm_authors",
             overrides=f"--preset=paper --mask_input_items=True --train_batch_size=64 {CHOICE}"),
    ]
    bridge_csv = tmp_path / "bridge.csv"
    pd.DataFrame(bridge).to_csv(bridge_csv, index=False)
    hyper = tmp_path / "hyper" / "GRU4Rec"
    hyper.mkdir(parents=True)
    (hyper / "best_config.yaml").write_text("teacher: model\nseed: 2020\nbeta: 0.75\ntemperature: 6\n")
    (hyper / "trials.md").write_text("| rank | beta | temperature | valid ndcg@10 |\n|---|---|---|---|\n"
                                     "| 1 | 0.75 | 6 | 0.0749 |\n| 2 | 0.25 | 1 | 0.0701 |\n")
    (hyper / "summary.txt").write_text("best of 2 trials: beta=0.75 temperature=6\n")
    return {"main": str(main_csv), "bridge": str(bridge_csv), "hyper": str(tmp_path / "hyper"),
            "out": tmp_path / "results.md"}


def _page(files, *extra) -> str:
    argv = ["--results", files["main"], "--analyses", "--output", str(files["out"]), *extra]
    assert report_main(argv) == 0
    return files["out"].read_text()


def test_phase_table_marks_the_cap_and_counts_reuse(files):
    text = _page(files)
    assert "| Base | 1 | 20/30 |" in text
    assert "20/30 reused (Base student)" in text and "150/150 (cap)" in text
    # k1 trained once (Base), loaded by CSRec-M; k2 trained; k3 loaded, trained by the search
    assert "4 phases in 2 runs: 2 distinct models trained, 2 phases loaded" in text
    assert "1 of the models loaded were trained outside these runs" in text
    assert "3.00 h of training" in text  # 1 h (Base) + 2 h (teacher-2); reused phases excluded
    assert "hit the epoch cap: GRU4Rec CSRec-M seed 1 teacher-2." in text


def test_search_section_shows_the_kept_point(files):
    text = _page(files, "--hyper", files["hyper"])
    assert "**GRU4Rec**: kept beta 0.75, T 6" in text and "| 2 | 0.25 | 1 | 0.0701 |" in text
    assert "the test set played no part" in text


def test_bridge_gap_apportioning_and_target(files):
    text = _page(files, "--bridge", files["bridge"])
    gap = 16.683 - 10.0
    # each change's points, and its share of the gap between our protocol and the paper
    assert f"| windows ours, evaluation masked | 12.00 | 2.00 | {100 * 2 / gap:.2f} |" in text
    assert f"| windows authors, evaluation ours | 14.00 | 4.00 | {100 * 4 / gap:.2f} |" in text
    assert f"| windows authors, evaluation masked | 16.00 | 6.00 | {100 * 6 / gap:.2f} |" in text
    assert "windows authors, evaluation masked, --train_batch_size=64" in text  # other settings named
    assert "16.00% over 1 seed(s) against the paper's 16.683%: within 1 point (gap +0.68)" in text


def test_target_missed_is_said(files, tmp_path):
    frame = pd.read_csv(files["bridge"])
    frame.loc[2, "test_recall@10"] = 0.13
    frame.to_csv(files["bridge"], index=False)
    assert "not within 1 point (gap +3.68)" in _page(files, "--bridge", files["bridge"])


def test_missing_inputs_render_as_not_run(files, tmp_path):
    text = _page(files, "--hyper", str(tmp_path / "nothing"), "--bridge", str(tmp_path / "none.csv"))
    assert text.count("(not run yet)") == 2
