"""The trials table: one row per trial from Ray's results (its best validation epoch), best
first, written as trials.csv and trials.md."""
from __future__ import annotations

import csv
import math
import os
from typing import Any

from recbole_csrec.atomic import atomic_file, write_atomic
from recbole_csrec.benchmark.results import machine_description
from recbole_csrec.tune.carried import point_params
from recbole_csrec.tune.space import SearchSpace


def _latest_report_per_epoch(frame):
    """A trial restarted by --resume goes on from its last validated epoch (its student's resume
    state in the teacher store; from scratch without the store), and Ray appends the new attempt's
    epochs to the cut-off one's: keep each epoch's latest report, in epoch order."""
    if frame is None or "epoch" not in frame or not len(frame):
        return frame
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch", kind="stable")


def _trial_configs(results) -> list[dict[str, Any]]:
    """Each trial's config (its sampled parameters), in the results' order. `Result.config` is
    read from the trial's last report, so a trial that never started (a search stopped early)
    has none; Ray 2.6's ResultGrid keeps its trials, whose configs are set before they start."""
    trials = getattr(getattr(results, "_experiment_analysis", None), "trials", None) or []
    configs = [dict(getattr(trial, "config", None) or {}) for trial in trials]
    return configs if len(configs) == len(results) else [{} for _ in results]


def trial_row(name: str, params: dict[str, Any], frame, space: SearchSpace, bigger: bool,
              status: str, error: str = "") -> dict[str, Any]:
    """One trial's row: its searched values and its best validation epoch in `frame` (one row per
    reported epoch: valid_score, epoch, weights, metric@k columns; on a tie, the later epoch, whose
    weights the trial kept), and the machine it ran on (a
    search carried from a CPU to a GPU holds both)."""
    row: dict[str, Any] = {"trial": name}
    for key in space.keys:
        row[key] = params.get(key)
    if frame is not None and "valid_score" in frame and len(frame):
        scores = frame["valid_score"]
        best_score = scores.max() if bigger else scores.min()
        # RecBole's early stopping counts a tie as an improvement and keeps the later epoch's
        # weights: the best epoch is the last one that reached the best score
        best = frame.loc[scores[scores == best_score].index[-1]]
        row["valid_score"] = float(best["valid_score"])
        row["best_epoch"] = int(best["epoch"])
        row["epochs"] = int(frame["epoch"].max()) + 1  # a resumed attempt may not have reported them all
        row["weights"] = str(best["weights"])
        for column in frame.columns:
            if "@" in column:
                row[column] = float(best[column])
    else:
        row.update(valid_score=float("nan"), best_epoch=-1, epochs=0, weights="")
    row["status"], row["error"] = status, error
    row["machine"] = machine_description()
    return row


def trial_rows(results, space: SearchSpace, bigger: bool) -> list[dict[str, Any]]:
    rows = []
    for result, trial_config in zip(results, _trial_configs(results)):
        error = getattr(result, "error", None)
        # A search stopped by Ctrl+C/SIGINT returns normally; its cut-off trials never said done.
        finished = bool((result.metrics or {}).get("done"))
        status = "error" if error is not None else "ok" if finished else "unfinished"
        message = (str(error).strip().splitlines() or [""])[-1][:200] if error is not None else ""
        rows.append(trial_row(os.path.basename(str(result.path or result.log_dir or "")),
                              point_params(result.config or trial_config), _latest_report_per_epoch(result.metrics_dataframe),
                              space, bigger, status, message))
    return best_first(rows, bigger)


def with_carried(rows: list[dict[str, Any]], carried: list[dict[str, Any]], space: SearchSpace,
                 bigger: bool) -> list[dict[str, Any]]:
    """The trials run here beside the carried rows (--trials_from), best first; a trial finished
    here replaces a carried row of its point."""
    ran = {tuple(row[k] for k in space.grid) for row in rows if row["status"] == "ok"}
    return best_first(rows + [row for row in carried if tuple(row[k] for k in space.grid) not in ran], bigger)


def best_first(rows: list[dict[str, Any]], bigger: bool) -> list[dict[str, Any]]:
    def order(row):
        score = row["valid_score"]
        if math.isnan(score):
            return (1, 0.0)
        return (0, -score if bigger else score)

    return sorted(rows, key=order)


def write_tables(rows: list[dict[str, Any]], output: str, valid_metric: str) -> tuple[str, str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    renamed = {"valid_score": f"valid {valid_metric.lower()}"}
    csv_path = os.path.join(output, "trials.csv")
    with atomic_file(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([renamed.get(c, c) for c in columns])
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])

    shown = [c for c in columns if c not in ("weights", "machine")]  # the csv keeps both

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4f}"
        return str(value).replace("|", "\\|")

    lines = ["| rank | " + " | ".join(renamed.get(c, c) for c in shown) + " |",
             "|---|" + "---|" * len(shown)]
    for rank, row in enumerate(rows, 1):
        lines.append(f"| {rank} | " + " | ".join(cell(row.get(c, "")) for c in shown) + " |")
    md_path = os.path.join(output, "trials.md")
    write_atomic(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path
