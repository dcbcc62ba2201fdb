"""The paper's analyses, each one command that writes `<output>/<name>.csv` and `<name>.png`.

From the per-user files of finished benchmark runs (no training):
  popularity   popular-type vs niche-type users: is the next item among the 20% most frequent
               training items (Fig. 1 / 3)
  length       by input sequence length bucket (Fig. 4a)
From their own runs (resumable, kept in `<output>/<name>_runs.csv` like benchmark results):
  sparsity     a proportion of users removed from the dataset (Fig. 4b)
  num_teachers m = 1..4 (Fig. 5)
  sample_ratio p = 0.5..0.9 (Fig. 6)
  expectation  CSRec-T with / without the expectation term (`expectation_term`, Fig. 7)
Values are means over seeds (error bars: std over seeds) of the test metric.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from recbole_csrec.atomic import atomic_file
from recbole_csrec.benchmark.aggregate import load_results, ordered, per_user_frames
from recbole_csrec.benchmark.results import read_results, write_frame
from recbole_csrec.benchmark.runner import (check_extra_argv, check_teachers,
                                            registered_teachers, run_benchmark, split_files)
from recbole_csrec.data.drop_users import drop_users_copy
from recbole_csrec.evaluation import parse_metric, per_user_metric
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.names import METHOD_ORDER, method_name
from recbole_csrec.overrides import OneLineParser, recbole_argv

from .group_tests import group_tests, with_tests

SWEEPS = {  # name -> (config key, default values, default swept teachers, x label)
    "num_teachers": ("num_teachers", ["1", "2", "3", "4"], ["model", "data"], "number of teachers m"),
    "sample_ratio": ("sample_ratio", ["0.5", "0.6", "0.7", "0.8", "0.9"], ["data"], "sub-sampling ratio p"),
    "expectation": ("expectation_term", ["True", "False"], ["training"], "expectation term"),
    "sparsity": ("drop_users", ["0.0", "0.1", "0.2", "0.3"], ["none", "pop", "model", "data"],
                 "share of users removed"),
}


def pyplot():
    """matplotlib's pyplot (headless); only reports draw, so it is an extra: recbole-csrec[plots]."""
    try:
        import matplotlib
    except ImportError:
        raise CSRecError("plots need matplotlib, an optional extra: pip install 'recbole-csrec[plots]' "
                         "(or pip install matplotlib)") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str) -> None:
    """Atomic, like every output: render to a temp name, then rename."""
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")


# --- analyses over per-user files ---------------------------------------------------------

def grouped_user_metric(data: pd.DataFrame, group_of: Callable[[pd.DataFrame], pd.Series], metric: str,
                        rating_threshold: float = 4.0) -> pd.DataFrame:
    """Per (dataset, model, method, group): the metric over the group's test rows, per seed,
    then mean and std over seeds."""
    parse_metric(metric)
    records = []
    for (dataset, model, method), rows in data.groupby(["dataset", "model", "method"], sort=False):
        for seed, frame in per_user_frames(rows).items():
            values = per_user_metric(frame, metric, rating_threshold)
            groups = group_of(frame).loc[values.index]
            for group, vals in values.groupby(groups, sort=False):
                records.append({"dataset": dataset, "model": model, "method": method, "seed": seed,
                                "group": group, "value": float(vals.mean()), "users": int(len(vals))})
    if not records:
        raise CSRecError("no per-user files found for these results: run them with "
                         "run_scripts/benchmark.py, which keeps them")
    per_seed = pd.DataFrame(records)
    out = per_seed.groupby(["dataset", "model", "method", "group"], sort=False).agg(
        value=("value", "mean"), std=("value", "std"), users=("users", "mean"), seeds=("seed", "nunique"))
    out = out.reset_index()
    out.insert(4, "metric", metric)
    return out


def _plot_groups(frame: pd.DataFrame, path: str, xlabel: str, kind: str, group_order: Sequence[str]) -> None:
    """One panel per (dataset, model), one row of panels per metric of the frame."""
    plt = pyplot()
    panels = list(dict.fromkeys(zip(frame["dataset"], frame["model"])))
    metrics = list(dict.fromkeys(frame["metric"]))
    fig, axes = plt.subplots(len(metrics), len(panels), figsize=(5 * len(panels), 3.6 * len(metrics)),
                             squeeze=False)
    for row, metric in enumerate(metrics):
        for ax, (dataset, model) in zip(axes[row], panels):
            sub = frame[(frame["dataset"] == dataset) & (frame["model"] == model) & (frame["metric"] == metric)]
            methods = ordered(sub["method"], METHOD_ORDER)
            x = np.arange(len(group_order))
            width = 0.8 / max(1, len(methods))
            for i, method in enumerate(methods):
                rows = sub[sub["method"] == method].set_index("group").reindex(group_order)
                if kind == "bar":
                    ax.bar(x + i * width - 0.4 + width / 2, rows["value"], width,
                           yerr=rows["std"].fillna(0), label=method, capsize=2)
                else:
                    ax.errorbar(x, rows["value"], yerr=rows["std"].fillna(0), marker="o", capsize=2, label=method)
            ax.set_xticks(x, group_order)
            if row == 0:
                ax.set_title(f"{model} on {dataset}")
            if row == len(metrics) - 1:
                ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def _grouped_metrics(data: pd.DataFrame, group_of: Callable[[pd.DataFrame], pd.Series],
                     metrics: str | Sequence[str], rating_threshold: float) -> pd.DataFrame:
    """grouped_user_metric for each metric, stacked (a `metric` column tells them apart)."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    return pd.concat([grouped_user_metric(data, group_of, m, rating_threshold) for m in metrics],
                     ignore_index=True)


def popularity_analysis(results: Sequence[str], output: str, metric: str | Sequence[str] = "ndcg@10",
                        rating_threshold: float = 4.0) -> pd.DataFrame:
    data = load_results(results)

    def user_type(frame: pd.DataFrame) -> pd.Series:
        return frame["popular"].astype(str).str.lower().map({"true": "popular", "false": "niche"})

    frame = _grouped_metrics(data, user_type, metric, rating_threshold)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    frame = with_tests(frame, group_tests(data, user_type, metrics, rating_threshold))
    write_frame(os.path.join(output, "popularity.csv"), frame)
    _plot_groups(frame, os.path.join(output, "popularity.png"),
                 "user type (next item in the top 20% of training items?)", "bar", ["popular", "niche"])
    return frame


def length_buckets(lengths: pd.Series, edges: Sequence[int]) -> pd.Series:
    """'1-5', '6-10', ..., '>20' for edges 5 10 20."""
    edges = sorted(int(e) for e in edges)
    labels, low = [], 1
    for edge in edges:
        labels.append(f"{low}-{edge}")
        low = edge + 1
    labels.append(f">{edges[-1]}")
    bins = [0] + edges + [np.inf]
    return pd.cut(lengths, bins=bins, labels=labels, right=True).astype(str)


def length_analysis(results: Sequence[str], output: str, metric: str | Sequence[str] = "ndcg@10",
                    edges: Sequence[int] = (5, 10, 15), rating_threshold: float = 4.0) -> pd.DataFrame:
    data = load_results(results)
    frame = _grouped_metrics(data, lambda f: length_buckets(f["length"], edges), metric, rating_threshold)
    order = [b for b in length_buckets(pd.Series(range(1, max(edges) + 2)), edges).unique()]
    frame = frame[frame["group"].isin(order)]
    write_frame(os.path.join(output, "length.csv"), frame)
    _plot_groups(frame, os.path.join(output, "length.png"), "input sequence length", "line", order)
    return frame


# --- sweeps (own runs) ---------------------------------------------------------------------

def run_sweep(name: str, model: str, dataset: str, seeds: Sequence[int], output: str,
              values: Sequence[str] | None = None, teachers: Sequence[str] | None = None,
              baselines: Sequence[str] = (), config_files: Sequence[str] | None = None,
              extra_argv: Sequence[str] = (), drop_seed: int = 0, metric: str = "ndcg@10",
              run_fn=None, summarize_only: bool = False) -> pd.DataFrame:
    """Run (resumably) every swept teacher at every value, plus unswept `baselines` once per
    seed, then write `<name>.csv` (mean/std over seeds per method and value) and `<name>.png`.
    With `summarize_only`, train nothing: summarize the runs already in `<name>_runs.csv` (a
    sweep stopped part-way reports the values it finished; the others stay empty)."""
    key, default_values, default_teachers, xlabel = SWEEPS[name]
    values = [str(v) for v in (values or default_values)]
    teachers = list(teachers or default_teachers)
    if name == "expectation" and "training" not in registered_teachers():
        raise CSRecError("the expectation analysis needs CSRec-T, but teacher 'training' is not "
                         f"registered: accepted teachers are {', '.join(registered_teachers())}")
    check_teachers(list(teachers) + list(baselines))
    check_extra_argv(extra_argv, reserved=("model", "dataset", "teacher", "seed", key))
    parse_metric(metric)
    config_files = list(config_files or [])
    runs_csv = os.path.join(output, f"{name}_runs.csv")
    if summarize_only:
        if not os.path.isfile(runs_csv):
            raise CSRecError(f"nothing to summarize: {runs_csv} does not exist (run the sweep "
                             "without --summarize_only first)")
        return _write_summary(name, model, dataset, runs_csv, output, values, metric, xlabel)
    kwargs: dict[str, Any] = {"config_files": config_files, "extra_argv": extra_argv}
    if run_fn is not None:
        kwargs["run_fn"] = run_fn
    base_config = None
    for value in values:
        config_dict: dict[str, Any] = {}
        columns: dict[str, Any] = {"sweep": name, "sweep_key": key, "sweep_value": value}
        hash_settings = None
        if name == "sparsity":
            base_config = base_config or _resolved_config(model, dataset, config_files, extra_argv)
            data_path, sparsity = drop_users_copy(base_config, float(value), drop_seed,
                                                  os.path.join(output, "sparsity_data"))
            config_dict["data_path"] = data_path
            hash_settings = {"drop_users": float(value), "drop_seed": drop_seed}
            columns["sparsity"] = sparsity
        else:
            config_dict[key] = _typed(value)
        run_benchmark([model], [dataset], teachers, seeds, runs_csv, config_dict=config_dict,
                      hash_settings=hash_settings, extra_columns=columns, **kwargs)
    if baselines:
        run_benchmark([model], [dataset], list(baselines), seeds, runs_csv,
                      extra_columns={"sweep": name, "sweep_key": key, "sweep_value": ""}, **kwargs)
    return _write_summary(name, model, dataset, runs_csv, output, values, metric, xlabel)


def _write_summary(name: str, model: str, dataset: str, runs_csv: str, output: str,
                   values: Sequence[str], metric: str, xlabel: str) -> pd.DataFrame:
    frame = sweep_summary(runs_csv, model, dataset, values, metric)
    write_frame(os.path.join(output, f"{name}.csv"), frame)
    plot_sweep(frame, os.path.join(output, f"{name}.png"), metric, xlabel, values, f"{model} on {dataset}")
    return frame


def _typed(value: str) -> Any:
    if value in ("True", "False"):
        return value == "True"
    try:
        return int(value)
    except ValueError:
        return float(value)


def _resolved_config(model: str, dataset: str, config_files: Sequence[str], extra_argv: Sequence[str]):
    from recbole_csrec.data import ensure_dataset_files
    from recbole_csrec.quick_start import build_configs

    with recbole_argv(extra_argv):
        config, _ = build_configs(model, dataset, "none", config_files or None, {})
    ensure_dataset_files(config)
    return config


def sweep_summary(runs_csv: str, model: str, dataset: str, values: Sequence[str], metric: str) -> pd.DataFrame:
    """Mean and std over seeds of test_<metric> per (method, sweep value)."""
    data = read_results(runs_csv)  # sweep lanes append and merge like the tables
    data = data[(data["model"] == model) & (data["dataset"] == dataset)
                & (data["sweep_value"].isin(list(values) + [""]))]
    data = data.drop_duplicates(["teacher", "seed", "sweep_value"], keep="last")
    column = f"test_{metric}"
    if column not in data.columns:
        raise CSRecError(f"metric '{metric}' is not in {runs_csv}")
    data = data.assign(value=pd.to_numeric(data[column], errors="coerce"),
                       method=data["teacher"].map(method_name))
    extra = {"sparsity": ("sparsity", "first")} if "sparsity" in data.columns else {}
    if extra:
        data["sparsity"] = pd.to_numeric(data["sparsity"], errors="coerce")
    out = data.groupby(["method", "sweep_value"], sort=False).agg(
        mean=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique"), **extra).reset_index()
    # rows in the sweep's order (methods as in Table 2, values as given), not in the order that
    # runs landed: lanes finishing out of order would otherwise list m = 1, 3, 2, 4
    value_rank = {value: i for i, value in enumerate(values)}
    method_rank = {method: i for i, method in enumerate(ordered(out["method"], METHOD_ORDER))}
    out = (out.assign(_method=out["method"].map(method_rank),
                      _value=out["sweep_value"].map(value_rank).fillna(len(value_rank)))
           .sort_values(["_method", "_value"], kind="stable").drop(columns=["_method", "_value"])
           .reset_index(drop=True))
    out.insert(0, "dataset", dataset)
    out.insert(1, "model", model)
    out.insert(4, "metric", metric)
    return out


def plot_sweep(frame: pd.DataFrame, path: str, metric: str, xlabel: str, values: Sequence[str],
               title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = np.arange(len(values))
    for method in ordered(frame["method"], METHOD_ORDER):
        rows = frame[frame["method"] == method]
        swept = rows[rows["sweep_value"] != ""].set_index("sweep_value").reindex(values)
        if swept["mean"].notna().any():
            ax.errorbar(x, swept["mean"], yerr=swept["std"].fillna(0), marker="o", capsize=2, label=method)
        base = rows[rows["sweep_value"] == ""]
        if len(base):
            ax.axhline(float(base["mean"].iloc[0]), linestyle="--", linewidth=1, label=f"{method}", color=None)
    labels = list(values)
    if "sparsity" in frame.columns:
        sp = frame.dropna(subset=["sparsity"]).drop_duplicates("sweep_value").set_index("sweep_value")["sparsity"]
        labels = [f"{v}\n({100 * sp[v]:.1f}% sparse)" if v in sp.index else v for v in values]
    ax.set_xticks(x, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_png(fig, path)
    plt.close(fig)


# --- command line ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="analyze.py", allow_abbrev=False, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="analysis", required=True)
    for name in ("popularity", "length"):
        p = sub.add_parser(name, help=f"{name} analysis from benchmark per-user files")
        p.add_argument("--results", nargs="+", required=True, help="benchmark results CSV(s)")
        p.add_argument("--output", default="results/analyses")
        p.add_argument("--metric", nargs="+", default=["ndcg@10"],
                       help="one or more metrics, e.g. recall@10 ndcg@10 (a row of plots each)")
        p.add_argument("--rating_threshold", type=float, default=4.0)
        if name == "length":
            p.add_argument("--bins", nargs="+", type=int, default=[5, 10, 15],
                           help="upper edges of the length buckets (default 5 10 15)")
    for name, (key, values, teachers, _) in SWEEPS.items():
        p = sub.add_parser(name, help=f"sweep {key} over {' '.join(values)}")
        p.add_argument("--model", default="GRU4Rec")
        p.add_argument("--dataset", default="ml")
        p.add_argument("--seeds", nargs="+", type=int, default=[2020])
        p.add_argument("--values", nargs="+", default=None, help=f"default: {' '.join(values)}")
        p.add_argument("--teachers", nargs="+", default=None, help=f"swept teachers (default: {' '.join(teachers)})")
        p.add_argument("--baselines", nargs="+", default=[], help="unswept reference teachers, e.g. none pop")
        p.add_argument("--config_files", nargs="+", default=None)
        p.add_argument("--output", default="results/analyses")
        p.add_argument("--metric", default="ndcg@10")
        p.add_argument("--summarize_only", action="store_true",
                       help="train nothing: write the summary from the runs already in <name>_runs.csv")
        if name == "sparsity":
            p.add_argument("--drop_seed", type=int, default=0, help="seed of the removed users")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def run() -> None:
        args, extra = build_parser().parse_known_args(argv)
        if args.analysis in ("popularity", "length"):
            if extra:
                raise CSRecError(f"unknown arguments {' '.join(extra)} for '{args.analysis}'")
            if args.analysis == "popularity":
                frame = popularity_analysis(args.results, args.output, args.metric, args.rating_threshold)
            else:
                frame = length_analysis(args.results, args.output, args.metric, args.bins,
                                        args.rating_threshold)
        else:
            frame = run_sweep(args.analysis, args.model, args.dataset, args.seeds, args.output,
                              args.values, args.teachers, args.baselines, split_files(args.config_files),
                              extra, drop_seed=getattr(args, "drop_seed", 0), metric=args.metric,
                              summarize_only=args.summarize_only)
        print(frame.to_string(index=False))
        print(f"[analyze] wrote {os.path.join(args.output, args.analysis)}.csv and .png")

    return exit_code("analyze", run)
