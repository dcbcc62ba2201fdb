"""Results CSV(s) -> the paper's Table 2: rows = method per dataset, columns = model x metric.

Each cell is the mean ± sample standard deviation (ddof=1) over seeds, in percent; the best
mean of a column (per dataset) is bold. Marks, for a method's improvement only (its mean is
higher), with the paper's thresholds: `**` p<0.05 / `*` p<0.1 against SoftRec, `††` / `†`
against Base; `test="seeds"` uses the paired t-test over seeds, `test="users"` the paired test
over test users (recbole_csrec.benchmark.significance). The CSV output has every p-value.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import pandas as pd

from recbole_csrec.atomic import write_atomic
from recbole_csrec.benchmark.results import read_results
from recbole_csrec.benchmark.significance import USER_TESTS, paired_over_seeds, paired_over_users, stars
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.names import METHOD_ORDER, method_name
from recbole_csrec.overrides import OneLineParser

MODEL_ORDER = ["GRU4Rec", "NextItNet", "NextItNetLastItem", "NARM", "SASRec"]
REFERENCES = {"SoftRec": "*", "Base": "†"}
SHORT = {"recall": "RC", "ndcg": "NG", "recall+": "RC+", "ndcg+": "NG+"}
GROUP = ["dataset", "model", "method"]


def ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + sorted(v for v in seen if v not in preferred)


def load_results(paths: Sequence[str], variant_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of one or more results CSVs, metrics as floats; `method` filled from `teacher`;
    for each (dataset, model, method, seed, *variant_columns) only the last row counts (a rerun
    replaces)."""
    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise CSRecError(f"results file '{path}' does not exist")
        frame = read_results(path)  # also a union-merged file of two widths
        missing = [c for c in ("model", "dataset", "seed") if c not in frame.columns]
        if missing or not ({"teacher", "method"} & set(frame.columns)):
            raise CSRecError(f"results file '{path}' lacks columns {missing or ['teacher or method']}: "
                             "needed are model, dataset, seed, teacher or method, test_<metric>")
        frame["source_dir"] = os.path.dirname(os.path.abspath(path))
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    for col in ("teacher", "method", "per_user_file"):
        if col not in data.columns:
            data[col] = ""
    empty = data["method"] == ""
    data.loc[empty, "method"] = data.loc[empty, "teacher"].map(lambda t: method_name(t) if t else "")
    for col in data.columns:
        if col.startswith(("test_", "valid_")) or col == "seconds":
            data[col] = pd.to_numeric(data[col], errors="coerce")
    data["seed"] = pd.to_numeric(data["seed"], errors="coerce").astype("Int64")
    return data.drop_duplicates(GROUP + ["seed", *variant_columns], keep="last").reset_index(drop=True)


def default_metrics(data: pd.DataFrame) -> list[str]:
    wanted = ["recall@10", "ndcg@10", "recall+@10", "ndcg+@10"]
    return [m for m in wanted if f"test_{m}" in data.columns and data[f"test_{m}"].notna().any()]


def per_user_frames(rows: pd.DataFrame) -> dict[int, pd.DataFrame]:
    frames = {}
    for _, row in rows.iterrows():
        if isinstance(row["per_user_file"], str) and row["per_user_file"]:  # NaN: a file without it
            path = os.path.join(row["source_dir"], row["per_user_file"])
            if os.path.isfile(path):
                frames[int(row["seed"])] = pd.read_csv(path, dtype={"user": str, "target": str})
    return frames


def summarize(data: pd.DataFrame, metrics: Sequence[str] | None = None, user_test: str = "ttest",
              rating_threshold: float = 4.0) -> pd.DataFrame:
    """One row per (dataset, model, method, metric): n seeds, mean, std, best flag and the
    p-values (and pair counts) of both tests against SoftRec and Base."""
    metrics = list(metrics or default_metrics(data))
    for metric in metrics:
        if f"test_{metric}" not in data.columns:
            raise CSRecError(f"metric '{metric}' is not in the results: accepted are "
                             + ", ".join(c[5:] for c in data.columns if c.startswith("test_")))
    users_cache: dict[tuple, dict[int, pd.DataFrame]] = {}

    def frames_of(key: tuple, rows: pd.DataFrame) -> dict[int, pd.DataFrame]:
        if key not in users_cache:
            users_cache[key] = per_user_frames(rows)
        return users_cache[key]

    records = []
    groups = {key: rows for key, rows in data.groupby(GROUP, sort=False)}
    for (dataset, model, method), rows in groups.items():
        for metric in metrics:
            values = rows.set_index("seed")[f"test_{metric}"].dropna()
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            record = {"dataset": dataset, "model": model, "method": method, "metric": metric,
                      "n": int(len(values)), "mean": float(values.mean()) if len(values) else math.nan,
                      "std": std, "seeds": " ".join(str(s) for s in values.index)}
            for ref in REFERENCES:
                ref_rows = groups.get((dataset, model, ref))
                p_s = n_s = p_u = n_u = math.nan
                if ref_rows is not None and ref != method:
                    ref_values = ref_rows.set_index("seed")[f"test_{metric}"].dropna()
                    p_s, n_s = paired_over_seeds(values.to_dict(), ref_values.to_dict())
                    mine = frames_of((dataset, model, method), rows)
                    theirs = frames_of((dataset, model, ref), ref_rows)
                    shared = sorted(set(mine) & set(theirs))
                    if shared:
                        p_u, n_u = paired_over_users([mine[s] for s in shared], [theirs[s] for s in shared],
                                                     metric, rating_threshold, user_test)
                    record[f"mean_{ref}"] = float(ref_values.mean()) if len(ref_values) else math.nan
                record.update({f"p_seeds_vs_{ref}": p_s, f"pairs_seeds_vs_{ref}": n_s,
                               f"p_users_vs_{ref}": p_u, f"pairs_users_vs_{ref}": n_u})
            records.append(record)
    summary = pd.DataFrame(records)
    if summary.empty:
        return summary
    best = summary.groupby(["dataset", "model", "metric"])["mean"].transform("max")
    summary["best"] = summary["mean"] == best
    return summary


def metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    return f"{SHORT.get(name, name)}@{k}" if k else metric


def _cell(row: pd.Series, method: str, test: str, latex: bool, percent: bool) -> str:
    scale = 100.0 if percent else 1.0
    if math.isnan(row["mean"]):
        return "–"
    text = f"{row['mean'] * scale:.3f}"
    if row["best"]:
        text = f"\\textbf{{{text}}}" if latex else f"**{text}**"
    if not math.isnan(row["std"]):
        text += f" $\\pm$ {row['std'] * scale:.3f}" if latex else f" ± {row['std'] * scale:.3f}"
    marks = ""
    for ref, symbol in REFERENCES.items():
        ref_mean = row.get(f"mean_{ref}", math.nan)
        if ref != method and not (isinstance(ref_mean, float) and math.isnan(ref_mean)) \
                and row["mean"] > ref_mean:
            marks += stars(row[f"p_{test}_vs_{ref}"], symbol)
    if marks:
        if latex:
            marks = "$^{" + marks.replace("†", "\\dagger") + "}$"
        else:
            marks = marks.replace("*", "\\*")
        text += marks
    return text


def table2(summary: pd.DataFrame, test: str = "seeds", latex: bool = False, percent: bool = True) -> str:
    """The Table 2 layout as Markdown (default) or a LaTeX tabular."""
    if test not in ("seeds", "users"):
        raise CSRecError(f"test '{test}' is not accepted: use seeds or users")
    models = ordered(summary["model"], MODEL_ORDER)
    metrics = list(dict.fromkeys(summary["metric"]))
    columns = [(m, k) for m in models for k in metrics]
    unit = " (%)" if percent else ""
    index = summary.set_index(["dataset", "method", "model", "metric"])
    lines = []
    if latex:
        lines.append("\\begin{tabular}{ll" + "r" * len(columns) + "}")
        lines.append("\\toprule")
        lines.append(" & & " + " & ".join(f"\\multicolumn{{{len(metrics)}}}{{c}}{{{m}}}" for m in models)
                     + " \\\\")
        lines.append("Dataset & Method & " + " & ".join(metric_label(k) + unit for _, k in columns) + " \\\\")
        lines.append("\\midrule")
    else:
        lines.append("| Dataset | Method | " + " | ".join(f"{m} {metric_label(k)}{unit}" for m, k in columns) + " |")
        lines.append("|---|---|" + "---|" * len(columns))
    for dataset in ordered(summary["dataset"], []):
        methods = ordered(summary.loc[summary["dataset"] == dataset, "method"], METHOD_ORDER)
        for i, method in enumerate(methods):
            cells = []
            for model, metric in columns:
                key = (dataset, method, model, metric)
                cells.append(_cell(index.loc[key], method, test, latex, percent) if key in index.index else "–")
            name = dataset if i == 0 else ""
            if latex:
                lines.append(f"{name} & {method} & " + " & ".join(cells) + " \\\\")
            else:
                lines.append(f"| {name} | {method} | " + " | ".join(cells) + " |")
        if latex:
            lines.append("\\midrule")
    if latex:
        lines[-1] = "\\bottomrule"
        lines.append("\\end{tabular}")
    return "\n".join(lines)


def legend(test: str, user_test: str = "ttest") -> str:
    how = ("paired t-test over seeds (scipy.stats.ttest_rel)" if test == "seeds" else
           f"paired {'t-test' if user_test == 'ttest' else 'Wilcoxon signed-rank test'} over test "
           f"users (scipy.stats.{'ttest_rel' if user_test == 'ttest' else 'wilcoxon'}; per-user "
           "values averaged over shared seeds)")
    return (f"Mean ± std (ddof=1) over seeds, in %. Bold: best of the column per dataset. "
            f"\\*\\* / \\* : improvement over SoftRec with p<0.05 / p<0.1; †† / † : the same over Base; "
            f"{how}, two-sided.")


def write_tables(paths: Sequence[str], stem: str, metrics: Sequence[str] | None = None,
                 user_test: str = "ttest", rating_threshold: float = 4.0) -> str:
    """Write `<stem>.csv` (summary with p-values), `<stem>.md` and `<stem>.tex` (one table per
    test) atomically; returns the Markdown."""
    from recbole_csrec.benchmark.results import write_frame

    summary = summarize(load_results(paths), metrics, user_test, rating_threshold)
    if summary.empty:
        return "(no results yet)"
    write_frame(stem + ".csv", summary)
    markdown = "\n\n".join(f"{legend(t, user_test)}\n\n{table2(summary, t)}" for t in ("seeds", "users"))
    latex = "\n\n".join("% " + legend(t, user_test).replace("\\*", "*") + "\n"
                         + table2(summary, t, latex=True) for t in ("seeds", "users"))
    write_atomic(stem + ".md", markdown + "\n")
    write_atomic(stem + ".tex", latex + "\n")
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="aggregate.py", description="Results CSV(s) -> Table 2 "
                                     "(Markdown, LaTeX, CSV) with paired significance tests.")
    parser.add_argument("results", nargs="+", help="results CSV files (ours and/or a user's RecBole rows)")
    parser.add_argument("--output", default=None, help="output stem (default: <first CSV>_table2)")
    parser.add_argument("--metrics", nargs="+", default=None, help="e.g. recall@10 ndcg@10")
    parser.add_argument("--user_test", choices=USER_TESTS, default="ttest")
    parser.add_argument("--rating_threshold", type=float, default=4.0, help="for Recall+/NDCG+")

    def run() -> None:
        args = parser.parse_args(argv)  # inside exit_code: a usage error is one line, exit 2
        stem = args.output or os.path.splitext(args.results[0])[0] + "_table2"
        print(write_tables(args.results, stem, args.metrics, args.user_test, args.rating_threshold))

    return exit_code("aggregate", run)
