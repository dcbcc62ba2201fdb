"""Sections of the results page that a converged reproduction adds (results_page.make_report):

- phases: every phase's best epoch / epochs per run, the phases that hit the epoch cap (the
  `epochs` of the first of the row's config files that sets it), how many distinct models were
  trained against how many phases the teacher store gave, training hours and machine (the
  results' `phases` column);
- search: the student's search per model (trials, the point kept: run_hyper_csrec's
  trials.csv / trials.md, best_config.yaml, summary.txt under `--hyper DIR/<Model>/`);
- bridge: our protocol against the authors' (their windows, their evaluation, each alone and
  both, and any other setting the bridge runs changed), with the gap to the paper's Recall@10,
  the share of it each change closes, and whether Base comes within PAPER_TARGET_POINTS.
Every number is computed from the files; a missing input is said ("(not run yet)"), not guessed.
"""
from __future__ import annotations

import functools
import json
import math
import os
import shlex
from typing import Any, Callable, Sequence

import pandas as pd
import yaml

from recbole_csrec.errors import CSRecError
from recbole_csrec.names import METHOD_ORDER, method_name
from recbole_csrec.paths import PROPERTIES_DIR

Markdown = Callable[..., str]  # results_page._markdown_frame
NOT_RUN = "(not run yet)"
PAPER_TARGET_POINTS = 1.0  # the target: Base within 1 point of the paper's Recall@10
PHASE_ORDER = ["teacher-1", "teacher-2", "side-teacher", "main-teacher", "student"]


def _load_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path) as handle:
            values = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        raise CSRecError(f"'{path}' is not valid YAML: {str(error).splitlines()[0]}") from error
    if not isinstance(values, dict):
        raise CSRecError(f"'{path}' is not a YAML mapping")
    return values


# --- phases --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def epoch_cap(config_files: str) -> int | None:
    """`epochs` of the first of a row's config files that sets it; None when none does or a file
    is not found (paths are relative to the folder the runs started in: the repository root)."""
    for path in str(config_files or "").split():
        if not os.path.isfile(path):
            return None  # a later file's value would not be the one the run used
        values = _load_yaml(path)
        if "epochs" in values:
            return int(values["epochs"])
    return None


def run_phases(row: pd.Series) -> dict[str, dict[str, Any]]:
    """The row's `phases` cell as {phase: fields}; {} for a row written before the column."""
    text = row.get("phases", "")
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        phases = json.loads(text)
    except json.JSONDecodeError as error:
        raise CSRecError(f"results row {row.get('model')} {row.get('method')} seed {row.get('seed')}: "
                         f"`phases` is not JSON ({error.msg})") from error
    if not isinstance(phases, dict) or not all(isinstance(p, dict) for p in phases.values()):
        raise CSRecError(f"results row {row.get('model')} {row.get('method')} seed {row.get('seed')}: "
                         "`phases` is not a JSON object of phase objects")
    return phases


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def hit_cap(phase: dict[str, Any], cap: int | None) -> bool:
    epochs = _int_or_none(phase.get("epochs"))
    return cap is not None and epochs is not None and epochs >= cap


def phase_cell(phase: dict[str, Any], cap: int | None) -> str:
    """'36/48', '150/150 (cap)', '31/43 reused (CSRec-M teacher-1)'; '?' for a missing field."""
    best, epochs = (_int_or_none(phase.get(k)) for k in ("best_epoch", "epochs"))
    cell = f"{'?' if best is None else best}/{'?' if epochs is None else epochs}"
    if hit_cap(phase, cap):
        cell += " (cap)"
    if phase.get("reused"):
        cell += f" reused ({phase.get('trained_as') or 'teacher store'})"
    return cell


def _phase_columns(names: list[str]) -> list[str]:
    return [n for n in PHASE_ORDER if n in names] + sorted(n for n in names if n not in PHASE_ORDER)


def _by_method_and_seed(data: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return data.assign(_rank=data["method"].map(lambda m: rank.get(m, len(rank)))) \
        .sort_values(["_rank", "method", "seed"], kind="stable").drop(columns="_rank")


def phase_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, seed), one column per phase."""
    rows = []
    for _, row in _by_method_and_seed(runs).iterrows():
        cap = epoch_cap(row.get("config_files", ""))
        cells = {"method": row["method"], "seed": row["seed"]}
        cells.update({name: phase_cell(phase, cap) for name, phase in run_phases(row).items()})
        rows.append(cells)
    frame = pd.DataFrame(rows).fillna("")
    return frame[["method", "seed"] + _phase_columns([c for c in frame.columns if c not in ("method", "seed")])]


def phase_counts(data: pd.DataFrame) -> dict[str, Any]:
    """Distinct models trained (by store key; a phase without one is its own model), phases
    loaded from the store, training hours of the trained phases per machine, the phases that hit
    the cap, and the runs whose cap is unknown."""
    trained: set[str] = set()
    loaded: set[str] = set()
    reused, total, capped, unknown_cap = 0, 0, [], 0
    hours: dict[str, float] = {}
    for _, row in data.iterrows():
        cap = epoch_cap(row.get("config_files", ""))
        unknown_cap += cap is None
        for name, phase in run_phases(row).items():
            total += 1
            if phase.get("reused"):
                reused += 1
                loaded.add(str(phase.get("store_key")))
                continue
            trained.add(str(phase.get("store_key") or f"{row.get('run_id', '')}:{name}"))
            machine = str(row.get("machine", "") or "machine not recorded")
            hours[machine] = hours.get(machine, 0.0) + float(phase.get("seconds") or 0.0) / 3600
            if hit_cap(phase, cap):
                capped.append(f"{row['model']} {row['method']} seed {row['seed']} {name}")
    return {"phases": total, "trained": len(trained), "reused": reused, "hours": hours, "capped": capped,
            "trained_elsewhere": len(loaded - trained), "unknown_cap": unknown_cap}


def _counts_text(counts: dict[str, Any], runs: int, caps: list[int]) -> str:
    hours = sum(counts["hours"].values())
    machines = ", ".join(f"{h:.2f} h on `{m}`" for m, h in counts["hours"].items())
    cap_text = "epoch cap " + ("/".join(str(c) for c in caps) if caps else "unknown")
    if counts["unknown_cap"]:
        cap_text += (f" (unknown for {counts['unknown_cap']} runs: none of their config files, read from "
                     "this folder, sets `epochs`)")
    return (f"{counts['phases']} phases in {runs} runs: {counts['trained']} distinct models trained, "
            f"{counts['reused']} phases loaded from the teacher store instead of trained "
            f"({counts['trained_elsewhere']} of the loaded models were trained by none of these runs: "
            f"the student search or another run trained them into the same store). "
            f"{hours:.2f} h of training (trained phases only; {machines or 'no phase trained'}). "
            f"{cap_text[0].upper() + cap_text[1:]}; phases that hit it: "
            + ("; ".join(counts["capped"]) + "." if counts["capped"] else "none."))


def phases_section(data: pd.DataFrame, markdown: Markdown) -> str:
    """Per model (and dataset, when there are several): a row per (method, seed), a column per
    phase (best epoch/epochs); then counts."""
    has_phases = data["phases"].fillna("").astype(str).str.strip() != "" if "phases" in data else None
    data = data[has_phases] if has_phases is not None else data.iloc[0:0]
    if data.empty:
        return "(no run records its phases: the results predate the `phases` column)"
    parts = ["Each cell: best epoch / epochs trained (early stopping on validation NDCG@10); `(cap)`: "
             "trained to the epoch cap without stopping; `reused (...)`: loaded from the teacher store, "
             "trained earlier as the named phase (the same model: same architecture, data, config and seed)."]
    several = data["dataset"].nunique() > 1
    for (model, dataset), runs in data.groupby(["model", "dataset"], sort=False):
        parts.append(f"**{model}{f' on {dataset}' if several else ''}**\n\n{markdown(phase_table(runs))}")
    caps = sorted({c for c in (epoch_cap(f) for f in data.get("config_files", pd.Series(dtype=str))) if c})
    parts.append(_counts_text(phase_counts(data), len(data), caps))
    return "\n\n".join(parts)


# --- search --------------------------------------------------------------------------------

def _trials_frame(folder: str, searched: list[str], chosen: dict[str, Any]) -> pd.DataFrame | None:
    """trials.csv's searched keys, validation score, best epoch, epochs and status; `kept` marks
    the chosen point. None without trials.csv."""
    path = os.path.join(folder, "trials.csv")
    if not os.path.isfile(path):
        return None
    trials = pd.read_csv(path, keep_default_na=False)
    valid = [c for c in trials.columns if c.startswith("valid ")]
    keys = searched or [c for c in ("beta", "temperature") if c in trials.columns]
    columns = keys + valid + [c for c in ("best_epoch", "epochs", "status") if c in trials.columns]
    frame = trials[columns].copy()
    if chosen and keys:
        frame["kept"] = [("yes" if all(_same(row[k], chosen.get(k)) for k in keys) else "")
                         for _, row in frame.iterrows()]
    return frame


def _same(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return str(a) == str(b)


def _chosen_line(model: str, chosen: dict[str, Any], searched: list[str], trials: pd.DataFrame | None,
                 summary: str) -> str:
    point = ", ".join(f"{k} {chosen[k]}" for k in searched)
    method = method_name(str(chosen.get("teacher", ""))) or "the student"
    metric = next((c for c in (trials.columns if trials is not None else []) if c.startswith("valid ")),
                  "validation score")
    count = f", {len(trials)} trials" if trials is not None else ""
    return (f"**{model}**: kept {point}. Chosen on validation only (best {metric} of {method}, seed "
            f"{chosen.get('seed', '?')}{count}; the test set played no part in the choice), then kept "
            f"for every method and seed of {model}." + (f" Search summary: `{summary}`" if summary else ""))


def search_model(folder: str, model: str, markdown: Markdown) -> str:
    """One model's search: the point kept (or that none is yet) and its trials."""
    best = os.path.join(folder, "best_config.yaml")
    chosen = _load_yaml(best) if os.path.isfile(best) else {}
    probe = pd.read_csv(os.path.join(folder, "trials.csv"), nrows=0) \
        if os.path.isfile(os.path.join(folder, "trials.csv")) else pd.DataFrame()
    searched = [k for k in chosen if k in probe.columns]  # the keys the search varied
    trials = _trials_frame(folder, searched, chosen)
    summary = _read_text(os.path.join(folder, "summary.txt"))
    if chosen and searched:
        head = _chosen_line(model, chosen, searched, trials, summary)
    elif chosen:
        head = f"**{model}**: kept " + ", ".join(f"{k} {v}" for k, v in chosen.items() if k != "teacher_store")
    else:
        head = f"**{model}**: search not finished (no `best_config.yaml`): no point kept yet."
    if trials is not None:
        return f"{head}\n\n{markdown(trials)}"
    written = _read_text(os.path.join(folder, "trials.md"))  # outputs without trials.csv: as written
    if written:
        return f"{head}\n\n{written}"
    return head if chosen else f"**{model}**: {NOT_RUN}"


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        return ""
    with open(path) as handle:
        return handle.read().strip()


def search_section(hyper_dir: str | None, markdown: Markdown) -> str:
    """Every model folder under `hyper_dir`; "(not run yet)" when there is none."""
    if hyper_dir and os.path.exists(hyper_dir) and not os.path.isdir(hyper_dir):
        raise CSRecError(f"--hyper '{hyper_dir}' is a file: give the folder holding <Model>/ search outputs")
    if not hyper_dir or not os.path.isdir(hyper_dir):
        return NOT_RUN
    models = sorted(m for m in os.listdir(hyper_dir) if os.path.isdir(os.path.join(hyper_dir, m)))
    parts = [search_model(os.path.join(hyper_dir, m), m, markdown) for m in models]
    return "\n\n".join(parts) or NOT_RUN


# --- bridge --------------------------------------------------------------------------------

OURS = "windows ours, evaluation ours"
BRIDGE_STEPS = ("windows ours, evaluation masked", "windows authors, evaluation ours",
                "windows authors, evaluation masked")
BOTH = BRIDGE_STEPS[-1]
LABEL_KEYS = ("mask_input_items",)  # named by the label's "evaluation" part, not verbatim
AUTHORS_SUFFIX = "_authors"  # prepare_cli --window-alignment end_aligned writes <dataset>_authors


def _overrides(text: Any) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(str(text or "")):
        if token.startswith("--") and "=" in token:
            key, value = token[2:].split("=", 1)
            pairs[key] = value
    return pairs


def dataset_preset(dataset: str) -> str:
    """The settings preset a built-in dataset names (properties/dataset/<name>.yaml), else none."""
    path = os.path.join(PROPERTIES_DIR, "dataset", f"{dataset}.yaml")
    return str(_load_yaml(path).get("preset", "none")) if os.path.isfile(path) else "none"


def main_settings(main: pd.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    """Per model and method, the settings of the main table's runs: their command-line overrides
    and the preset their dataset names (the bridge's `--preset=paper` on lastfm_authors repeats
    lastfm's). Per method, since a table's Base rows may carry no student beta/T."""
    settings = {}
    for (model, method), sub in main.groupby(["model", "method"], sort=False):
        first = sub.iloc[0]
        settings[(model, method)] = {"preset": dataset_preset(str(first["dataset"])),
                                     **_overrides(first.get("overrides"))}
    return settings


def variant_label(row: pd.Series, baseline: dict[str, str]) -> str:
    """'windows ours|authors, evaluation ours|masked' plus any other setting that differs from
    the main table's runs (shown as --key=value)."""
    settings = _overrides(row.get("overrides", ""))
    windows = "authors" if str(row["dataset"]).endswith(AUTHORS_SUFFIX) else "ours"
    masked = settings.get("mask_input_items", "False") == "True"
    extra = sorted(f"--{k}={v}" for k, v in settings.items() if k not in LABEL_KEYS and baseline.get(k) != v)
    return f"windows {windows}, evaluation {'masked' if masked else 'ours'}" + \
        (f", {' '.join(extra)}" if extra else "")


def bridge_frame(main: pd.DataFrame, bridge: pd.DataFrame) -> pd.DataFrame:
    """Every bridge run, each with its variant, beside the main table's runs of the same methods
    (Base and CSRec-M always: the bridge the issue asks for; others, e.g. SoftRec, once bridged)."""
    baselines = main_settings(main)
    methods = {"Base", "CSRec-M"} | set(bridge["method"])
    rows = pd.concat([main[main["method"].isin(methods)], bridge], ignore_index=True)
    rows = rows.assign(variant=[variant_label(r, baselines.get((r["model"], r["method"]), {}))
                                for _, r in rows.iterrows()])
    for metric in ("test_recall@10", "test_ndcg@10"):
        rows[metric] = pd.to_numeric(rows[metric], errors="coerce")
    return rows


def _variant_order(variants: Any) -> list[str]:
    present = list(dict.fromkeys(variants))
    return [v for v in (OURS, *BRIDGE_STEPS) if v in present] + sorted(v for v in present
                                                                       if v not in (OURS, *BRIDGE_STEPS))


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    return f"{values.mean():.2f}" + (f" ± {values.std():.2f}" if len(values) > 1 else "")


def paper_recall(paper: pd.DataFrame, model: str, method: str) -> float:
    """The paper's Recall@10 (%) of a model and method; nan when the paper has none."""
    theirs = paper.set_index(["model", "method", "metric"])["mean"]
    return 100 * float(theirs.get((model, method, "recall@10"), math.nan))


def bridge_table(rows: pd.DataFrame, paper: pd.DataFrame, model: str) -> pd.DataFrame:
    """One model: a row per variant; per method the test Recall@10 and NDCG@10 (%, mean ± std
    over seeds), the number of seeds and the gap to the paper's Recall@10 (paper − ours, points)."""
    rows = rows[rows["model"] == model]
    methods = [m for m in METHOD_ORDER if m in set(rows["method"])]
    out = []
    for variant in _variant_order(rows["variant"]):
        cells: dict[str, Any] = {"variant": variant}
        for method in methods:
            runs = rows[(rows["variant"] == variant) & (rows["method"] == method)]
            recall = 100 * runs["test_recall@10"]
            cells[f"{method} Recall@10 (%)"] = _mean_std(recall)
            cells[f"{method} NDCG@10 (%)"] = _mean_std(100 * runs["test_ndcg@10"])
            cells[f"{method} seeds"] = str(len(runs)) if len(runs) else ""
            cells[f"{method} gap (points)"] = paper_recall(paper, model, method) - recall.mean()
        out.append(cells)
    return pd.DataFrame(out)


def apportion_seed(rows: pd.DataFrame, model: str) -> int | None:
    """The Base seed run with our protocol and with the most other variants (the single-option
    runs may exist for one seed only); ties go to the smallest seed."""
    base = rows[(rows["model"] == model) & (rows["method"] == "Base")]
    start = set(base.loc[base["variant"] == OURS, "seed"].dropna().astype(int))
    others = base[(base["variant"] != OURS) & base["seed"].notna()]
    coverage = others.groupby(others["seed"].astype(int))["variant"].nunique()
    coverage = coverage[coverage.index.isin(start)]
    if coverage.empty:
        return None
    return int(sorted(coverage.index, key=lambda s: (-coverage[s], s))[0])


def apportion(rows: pd.DataFrame, paper: pd.DataFrame, model: str, seed: int) -> pd.DataFrame:
    """Base, one seed: from our protocol, how many Recall@10 points each variant closes, as a
    share (%) of the gap between our protocol and the paper."""
    base = rows[(rows["model"] == model) & (rows["method"] == "Base") & (rows["seed"].astype(str) == str(seed))]
    values = base.groupby("variant")["test_recall@10"].mean() * 100
    start, target = values.get(OURS, math.nan), paper_recall(paper, model, "Base")
    out = []
    for variant in _variant_order(values.index):
        closed = values[variant] - start
        out.append({"variant": variant, "Recall@10 (%)": values[variant], "points closed": closed,
                    "share of the gap (%)": 100 * closed / (target - start) if target != start else math.nan})
    return pd.DataFrame(out)


def interaction_sentence(table: pd.DataFrame) -> str:
    """Whether the two changes add up: both together against the sum of each alone."""
    closed = table.set_index("variant")["points closed"]
    if not all(v in closed for v in BRIDGE_STEPS):
        return "The two changes alone and together are not all run yet, so they are not compared."
    alone = closed[BRIDGE_STEPS[0]] + closed[BRIDGE_STEPS[1]]
    return (f"Each change alone closes {closed[BRIDGE_STEPS[0]]:.2f} (evaluation) + "
            f"{closed[BRIDGE_STEPS[1]]:.2f} (windows) = {alone:.2f} points; both together "
            f"{closed[BOTH]:.2f} (interaction {closed[BOTH] - alone:+.2f}).")


def apportion_section(rows: pd.DataFrame, paper: pd.DataFrame, model: str, markdown: Markdown) -> str | None:
    seed = apportion_seed(rows, model)
    if seed is None:
        return None
    table = apportion(rows, paper, model, seed)
    target = paper_recall(paper, model, "Base")
    start = table.set_index("variant")["Recall@10 (%)"][OURS]
    return (f"**{model} Base, seed {seed}: what each change closes** of the {target - start:.2f}-point "
            f"gap between our protocol ({start:.2f}%) and the paper ({target:.3f}%):\n\n"
            f"{markdown(table, digits=2)}\n\n{interaction_sentence(table)}")


def target_lines(rows: pd.DataFrame, paper: pd.DataFrame, models: list[str]) -> str:
    """Per model: whether Base with both options (and each variant adding to them) is within
    PAPER_TARGET_POINTS of the paper's Recall@10."""
    lines = []
    for model in models:
        target = paper_recall(paper, model, "Base")
        if math.isnan(target):
            continue
        base = rows[(rows["model"] == model) & (rows["method"] == "Base")]
        variants = [v for v in _variant_order(base["variant"]) if v == BOTH or v.startswith(BOTH + ", ")]
        if BOTH not in variants:
            lines.append(f"- {model} Base with both options: {NOT_RUN} (the paper: {target:.3f}%).")
        for variant in variants:
            runs = base[base["variant"] == variant]
            ours = 100 * runs["test_recall@10"].mean()
            met = abs(target - ours) <= PAPER_TARGET_POINTS
            lines.append(f"- {model} Base with {'both options' if variant == BOTH else variant}: {ours:.2f}% "
                         f"over {len(runs)} seed(s) against the paper's {target:.3f}%: "
                         f"{'within' if met else 'not within'} {PAPER_TARGET_POINTS:g} point "
                         f"(gap {target - ours:+.2f}): target {'met' if met else 'not met'}.")
    return (f"Target: Base within {PAPER_TARGET_POINTS:g} point of the paper's Recall@10 with both options "
            "(the authors' windows and evaluation):\n\n" + ("\n".join(lines) or "- no model with a paper value"))


def main_dataset(dataset: str) -> str:
    """The main table's dataset a bridge run's dataset stands beside (lastfm_authors -> lastfm)."""
    return dataset[:-len(AUTHORS_SUFFIX)] if dataset.endswith(AUTHORS_SUFFIX) else dataset


def bridge_section(main: pd.DataFrame, bridge_csvs: Sequence[str] | None, paper: pd.DataFrame,
                   markdown: Markdown) -> str:
    """Per dataset and model: every variant against the paper, the apportioning of the gap, the
    target. The bridge CSVs (e.g. Last.FM's and Yelp's) may be given together."""
    for path in bridge_csvs or ():
        if os.path.isdir(path):
            raise CSRecError(f"--bridge '{path}' is a folder: give the bridge runs' results CSV")
    present = [path for path in bridge_csvs or () if os.path.isfile(path)]
    if not present:
        return NOT_RUN
    from recbole_csrec.benchmark.aggregate import load_results  # aggregate imports nothing of ours

    bridge = load_results(present, variant_columns=["overrides"])  # a rerun replaces its variant only
    if bridge.empty:
        return NOT_RUN
    parts = ["Windows `authors`: the dataset cut as the authors' code cuts it (end-aligned, overlapping "
             "windows: validation/test items of one window are training items of another; "
             "`prepare_cli --window-alignment end_aligned`). Evaluation `masked`: every input item "
             "but the target scored -inf (`--mask_input_items=True`), as their code ranks. Any other "
             "setting that differs from the main table's runs of the same method is shown as "
             f"`--key=value`. Rows `{OURS}` are the main table's runs. Test set, mean ± std over the "
             "seeds counted; gap: the paper's Recall@10 minus ours, in points."]
    beside = bridge["dataset"].astype(str).map(main_dataset)
    datasets = list(dict.fromkeys(beside))
    for dataset in datasets:
        if len(datasets) > 1:
            parts.append(f"### {dataset}")
        parts += bridge_dataset_parts(main[main["dataset"] == dataset], bridge[beside == dataset],
                                      paper[paper["dataset"] == dataset], markdown)
    return "\n\n".join(parts)


def bridge_dataset_parts(main: pd.DataFrame, bridge: pd.DataFrame, paper: pd.DataFrame,
                         markdown: Markdown) -> list[str]:
    """One dataset's parts: per model its variants' table and gap apportioning, then the targets."""
    rows = bridge_frame(main, bridge)
    parts = []
    models = list(dict.fromkeys(rows["model"]))
    for model in models:
        theirs = ", ".join(f"{m} {paper_recall(paper, model, m):.3f}%" for m in METHOD_ORDER
                           if m in set(rows.loc[rows["model"] == model, "method"]))
        parts.append(f"**{model}** (the paper's Recall@10: {theirs})\n\n"
                     f"{markdown(bridge_table(rows, paper, model), digits=2)}")
        apportioned = apportion_section(rows, paper, model, markdown)
        parts.append(apportioned or f"**{model} Base**: no seed run with both our protocol and a bridge "
                                    "variant yet, so the gap is not apportioned.")
    parts.append(target_lines(rows, paper, models))
    return parts
