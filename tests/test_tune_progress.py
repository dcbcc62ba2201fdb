"""tune/progress.py: the trial tables rewritten as each trial finishes, from the trials' own
reports (stand-in Ray trials here; test_tune_carried.py runs it inside a real search)."""
from __future__ import annotations

import csv
from types import SimpleNamespace

import pandas as pd
import torch

from recbole_csrec.tune.progress import FinishedTrialsTable
from recbole_csrec.tune.space import SearchSpace
from recbole_csrec.tune.trials import trial_row


def _report(callback, trial, epoch: int, score: float) -> None:
    callback.on_trial_result(0, [], trial, {"valid_score": score, "epoch": epoch, "weights": f"w{epoch}",
                                            "ndcg@10": score, "time_total_s": 1.0})


def test_each_finished_trial_rewrites_the_table_beside_the_carried_rows(tmp_path):
    space = SearchSpace(grid={"beta": [0.25, 0.5, 0.75]})
    carried = [{"trial": "old", "beta": 0.25, "valid_score": 0.30, "best_epoch": 3, "epochs": 5,
                "weights": "", "status": "ok", "error": "", "carried": "yes"}]
    callback = FinishedTrialsTable(str(tmp_path), space, True, "NDCG@10", carried)
    first = SimpleNamespace(trial_id="a", config={"_grid_point": {"beta": 0.5}}, local_path="/x/trial_a")
    second = SimpleNamespace(trial_id="b", config={"_grid_point": {"beta": 0.75}}, local_path="/x/trial_b")
    for epoch, score in enumerate([0.10, 0.40, 0.20]):
        _report(callback, first, epoch, score)
    _report(callback, second, 0, 0.05)
    callback.on_trial_result(0, [], first, {"valid_score": 0.20, "epoch": 2, "weights": "w2", "done": True})
    assert not (tmp_path / "trials.csv").exists()  # nothing finished yet
    callback.on_trial_complete(0, [], first)
    with open(tmp_path / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    # best first; the finished trial's best epoch (1), its epochs counted once (Ray's closing
    # result repeats the last); the unfinished one is not in the table yet
    assert [(r["trial"], r["beta"], r["best_epoch"], r["epochs"], r["weights"]) for r in rows] == \
        [("trial_a", "0.5", "1", "3", "w1"), ("old", "0.25", "3", "5", "")]
    assert float(rows[0]["valid ndcg@10"]) == 0.40 and float(rows[0]["ndcg@10"]) == 0.40
    assert rows[0]["machine"].endswith(f"torch {torch.__version__}") and rows[1]["machine"] == ""  # carried
    assert "| rank |" in (tmp_path / "trials.md").read_text()


def test_a_tied_best_score_reports_the_later_epoch_whose_weights_were_kept():
    # RecBole's early stopping treats a tie as an improvement (it saves the later epoch), so the
    # trial's weights are from epoch 3 here, not epoch 1
    space = SearchSpace(grid={"beta": [0.5]})
    frame = pd.DataFrame({"valid_score": [0.10, 0.40, 0.20, 0.40, 0.30], "epoch": range(5),
                          "weights": [f"w{epoch}" for epoch in range(5)]})
    row = trial_row("t", {"beta": 0.5}, frame, space, bigger=True, status="ok")
    assert (row["best_epoch"], row["weights"], row["epochs"]) == (3, "w3", 5)
    smaller = trial_row("t", {"beta": 0.5}, frame.assign(valid_score=[0.3, 0.1, 0.2, 0.1, 0.4]),
                        space, bigger=False, status="ok")
    assert (smaller["best_epoch"], smaller["weights"]) == (3, "w3")
