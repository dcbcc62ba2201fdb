"""Benchmark suite: results file (append, resume), Table 2 aggregation and significance."""
from __future__ import annotations

import math
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from recbole_csrec.benchmark.aggregate import load_results, summarize, table2, write_tables
from recbole_csrec.benchmark.results import append_rows, config_hash, done_keys, read_results
from recbole_csrec.benchmark.runner import main as benchmark_main, run_benchmark
from recbole_csrec.errors import CSRecError
from recbole_csrec.evaluation import per_user_metric
from tests.conftest import TINY_NAME, fast_config

# --- a crafted results file: 1 dataset, 1 model, 3 methods, 3 seeds -----------------------
NDCG = {"Base": [0.10, 0.12, 0.11], "SoftRec": [0.13, 0.14, 0.135], "CSRec-M": [0.15, 0.175, 0.158]}
RECALL = {"Base": [0.20, 0.22, 0.21], "SoftRec": [0.20, 0.25, 0.21], "CSRec-M": [0.19, 0.23, 0.22]}
SEEDS = [1, 2, 3]
TEACHER = {"Base": "none", "SoftRec": "pop", "CSRec-M": "model"}


def _ranks(method: str, seed: int, users: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(100 * seed + len(method))
    shift = {"Base": 6, "SoftRec": 4, "CSRec-M": 1}[method]
    ranks = rng.integers(1, 15, size=users) + shift
    return pd.DataFrame({"row": range(users), "user": [str(u) for u in range(users)],
                         "target": [str(u % 7) for u in range(users)], "length": (np.arange(users) % 9) + 1,
                         "rating": (np.arange(users) % 5) + 1.0, "rank": ranks,
                         "target_count": np.arange(users), "popular": np.arange(users) % 3 == 0})


def write_crafted(folder) -> str:
    rows = []
    os.makedirs(folder / "per_user", exist_ok=True)
    for method in NDCG:
        for i, seed in enumerate(SEEDS):
            name = f"per_user/{method}-{seed}.csv.gz"
            _ranks(method, seed).to_csv(folder / name, index=False, compression="gzip")
            rows.append({"model": "GRU4Rec", "dataset": "lastfm", "teacher": TEACHER[method], "seed": seed,
                         "test_ndcg@10": NDCG[method][i], "test_recall@10": RECALL[method][i],
                         "per_user_file": name})
    path = folder / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_summary_means_std_and_pvalues_match_scipy(tmp_path):
    path = write_crafted(tmp_path)
    summary = summarize(load_results([path]), ["ndcg@10", "recall@10"]).set_index(["method", "metric"])
    row = summary.loc[("CSRec-M", "ndcg@10")]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(np.mean(NDCG["CSRec-M"]))
    assert row["std"] == pytest.approx(np.std(NDCG["CSRec-M"], ddof=1))
    assert row["p_seeds_vs_SoftRec"] == pytest.approx(stats.ttest_rel(NDCG["CSRec-M"], NDCG["SoftRec"]).pvalue)
    assert row["p_seeds_vs_Base"] == pytest.approx(stats.ttest_rel(NDCG["CSRec-M"], NDCG["Base"]).pvalue)
    # over users: each user's NDCG@10 averaged over the three seeds, then a paired t-test
    mine = np.mean([per_user_metric(_ranks("CSRec-M", s), "ndcg@10") for s in SEEDS], axis=0)
    base = np.mean([per_user_metric(_ranks("Base", s), "ndcg@10") for s in SEEDS], axis=0)
    assert row["p_users_vs_Base"] == pytest.approx(stats.ttest_rel(mine, base).pvalue)
    assert row["pairs_users_vs_Base"] == 30
    assert bool(row["best"])
    assert not bool(summary.loc[("CSRec-M", "recall@10"), "best"])  # SoftRec's recall is higher
    assert math.isnan(summary.loc[("Base", "ndcg@10"), "p_seeds_vs_Base"])


def test_table2_marks_bold_and_significance(tmp_path):
    path = write_crafted(tmp_path)
    summary = summarize(load_results([path]), ["recall@10", "ndcg@10"])
    md = table2(summary, "seeds")
    line = next(l for l in md.splitlines() if "CSRec-M" in l)
    p_soft = stats.ttest_rel(NDCG["CSRec-M"], NDCG["SoftRec"]).pvalue
    p_base = stats.ttest_rel(NDCG["CSRec-M"], NDCG["Base"]).pvalue
    expected = (r"\*\*" if p_soft < 0.05 else r"\*" if p_soft < 0.1 else "") + \
               ("††" if p_base < 0.05 else "†" if p_base < 0.1 else "")
    assert expected and f"**{100 * np.mean(NDCG['CSRec-M']):.3f}** ± " \
                         f"{100 * np.std(NDCG['CSRec-M'], ddof=1):.3f}{expected}" in line
    assert "| lastfm | Base |" in md and "GRU4Rec RC@10 (%)" in md
    tex = table2(summary, "users", latex=True)
    assert "\\textbf{" in tex and tex.strip().endswith("\\end{tabular}")
    stem = str(tmp_path / "t2")
    write_tables([path], stem, ["recall@10", "ndcg@10"])
    for ext in (".md", ".tex", ".csv"):
        assert os.path.getsize(stem + ext) > 0


def test_user_recbole_rows_with_method_column(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame({"model": ["SASRec"] * 2, "dataset": ["ml"] * 2, "method": ["Base"] * 2, "seed": [1, 2],
                  "test_ndcg@10": [0.1, 0.2]}).to_csv(path, index=False)
    summary = summarize(load_results([str(path)]), ["ndcg@10"])
    assert summary.loc[0, "mean"] == pytest.approx(0.15)
    with pytest.raises(CSRecError, match="ndcg@20"):
        summarize(load_results([str(path)]), ["ndcg@20"])


# --- the runner: append, resume --------------------------------------------------------------
class FakeRuns:
    def __init__(self):
        self.calls = []

    def __call__(self, model, dataset, teacher, config_file_list, config_dict, per_user):
        self.calls.append((model, teacher, config_dict["seed"]))
        frame = _ranks("Base", config_dict["seed"], users=5)
        return {"best_valid_result": {"ndcg@10": 0.1}, "test_result": {"ndcg@10": 0.2, "recall@10": 0.3},
                "phases": {"student": {"epochs": 1, "best_epoch": 0}}, "per_user": frame}


def test_append_keeps_existing_rows(tmp_path):
    path = tmp_path / "results.csv"
    existing = "model,dataset,method,seed,test_ndcg@10,note\nSASRec,ml,Base,7,0.123456789,\"my, run\"\n"
    path.write_text(existing)
    run_benchmark(["GRU4Rec"], ["ml"], ["none", "pop"], [1], str(path), run_fn=FakeRuns())
    frame = read_results(str(path))
    assert len(frame) == 3
    assert frame.iloc[0][["model", "test_ndcg@10", "note", "seed"]].tolist() == ["SASRec", "0.123456789",
                                                                                "my, run", "7"]
    assert list(frame.columns[:6]) == ["model", "dataset", "method", "seed", "test_ndcg@10", "note"]
    assert frame.iloc[1]["teacher"] == "none" and frame.iloc[2]["method"] == "SoftRec"
    per_user = pd.read_csv(tmp_path / frame.iloc[2]["per_user_file"])
    assert len(per_user) == 5
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp file left


def test_union_merge_of_two_widths_reads_each_row_once(tmp_path):
    """Two lanes append to one results file on their own branches; one row adds `diag_` columns, so
    its branch rewrites every row wider, and git's union merge keeps both versions with a second
    header. read_results gives each run once (its widest form, in first-seen order); the next
    append writes one header again."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    row = {"model": "GRU4Rec", "dataset": "yelp", "method": "Base", "seed": "1", "config_hash": "h",
           "test_ndcg@10": "0.1", "phases": '{"student":{"epochs":3}}'}
    path = str(tmp_path / "results.csv")
    git("init", "-q", "-b", "main")
    (tmp_path / ".gitattributes").write_text("*.csv merge=union\n")
    append_rows(path, [{**row, "teacher": "none"}])
    git("add", "-A"); git("commit", "-qm", "base")
    git("checkout", "-qb", "wide")
    append_rows(path, [{**row, "teacher": "training", "method": "CSRec-T", "diag_noise": "0.2"}])
    git("commit", "-qam", "wide row")
    git("checkout", "-q", "main"); git("checkout", "-qb", "narrow")
    append_rows(path, [{**row, "teacher": "model", "method": "CSRec-M"}])
    git("commit", "-qam", "narrow row")
    git("checkout", "-q", "main"); git("merge", "-q", "wide"); git("merge", "-q", "--no-edit", "narrow")
    assert open(path).read().count("model,dataset,") == 2  # what the union merge leaves

    frame = read_results(path)
    assert frame["method"].tolist() == ["Base", "CSRec-T", "CSRec-M"]
    assert frame["diag_noise"].tolist() == ["", "0.2", ""] and frame["phases"].nunique() == 1
    assert load_results([path])["method"].tolist() == ["Base", "CSRec-T", "CSRec-M"]
    append_rows(path, [{**row, "teacher": "pop", "method": "SoftRec"}])
    assert open(path).read().count("model,dataset,") == 1
    assert read_results(path)["method"].tolist() == ["Base", "CSRec-T", "CSRec-M", "SoftRec"]


def test_resume_skips_finished_rows(tmp_path):
    out = str(tmp_path / "res")
    fake = FakeRuns()
    first = run_benchmark(["GRU4Rec"], ["ml"], ["none", "model"], [1, 2], out, run_fn=fake)
    assert first["ran"] == 4 and len(fake.calls) == 4
    again = run_benchmark(["GRU4Rec"], ["ml"], ["none", "model"], [1, 2, 3], out, run_fn=fake)
    assert again == {"ran": 2, "skipped": 4, "failed": 0}
    assert fake.calls[4:] == [("GRU4Rec", "none", 3), ("GRU4Rec", "model", 3)]
    # a different setting is a different config hash: it runs again
    changed = run_benchmark(["GRU4Rec"], ["ml"], ["none"], [1], out, run_fn=fake, extra_argv=["--beta=0.25"])
    assert changed["ran"] == 1
    assert len(read_results(os.path.join(out, "results.csv"))) == 7


def test_where_files_go_is_not_part_of_a_runs_identity(tmp_path):
    out = str(tmp_path / "res")
    fake = FakeRuns()
    here = ["--beta=0.5", "--teacher_store=/a/store", "--checkpoint_dir=/a/saved"]
    there = ["--beta=0.5", "--teacher_store=/b/store", "--checkpoint_dir=/b/saved"]
    run_benchmark(["GRU4Rec"], ["ml"], ["none"], [1], out, run_fn=fake, extra_argv=here)
    moved = run_benchmark(["GRU4Rec"], ["ml"], ["none"], [1], out, run_fn=fake, extra_argv=there)
    assert moved == {"ran": 0, "skipped": 1, "failed": 0}
    assert run_benchmark(["GRU4Rec"], ["ml"], ["none"], [1], out, run_fn=fake,
                         extra_argv=["--beta=0.25", "--teacher_store=/b/store"])["ran"] == 1
    # a row landed when the hash still held the store path is found by its old hash too
    csv_path = os.path.join(out, "results.csv")
    frame = read_results(csv_path).iloc[:1].copy()
    frame["config_hash"] = config_hash(None, {"config_dict": {}, "argv": sorted(here)})
    frame["seed"] = "2"
    frame.to_csv(csv_path, mode="a", header=False, index=False)
    assert run_benchmark(["GRU4Rec"], ["ml"], ["none"], [2], out, run_fn=fake, extra_argv=here)["skipped"] == 1
    assert len(fake.calls) == 2


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert benchmark_main(["--teachers", "nope", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown teacher 'nope'" in err and "none, pop, model, data" in err
    assert benchmark_main(["--seed=3", "--output", str(tmp_path)]) == 2
    assert not os.path.exists(tmp_path / "results.csv")


def test_real_tiny_run_keeps_per_user_ranks(tiny_data, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(fast_config(tiny_data)))
    out = str(tmp_path / "bench")
    code = benchmark_main(["--models", "GRU4Rec", "--teachers", "none", "--datasets", TINY_NAME,
                           "--seeds", "5", "--config_files", str(config), "--output", out])
    assert code == 0
    row = read_results(os.path.join(out, "results.csv")).iloc[0]
    per_user = pd.read_csv(os.path.join(out, row["per_user_file"]))
    assert len(per_user) == 40  # one test row per tiny user
    assert per_user_metric(per_user, "recall@10").mean() == pytest.approx(float(row["test_recall@10"]), abs=1e-4)
    assert per_user_metric(per_user, "ndcg@10").mean() == pytest.approx(float(row["test_ndcg@10"]), abs=1e-4)
    assert os.path.getsize(os.path.join(out, "results_table2.md")) > 0
    # the run's own peak RSS: at least this process's size when it began, and a plausible number
    assert 100 < float(row["peak_rss_mb"]) < 64 * 1024
    assert row["stopped_early"] == str(int(row["epochs"]) < fast_config(tiny_data)["epochs"])


def test_stopped_early_is_against_the_epoch_cap():
    from recbole_csrec.benchmark.runner import stopped_early

    assert (stopped_early(26, 150), stopped_early(150, 150), stopped_early(None, 150)) == ("True", "False", "")


def test_make_report_from_crafted_results(tmp_path):
    from run_scripts.reproduce.results_page import main as report_main

    path = write_crafted(tmp_path)
    out = tmp_path / "docs" / "results.md"
    assert report_main(["--results", path, "--analyses", str(tmp_path / "none"), "--output", str(out)]) == 0
    text = out.read_text()
    assert "## What ran" in text and "| lastfm | GRU4Rec | Base, SoftRec, CSRec-M | 1 2 3 | 9 |" in text
    assert f"{100 * np.mean(NDCG['CSRec-M']):.3f}" in text
    assert "18.607" in text  # the paper's CSRec-D GRU4Rec Recall@10 on Last.FM, as reference
    # a second results file with a metric the first lacks (Recall+ needs ratings: ml has them)
    other = tmp_path / "ml.csv"
    pd.DataFrame([{"model": "GRU4Rec", "dataset": "ml", "teacher": t, "seed": s,
                   "test_ndcg@10": 0.1 + 0.01 * s, "test_ndcg+@10": 0.2 + 0.01 * s}
                  for t in ("none", "model") for s in (1, 2)]).to_csv(other, index=False)
    assert report_main(["--results", path, str(other), "--analyses", str(tmp_path / "none"),
                        "--output", str(out)]) == 0
    assert "GRU4Rec on ml, NG+@10: best" in out.read_text()


def _append_many(path: str, seed: int) -> None:
    for run in range(15):
        append_rows(path, [{"model": "GRU4Rec", "dataset": "ml", "teacher": "none", "seed": str(seed),
                            "config_hash": str(run), "test_ndcg@10": "0.1"}])


def test_concurrent_appends_keep_every_row(tmp_path):
    # one benchmark process per seed writing to one results file: no row may be lost or doubled
    path = str(tmp_path / "results.csv")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, seed)) for seed in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    frame = read_results(path)
    assert len(frame) == 60 and len(done_keys(frame)) == 60
    append_rows(path, [{"model": "GRU4Rec", "dataset": "ml", "teacher": "none", "seed": "0",
                        "config_hash": "0", "test_ndcg@10": "0.2"}])  # a key already there
    assert len(read_results(path)) == 60


def test_paired_over_users_aggregates_windows_per_original_user():
    """Windows of one original user are one sample: the test runs over original users."""
    from recbole_csrec.benchmark.significance import paired_over_users
    from recbole_csrec.evaluation import original_users

    rng = np.random.default_rng(0)
    users = [f"u{k}_{w}" for k in range(12) for w in range(3)]   # 12 original users x 3 windows
    frame = lambda ranks: pd.DataFrame({"row": range(len(users)), "user": users, "target": "7",  # noqa: E731
                                        "rating": 5.0, "rank": ranks})
    a = frame(rng.integers(1, 30, len(users)))
    b = frame(rng.integers(1, 30, len(users)))
    p, n = paired_over_users([a], [b], "ndcg@10")
    assert n == 12
    per_original = lambda f: per_user_metric(f, "ndcg@10").groupby(original_users(f).to_numpy()).mean()  # noqa: E731
    assert p == pytest.approx(stats.ttest_rel(per_original(a), per_original(b)).pvalue)
    # an explicit original_user column wins over the id pattern
    a["original_user"] = b["original_user"] = [u.split("_")[0][:2] for u in users]  # u0..u9 share 'u1'
    assert paired_over_users([a], [b], "ndcg@10")[1] == len(set(a["original_user"]))
    # ids without a window suffix on every row are users, not windows
    assert list(original_users(pd.DataFrame({"user": ["196", "a_1"]}))) == ["196", "a_1"]
