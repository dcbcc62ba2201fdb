"""docs/results.md from the results CSV(s) and analysis outputs: nothing in it is typed by hand.

Sections: what ran (models, seeds, epochs, settings, machine, time), our Table 2 (both
significance tests), the paper's Table 2 rows of the datasets in the results (copied from the paper, marked as such),
relative improvement over Base ours vs the paper's, a generated reading, the student's gain over
Base against its soft labels' diagnostics (when the CSV has `diag_` columns), and the analysis plots;
for a converged reproduction also every phase's convergence and reuse, the student's beta/T
search and the bridge to the paper's protocol (converged_sections.py).
"""
from __future__ import annotations

import math
import os
import sys
import time
from datetime import datetime
from typing import Sequence

import pandas as pd

from recbole_csrec.atomic import write_atomic
from recbole_csrec.benchmark.aggregate import (legend, load_results, metric_label, ordered,
                                               summarize, table2)
from .converged_sections import bridge_section, phases_section, search_section
from .label_gain import gain_frame, gain_means, gain_sentence, plot_gain
from recbole_csrec.benchmark.results import machine_description, read_results, write_frame
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.names import METHOD_ORDER
from recbole_csrec.overrides import OneLineParser

PAPER_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_table2.csv")
ANALYSIS_ORDER = ["popularity", "length", "sparsity", "num_teachers", "sample_ratio", "expectation"]
# Computed from a results CSV's per-user files: one folder covers every model of that CSV.
RESULT_ANALYSES = ("popularity", "length")


# Our models compared with a paper model's rows: NextItNetLastItem is NextItNet with its readout
# fixed (recbole_csrec/model/nextitnet_last_item.py), the model the paper's numbers can come from.
PAPER_MODEL_OF = {"NextItNetLastItem": "NextItNet"}


def paper_table(path: str = PAPER_TABLE) -> pd.DataFrame:
    """The paper's Table 2 rows as (dataset, method, model, metric, mean as a fraction, marks),
    with the rows of each PAPER_MODEL_OF model repeated under our model's name."""
    frame = pd.read_csv(path, comment="#", dtype={"marks_vs_SoftRec": str}, keep_default_na=False)
    frame["mean"] = frame["value_percent"].astype(float) / 100.0
    aliases = [frame[frame["model"] == theirs].assign(model=ours) for ours, theirs in PAPER_MODEL_OF.items()]
    return pd.concat([frame, *aliases], ignore_index=True)


def _markdown_frame(frame: pd.DataFrame, digits: int = 4) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) and not math.isnan(v) else
                 ("" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def what_ran(data: pd.DataFrame) -> str:
    rows = []
    for (dataset, model), sub in data.groupby(["dataset", "model"], sort=False):
        epochs = pd.to_numeric(sub.get("epochs", pd.Series(dtype=str)), errors="coerce")
        rows.append({"dataset": dataset, "model": model,
                     "methods": ", ".join(ordered(sub["method"], METHOD_ORDER)),
                     "seeds": " ".join(str(s) for s in sorted(sub["seed"].dropna().unique())),
                     "runs": len(sub),
                     "student epochs run": f"{int(epochs.min())}-{int(epochs.max())}" if epochs.notna().any() else "",
                     "hours": round(float(sub["seconds"].sum()) / 3600, 2) if "seconds" in sub else ""})
    text = [_markdown_frame(pd.DataFrame(rows))]
    for column, title in (("command", "Commands"), ("config_files", "Config files"),
                          ("overrides", "Settings on the command line"), ("machine", "Machines")):
        if column in data.columns:
            values = [v for v in dict.fromkeys(data[column]) if v]
            if values:
                text.append(f"**{title}:**\n\n" + "\n".join(f"- `{v}`" for v in values))
    if "finished_at" in data.columns and (data["finished_at"] != "").any():
        stamps = sorted(v for v in data["finished_at"] if v)
        text.append(f"Runs finished between {stamps[0]} and {stamps[-1]}; total run time "
                    f"{data['seconds'].sum() / 3600:.2f} h (sum of per-run wall-clock seconds).")
    return "\n\n".join(text)


def compare_with_paper(summary: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Relative change over Base (%) of each method, ours and the paper's, where both exist."""
    rows = []
    ours = summary.set_index(["dataset", "model", "method", "metric"])["mean"]
    theirs = paper.set_index(["dataset", "model", "method", "metric"])["mean"]
    for (dataset, model, method, metric), value in ours.items():
        if method == "Base" or (dataset, model, "Base", metric) not in ours.index:
            continue
        mine = 100 * (value / ours[(dataset, model, "Base", metric)] - 1)
        key = (dataset, model, method, metric)
        paper_rel = (100 * (theirs[key] / theirs[(dataset, model, "Base", metric)] - 1)
                     if key in theirs.index else math.nan)
        rows.append({"dataset": dataset, "model": model, "metric": metric_label(metric), "method": method,
                     "ours vs Base (%)": mine, "paper vs Base (%)": paper_rel})
    return pd.DataFrame(rows)


def significant_methods(sub: pd.DataFrame, ref: str, direction: int) -> str:
    """The methods of `sub` whose users test against `ref` has p<0.05 and whose mean lies on the
    side `direction` (+1 above, -1 below) of ref's mean; "none" when there is none."""
    names = [r["method"] for _, r in sub.iterrows()
             if r.get(f"p_users_vs_{ref}", math.nan) < 0.05
             and direction * (r["mean"] - r.get(f"mean_{ref}", math.nan)) > 0]  # NaN: never
    return ", ".join(names) or "none"


def reading(summary: pd.DataFrame) -> str:
    """Generated sentences: per dataset, model and metric, the best method, the methods
    significantly better than Base and SoftRec, and those significantly worse than SoftRec
    (users test, two-sided p<0.05, read in the direction of the means)."""
    lines = []
    for (dataset, model, metric), sub in summary.groupby(["dataset", "model", "metric"], sort=False):
        sub = sub.dropna(subset=["mean"])
        if sub.empty:  # a metric only another dataset has (e.g. Recall+ without ratings)
            continue
        best = sub.loc[sub["mean"].idxmax()]
        seeds = f"{int(best['n'])} seed" + ("s" if int(best["n"]) != 1 else "")
        lines.append(f"- {model} on {dataset}, {metric_label(metric)}: best {best['method']} "
                     f"({100 * best['mean']:.3f}%, {seeds}); better than Base at p<0.05 over "
                     f"users: {significant_methods(sub, 'Base', +1)}; better than SoftRec: "
                     f"{significant_methods(sub, 'SoftRec', +1)}; worse than SoftRec: "
                     f"{significant_methods(sub, 'SoftRec', -1)}.")
    return "\n".join(lines)


def _listed(column: pd.Series) -> str:
    """The distinct non-empty values, in numeric order where they are numbers (runs land in any
    order when lanes run side by side), else in order of appearance."""
    values = [v for v in dict.fromkeys(column.astype(str)) if v != ""]
    try:
        values = sorted(values, key=float)
    except ValueError:
        pass
    return ", ".join(values)


def sweep_runs_line(runs_csv: str) -> str:
    """What a sweep ran (from its `<name>_runs.csv`): runs, models, seeds, methods, values, time."""
    runs = read_results(runs_csv)
    if runs.empty:
        return ""
    epochs = pd.to_numeric(runs.get("epochs", pd.Series(dtype=float)), errors="coerce")
    methods = ", ".join(ordered(runs["method"], METHOD_ORDER))
    return (f"{len(runs)} runs: {_listed(runs['model'])} on {_listed(runs['dataset'])}, seeds "
            f"{_listed(runs['seed'])}, methods {methods}, {_listed(runs['sweep'])} in "
            f"{{{_listed(runs['sweep_value'])}}}"
            + (f", student epochs {int(epochs.min())}-{int(epochs.max())}" if epochs.notna().any() else "")
            + f"; {pd.to_numeric(runs['seconds'], errors='coerce').sum() / 60:.0f} min of runs "
            f"(`{runs_csv}`).\n\n")


def soft_label_section(data: pd.DataFrame, output_md: str, metric: str = "ndcg@10") -> str | None:
    """Student gain over Base against the soft labels' popularity mass and entropy: the plot and
    its points go to `<output without .md>/soft_label_gain.{png,csv}`; None when no run has
    diagnostics and a Base run of the same dataset, model and seed."""
    frame = gain_frame(data, metric)
    if frame.empty:
        return None
    folder = os.path.splitext(output_md)[0]
    os.makedirs(folder, exist_ok=True)
    png, csv = (os.path.join(folder, f"soft_label_gain.{ext}") for ext in ("png", "csv"))
    plot_gain(frame, png, metric)
    write_frame(csv, frame)
    here = os.path.dirname(os.path.abspath(output_md))
    return (f"{gain_sentence(frame, metric)}\n\n![student gain vs soft labels]({os.path.relpath(png, here)})"
            f"\n\nMeans per dataset, model and method (gain in %; every point: "
            f"`{os.path.relpath(csv, here)}`):\n\n{_markdown_frame(gain_means(frame))}")


def analyses_section(folders: Sequence[str], output_md: str) -> str:
    """Each folder's analyses in ANALYSIS_ORDER, then one line per folder naming the analyses it
    does not hold yet, so that a page built mid-suite says what has not run."""
    parts, missing = [], []
    held = {folder: [name for name in ANALYSIS_ORDER if all(
        os.path.isfile(os.path.join(folder, f"{name}.{ext}")) for ext in ("png", "csv"))] for folder in folders}
    held_anywhere = {name for names in held.values() for name in names}
    for folder in folders:
        for name in held[folder]:
            png, csv = (os.path.join(folder, f"{name}.{ext}") for ext in ("png", "csv"))
            rel = os.path.relpath(png, os.path.dirname(os.path.abspath(output_md)))
            frame = pd.read_csv(csv, keep_default_na=False)
            parts.append(f"### {name} ({folder})\n\n{sweep_runs_line(os.path.join(folder, f'{name}_runs.csv'))}"
                         f"![{name}]({rel})\n\n"
                         f"<details><summary>{os.path.basename(csv)}</summary>\n\n"
                         f"{_markdown_frame(frame)}\n\n</details>")
        # Not named: a per-user analysis another folder holds (it covers every model), and the
        # sweeps of a folder that holds only per-user analyses (the sweeps go to model folders).
        results_only = bool(held[folder]) and set(held[folder]) <= set(RESULT_ANALYSES)
        absent = [name for name in ANALYSIS_ORDER if name not in held[folder]
                  and not (name in RESULT_ANALYSES and name in held_anywhere)
                  and not (name not in RESULT_ANALYSES and results_only)]
        if absent:
            missing.append(f"- `{folder}`: " + ("no analysis outputs yet" if not held[folder]
                                                 else "not run yet: " + ", ".join(absent)))
    if missing:
        parts.append("**Not run yet** (no `<analysis>.csv`/`.png` in the folder):\n\n" + "\n".join(missing))
    return "\n\n".join(parts) or "(no analysis folders given)"


def make_report(results: Sequence[str], output: str, analyses: Sequence[str] = (),
                notes: str | None = None, metrics: Sequence[str] | None = None, user_test: str = "ttest",
                command: str = "", hyper: str | None = None, bridge: Sequence[str] | None = None) -> str:
    """The page; `hyper` (a folder of <Model>/ search outputs) and `bridge` (the bridge runs' CSVs)
    add the converged reproduction's sections, as does a `phases` column in the results."""
    start = time.time()
    data = load_results(results)
    summary = summarize(data, metrics, user_test)
    if summary.empty:
        raise CSRecError(f"no results in {', '.join(results)}")
    paper = paper_table()
    paper_summary = paper.assign(n=1, std=math.nan, best=False)
    paper_summary["best"] = paper_summary["mean"] == paper_summary.groupby(
        ["dataset", "model", "metric"])["mean"].transform("max")
    paper_summary["p_seeds_vs_SoftRec"] = paper_summary["marks_vs_SoftRec"].map(
        {"**": 0.01, "*": 0.07}).fillna(math.nan)  # only to reprint the paper's own marks
    paper_summary["mean_SoftRec"] = -math.inf
    paper_summary["p_seeds_vs_Base"] = math.nan
    paper_summary = paper_summary[paper_summary["model"].isin(summary["model"])
                                  & paper_summary["dataset"].isin(summary["dataset"])]
    sections = [
        "# CSRec reproduction results",
        f"Generated by `{command or 'run_scripts/make_report.py'}` on {datetime.now():%Y-%m-%d %H:%M} from "
        + ", ".join(f"`{r}`" for r in results) + ". Do not edit by hand: rerun the command.",
        "## What ran\n\n" + what_ran(data),
    ]
    if "phases" in data.columns:
        sections.append("## Phases: convergence and reuse\n\n" + phases_section(data, _markdown_frame))
    if hyper is not None:
        sections.append("## Student beta/T search\n\n" + search_section(hyper, _markdown_frame))
    sections += [
        "## Our results (Table 2 layout)\n\n" + "\n\n".join(f"{legend(t, user_test)}\n\n{table2(summary, t)}"
                                                          for t in ("seeds", "users")),
        "## The paper's Table 2, rows of our datasets (reference, copied from the paper)\n\n"
        "Values in %, single numbers as printed (no std); `**`/`*`: the paper's significance over SoftRec. "
        f"Source: `run_scripts/reproduce/{os.path.basename(PAPER_TABLE)}`. "
        + "".join(f"{ours} rows repeat the paper's {theirs} rows. " for ours, theirs in PAPER_MODEL_OF.items()
                  if ours in set(paper_summary["model"]))
        + "\n\n"
        + (table2(paper_summary, "seeds") if not paper_summary.empty else "(no model in common)"),
        "## Relative change over Base: ours vs the paper\n\n"
        + _markdown_frame(compare_with_paper(summary, paper), digits=2),
        "## Generated reading\n\n" + reading(summary),
    ]
    if bridge is not None:
        sections.insert(-1, "## Bridge to the paper's numbers: the authors' protocol\n\n"
                        + bridge_section(data, bridge, paper, _markdown_frame))
    gain = soft_label_section(data, output)
    if gain:
        sections.append("## Student gain vs the soft labels (diagnostics)\n\n" + gain)
    if notes:
        with open(notes) as handle:
            sections.append(f"## Notes (from `{notes}`)\n\n" + handle.read().strip())
    sections.append("## Analyses\n\n" + analyses_section(analyses, output))
    sections.append(f"Report machine: {machine_description()}; report generated in "
                    f"{time.time() - start:.1f} s.")
    text = "\n\n".join(sections) + "\n"
    write_atomic(output, text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineParser(prog="make_report.py", description=__doc__)
    parser.add_argument("--results", nargs="+", default=["docs/results/lastfm.csv"])
    parser.add_argument("--analyses", nargs="*", default=["docs/results/analyses"],
                        help="folders holding <analysis>.csv/.png")
    parser.add_argument("--output", default="docs/results.md")
    parser.add_argument("--notes", default=None, help="a Markdown file with the written reading")
    parser.add_argument("--metrics", nargs="+", default=None)
    parser.add_argument("--user_test", choices=("ttest", "wilcoxon"), default="ttest")
    parser.add_argument("--hyper", default=None, help="folder of <Model>/ student-search outputs")
    parser.add_argument("--bridge", nargs="+", default=None,
                        help="results CSVs of the bridge runs (the authors' protocol), any datasets")

    def run() -> None:
        args = parser.parse_args(argv)  # inside exit_code: a usage error is one line, exit 2
        make_report(args.results, args.output, args.analyses, args.notes, args.metrics, args.user_test,
                    command="python run_scripts/make_report.py " + " ".join(argv),
                    hyper=args.hyper, bridge=args.bridge)
        print(f"[make_report] wrote {args.output}")

    return exit_code("make_report", run)
