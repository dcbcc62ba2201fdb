"""Student gain over Base against what its soft labels look like (the results' `diag_` columns).

For every run with diagnostics (recbole_csrec/soft_labels/diagnostics.py) and a Base run of the
same dataset, model and seed: the relative gain in a test metric (default NDCG@10) over that
Base run, beside the soft labels' popularity mass and entropy. The report plots it per model
and method and says in one generated sentence what the rank correlations show.
"""
from __future__ import annotations

import math

import pandas as pd

from recbole_csrec.benchmark.aggregate import ordered
from .analyses import pyplot, save_png
from recbole_csrec.names import METHOD_ORDER

# x axes: results column -> label
FIGURES = {"diag_ensemble_popular_mass": "popularity mass of softmax(e_u/T)",
           "diag_ensemble_entropy": "entropy of softmax(e_u/T)"}
POP_MASS = "diag_pop_popular_mass"  # SoftRec's distribution, the reference for the mass
KEYS = ["dataset", "model", "seed"]
MIN_RUNS = 3  # fewer points give no rank correlation worth a sentence


def gain_frame(data: pd.DataFrame, metric: str = "ndcg@10") -> pd.DataFrame:
    """One row per non-Base run that has the diagnostics and a Base run of the same dataset,
    model and seed: dataset, model, method, seed, gain (test metric / Base's - 1), the FIGURES
    columns and SoftRec's popularity mass. Empty when the data has no `diag_` columns."""
    columns = ["dataset", "model", "method", "seed", "gain", *FIGURES, POP_MASS]
    test = f"test_{metric}"
    if not set(FIGURES) <= set(data.columns) or test not in data.columns:
        return pd.DataFrame(columns=columns)
    data = data.copy()
    for col in [*FIGURES, POP_MASS, test]:
        data[col] = pd.to_numeric(data[col], errors="coerce") if col in data.columns else math.nan
    base = data[data["method"] == "Base"].set_index(KEYS)[test].rename("base")
    base = base[~base.index.duplicated(keep="last")]
    runs = data[(data["method"] != "Base") & data[list(FIGURES)].notna().all(axis=1)]
    runs = runs.join(base, on=KEYS, how="inner")
    runs = runs[runs["base"] > 0]
    runs["gain"] = runs[test] / runs["base"] - 1
    return runs[columns].reset_index(drop=True)


def plot_gain(frame: pd.DataFrame, path: str, metric: str = "ndcg@10") -> None:
    """Two panels (popularity mass, entropy); colour = method, marker = model; SoftRec's
    popularity mass as a dotted line."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(FIGURES), figsize=(5 * len(FIGURES), 3.8), sharey=True)
    methods = ordered(frame["method"], METHOD_ORDER)
    models = list(dict.fromkeys(frame["model"]))
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    markers = {m: "osD^vP*X"[i % 8] for i, m in enumerate(models)}
    for ax, (column, label) in zip(axes, FIGURES.items()):
        for (method, model), sub in frame.groupby(["method", "model"], sort=False):
            ax.scatter(sub[column], 100 * sub["gain"], color=colours[method], marker=markers[model],
                       label=f"{method}, {model}", alpha=0.8)
        if column == "diag_ensemble_popular_mass" and frame[POP_MASS].notna().any():
            ax.axvline(frame[POP_MASS].mean(), color="grey", linestyle=":", label="SoftRec's labels")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel(label)
    axes[0].set_ylabel(f"test {metric} gain over Base (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def _rho(frame: pd.DataFrame, column: str) -> float:
    if len(frame) < MIN_RUNS or frame[column].nunique() < 2 or frame["gain"].nunique() < 2:
        return math.nan
    return float(frame[column].corr(frame["gain"], method="spearman"))


def _reading(rho: float, what: str) -> str:
    if math.isnan(rho):
        return f"{what} cannot be related to it (no spread)"
    if abs(rho) < 0.3:
        return f"{what} hardly orders the gains (Spearman rho = {rho:+.2f})"
    return f"{what} goes with {'larger' if rho > 0 else 'smaller'} gains (Spearman rho = {rho:+.2f})"


def gain_sentence(frame: pd.DataFrame, metric: str = "ndcg@10") -> str:
    """The plot's generated sentence (Spearman rank correlations over all plotted runs)."""
    if len(frame) < MIN_RUNS:
        return (f"Only {len(frame)} run(s) with diagnostics and a matching Base run: too few "
                f"(at least {MIN_RUNS}) to relate the gain to the soft labels.")
    mass = _reading(_rho(frame, "diag_ensemble_popular_mass"),
                    f"a larger soft-label mass on the 20% most popular training items (SoftRec's "
                    f"labels: {frame[POP_MASS].mean():.3f})")
    entropy = _reading(_rho(frame, "diag_ensemble_entropy"), "a higher soft-label entropy (flatter labels)")
    return (f"Over {len(frame)} runs ({', '.join(ordered(frame['method'], METHOD_ORDER))} on "
            f"{', '.join(dict.fromkeys(frame['model']))}), for the student's relative test {metric} gain "
            f"over Base (same model, dataset and seed): {mass}; {entropy}. Rank correlations over runs "
            f"of different models and datasets: a pattern to check, not a cause.")


def gain_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, model and method: runs, mean gain (%), mean popularity mass and entropy."""
    return frame.groupby(["dataset", "model", "method"], sort=False).agg(
        runs=("gain", "size"), gain_pct=("gain", lambda g: 100 * g.mean()),
        popular_mass=("diag_ensemble_popular_mass", "mean"), entropy=("diag_ensemble_entropy", "mean"),
        softrec_popular_mass=(POP_MASS, "mean")).reset_index()
