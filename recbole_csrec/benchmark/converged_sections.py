"""Sections of the results page that a converged reproduction adds (results_page.make_report):

- phases: every phase's best epoch / epochs per run, phases that hit the epoch cap, and how many
  distinct models were trained against how many phases the store gave (the `phases` column);
- search: the student's beta x T search per model and the point kept (run_hyper_csrec outputs);
- bridge: our protocol against the authors' (their windows, their evaluation, each alone and
  both), with the gap to the paper's Recall@10 and the share of it each change closes.
Every number is computed from the files; missing inputs are said, not guessed.
"""
from __future__ import annotations

import json
import math
import os
import shlex
from typing import Any

import pandas as pd
import yaml

PAPER_TARGET_POINTS = 1.0  # the target: Base within 1 point of the paper's Recall@10


# --- phases --------------------------------------------------------------------------------

def epoch_cap(config_files: str) -> int | None:
    """`epochs` of the first of a row's config files that sets it (None when none does or a
    file is gone)."""
    for path in str(config_files or "").split():
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            values = yaml.safe_load(handle) or {}
        if "epochs" in values:
            return int(values["epochs"])
    return None


def run_phases(row: pd.Series) -> dict[str, dict[str, Any]]:
    text = row.get("phases", "")
    if not isinstance(text, str) or not text.strip():
        return {}
    return json.loads(text)


def _phase_cell(phase: dict[str, Any], cap: int | None) -> str:
    cell = f"{int(phase['best_epoch'])}/{int(phase['epochs'])}"
    if cap is not None and int(phase["epochs"]) >= cap:
        cell += " (cap)"
    if phase.get("reused"):
        cell += f" reused ({phase.get('trained_as') or 'store'})"
    return cell


def phase_counts(data: pd.DataFrame) -> dict[str, Any]:
    """Distinct models trained (by store key; a phase without one is its own model), phases
    loaded from the store, training hours of the trained phases, and phases that hit the cap."""
    trained, reused, hours, capped, total, loaded_keys = set(), 0, 0.0, [], 0, []
    for _, row in data.iterrows():
        cap = epoch_cap(row.get("config_files", ""))
        for name, phase in run_phases(row).items():
            total += 1
            if phase.get("reused"):
                reused += 1
                loaded_keys.append(phase.get("store_key"))
                continue
            trained.add(phase.get("store_key") or f"{row.get('run_id', '')}:{name}")
            hours += float(phase.get("seconds", 0.0)) / 3600
            if cap is not None and int(phase["epochs"]) >= cap:
                capped.append(f"{row['model']} {row['method']} seed {row['seed']} {name}")
    elsewhere = len({key for key in loaded_keys if key not in trained})  # e.g. by the student search
    return {"phases": total, "trained": len(trained), "reused": reused, "hours": hours, "capped": capped,
            "trained_elsewhere": elsewhere}


def phases_section(data: pd.DataFrame, markdown) -> str:
    """Per model: a row per (method, seed), a column per phase (best epoch/epochs)."""
    data = data[data["phases"].fillna("").astype(str).str.strip() != ""] if "phases" in data else data.iloc[0:0]
    if data.empty:
        return "(no run records its phases: the results predate the `phases` column)"
    parts = ["Each cell: best epoch / epochs trained (early stopping: 10 validations without a better "
             "NDCG@10); `(cap)`: trained to the epoch cap without stopping; `reused (...)`: loaded from "
             "the teacher store, trained earlier as the named phase (the same model: same architecture, "
             "data, config and seed)."]
    for model, sub in data.groupby("model", sort=False):
        rows = []
        for _, row in sub.iterrows():
            cap = epoch_cap(row.get("config_files", ""))
            cells = {"method": row["method"], "seed": row["seed"]}
            cells.update({name: _phase_cell(phase, cap) for name, phase in run_phases(row).items()})
            rows.append(cells)
        frame = pd.DataFrame(rows).fillna("")
        parts.append(f"**{model}**\n\n{markdown(frame)}")
    counts = phase_counts(data)
    capped = "; ".join(counts["capped"]) if counts["capped"] else "none"
    parts.append(f"{counts['phases']} phases in {len(data)} runs: {counts['trained']} distinct models "
                 f"trained, {counts['reused']} phases loaded from the store instead of trained "
                 f"({counts['trained_elsewhere']} of the models loaded were trained outside these runs, "
                 f"by the student search); "
                 f"{counts['hours']:.2f} h of training (trained phases only). Phases that hit the "
                 f"epoch cap: {capped}.")
    return "\n\n".join(parts)


# --- search --------------------------------------------------------------------------------

def search_section(hyper_dir: str | None) -> str:
    if not hyper_dir or not os.path.isdir(hyper_dir):
        return "(not run yet)"
    parts = []
    for model in sorted(os.listdir(hyper_dir)):
        folder = os.path.join(hyper_dir, model)
        best, table = os.path.join(folder, "best_config.yaml"), os.path.join(folder, "trials.md")
        if not (os.path.isfile(best) and os.path.isfile(table)):
            parts.append(f"**{model}**: not finished")
            continue
        with open(best) as handle:
            chosen = yaml.safe_load(handle)
        with open(table) as handle:
            trials = handle.read().strip()
        summary = os.path.join(folder, "summary.txt")
        line = open(summary).read().strip() if os.path.isfile(summary) else ""
        parts.append(f"**{model}**: kept beta {chosen['beta']}, T {chosen['temperature']} "
                     f"(best validation NDCG@10 of CSRec-M, seed {chosen.get('seed', '?')}; the test "
                     f"set played no part) for every method and seed of {model}. `{line}`\n\n"
                     f"<details><summary>all trials ({os.path.relpath(table)})</summary>\n\n{trials}\n\n</details>")
    return "\n\n".join(parts) or "(not run yet)"


# --- bridge --------------------------------------------------------------------------------

def _overrides(text: Any) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(str(text or "")):
        if token.startswith("--") and "=" in token:
            key, value = token[2:].split("=", 1)
            pairs[key] = value
    return pairs


def variant_label(row: pd.Series, baseline: dict[str, str]) -> str:
    """'windows ours|authors, evaluation ours|masked' plus any other setting that differs from
    the main table's runs (shown as --key=value)."""
    settings = _overrides(row.get("overrides", ""))
    windows = "authors" if str(row["dataset"]).endswith("_authors") else "ours"
    masked = settings.get("mask_input_items", "False") == "True"
    extra = sorted(f"--{k}={v}" for k, v in settings.items()
                   if k not in ("mask_input_items", "preset") and baseline.get(k) != v)
    return f"windows {windows}, evaluation {'masked' if masked else 'ours'}" + \
        (f", {' '.join(extra)}" if extra else "")


def bridge_frame(main: pd.DataFrame, bridge: pd.DataFrame) -> pd.DataFrame:
    """Every Base / CSRec-M run of both files with its variant."""
    # Each model's main-table settings (its searched beta/T, paths) are the baseline of its label.
    baselines = {model: _overrides(sub["overrides"].iloc[0]) if "overrides" in sub else {}
                 for model, sub in main.groupby("model", sort=False)}
    rows = pd.concat([main[main["method"].isin(["Base", "CSRec-M"])], bridge], ignore_index=True)
    rows = rows.assign(variant=[variant_label(r, baselines.get(r["model"], {})) for _, r in rows.iterrows()])
    for metric in ("test_recall@10", "test_ndcg@10"):
        rows[metric] = pd.to_numeric(rows[metric], errors="coerce")
    return rows


def bridge_table(rows: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per model, variant and method: mean ± std (%) over seeds and the gap to the paper's R@10."""
    theirs = paper.set_index(["model", "method", "metric"])["mean"]
    out = []
    for (model, variant, method), sub in rows.groupby(["model", "variant", "method"], sort=False):
        recall, ndcg = 100 * sub["test_recall@10"], 100 * sub["test_ndcg@10"]
        target = 100 * theirs.get((model, method, "recall@10"), math.nan)
        out.append({"model": model, "variant": variant, "method": method, "seeds": len(sub),
                    "Recall@10 (%)": _mean_std(recall), "NDCG@10 (%)": _mean_std(ndcg),
                    "paper Recall@10 (%)": target,
                    "gap to paper (points)": target - recall.mean()})
    return pd.DataFrame(out)


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    return f"{values.mean():.2f}" + (f" ± {values.std():.2f}" if len(values) > 1 else "")


BRIDGE_STEPS = ("windows ours, evaluation masked", "windows authors, evaluation ours",
                "windows authors, evaluation masked")


def apportion(rows: pd.DataFrame, paper: pd.DataFrame, model: str, seed: int) -> pd.DataFrame:
    """Base, one seed: how many Recall@10 points each change closes, as a share of the gap
    between our protocol and the paper."""
    base = rows[(rows["model"] == model) & (rows["method"] == "Base") & (rows["seed"].astype(str) == str(seed))]
    values = base.groupby("variant")["test_recall@10"].mean() * 100
    start = values.get("windows ours, evaluation ours", math.nan)
    target = 100 * paper.set_index(["model", "method", "metric"])["mean"].get((model, "Base", "recall@10"), math.nan)
    out = []
    for variant in list(BRIDGE_STEPS) + sorted(v for v in values.index if v not in BRIDGE_STEPS
                                               and v != "windows ours, evaluation ours"):
        if variant not in values:
            continue
        closed = values[variant] - start
        out.append({"variant": variant, "Recall@10 (%)": values[variant], "points closed": closed,
                    "share of the gap (%)": 100 * closed / (target - start) if target != start else math.nan})
    return pd.DataFrame(out)


def bridge_section(main: pd.DataFrame, bridge_csv: str | None, paper: pd.DataFrame, markdown) -> str:
    if not bridge_csv or not os.path.isfile(bridge_csv):
        return "(not run yet)"
    from recbole_csrec.benchmark.aggregate import load_results

    bridge = load_results([bridge_csv], variant_columns=["overrides"])  # a variant per setting
    if bridge.empty:
        return "(not run yet)"
    paper = paper[paper["dataset"] == "lastfm"]
    rows = bridge_frame(main[main["dataset"] == "lastfm"], bridge)
    parts = ["Windows `authors`: Last.FM cut as the authors' code cuts it (end-aligned, overlapping "
             "windows: validation/test items of one window are training items of another; "
             "`prepare_cli --window-alignment end_aligned`). Evaluation `masked`: every input item "
             "but the target scored -inf (`mask_input_items: True`), as their code ranks. Rows "
             "`windows ours, evaluation ours` are the main table's runs. Test set, mean ± std over the "
             "seeds shown.", markdown(bridge_table(rows, paper), digits=2)]
    for model in rows["model"].unique():
        seeds = rows[(rows["model"] == model) & (rows["variant"] != "windows ours, evaluation ours")
                     & (rows["method"] == "Base")]["seed"]
        if seeds.empty:
            continue
        seed = sorted(seeds.astype(int))[0]
        table = apportion(rows, paper, model, seed)
        if table.empty or len(table) < 2:
            continue
        parts.append(f"**{model} Base, seed {seed}: what each change closes** (from windows ours, "
                     f"evaluation ours):\n\n{markdown(table, digits=2)}")
    parts.append(target_sentence(rows, paper))
    return "\n\n".join(parts)


def target_sentence(rows: pd.DataFrame, paper: pd.DataFrame) -> str:
    """Whether Base with both options is within PAPER_TARGET_POINTS of the paper's Recall@10."""
    both = rows[(rows["variant"] == "windows authors, evaluation masked") & (rows["method"] == "Base")]
    theirs = paper.set_index(["model", "method", "metric"])["mean"]
    lines = []
    for model, sub in both.groupby("model", sort=False):
        ours = 100 * sub["test_recall@10"].mean()
        target = 100 * theirs.get((model, "Base", "recall@10"), math.nan)
        met = abs(target - ours) <= PAPER_TARGET_POINTS
        lines.append(f"- {model} Base with both options: {ours:.2f}% over {len(sub)} seed(s) against the "
                     f"paper's {target:.3f}%: {'within' if met else 'not within'} "
                     f"{PAPER_TARGET_POINTS:g} point (gap {target - ours:+.2f}).")
    return "Target (Base within 1 point of the paper's Recall@10 with both options):\n\n" + \
        ("\n".join(lines) if lines else "- no Base run with both options yet")
