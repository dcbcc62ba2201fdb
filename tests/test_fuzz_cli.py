"""Property test: any argument list drawn from the known keys with valid, invalid and misspelled
values, run through --dry_run, exits 0 or 2 with no traceback and writes nothing."""
from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, given, settings, strategies as st

from recbole_csrec.cli import main
from tests.conftest import TINY_NAME, write_tiny_dataset

KEYS = ["epochs", "train_batch_size", "eval_batch_size", "learning_rate", "weight_decay", "stopping_step",
        "eval_step", "topk", "metrics", "valid_metric", "MAX_ITEM_LIST_LENGTH", "embedding_size",
        "hidden_size", "dropout_prob", "seed", "gpu_id", "device", "eval_args", "train_neg_sample_args",
        "beta", "temperature", "num_teachers", "sample_ratio", "ensemble", "kl_direction", "alpha",
        "noise_rank", "soft_label_cache_mb", "soft_label_topk", "reuse_teachers", "teacher_model",
        "learner", "show_progress", "rating_threshold", "teacher", "model", "config_files"]
VALUES = ["1", "0", "-1", "2", "0.5", "1e-3", "1e30", "-0.1", "abc", "True", "false", "None", "[]",
          "[5,10]", "[0]", "[Recall,NDCG]", "[Recall,Foo]", "NDCG@10", "Recall@5", "NDCG@7", "{}",
          "{'order':'TO','mode':'full'}", "{'mode':'uni100'}", "{'order':'XX'}", "GRU4Rec", "SASRec",
          "BPR", "model", "data", "nope", "''", "[1,", "1/0", "inf", "nan", "cuda", "cpu", "0,1",
          "{'distribution':'uniform'}", "no_such.yaml", "x" * 80, "é"]


def misspell(key: str) -> st.SearchStrategy[str]:
    return st.sampled_from([key[:-1], key + "s", key.upper(), key[1:], key.replace("_", "")])


ARG = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)).map(lambda kv: f"--{kv[0]}={kv[1]}"),
    st.sampled_from(KEYS).flatmap(misspell).flatmap(
        lambda key: st.sampled_from(VALUES).map(lambda v: f"--{key}={v}")),
    st.sampled_from(["--dry_run", "--dry_run=False", "-m", "SASRec", "stray", "--epochs", "--=1",
                     "--a=b=c", "-x"]),
)


def tree(root: str) -> set[tuple[str, int]]:
    out = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            out.add((os.path.relpath(path, root), os.stat(path).st_mtime_ns))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(ARG, max_size=5))
def test_cli_dry_run_never_tracebacks_and_never_writes(tmp_path_factory, monkeypatch, capsys, args):
    root = str(tmp_path_factory.getbasetemp() / "fuzz")
    data = os.path.join(root, "data")
    if not os.path.isdir(data):
        write_tiny_dataset(data)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["recbole-csrec"])
    before = tree(root)
    argv = ["--model=GRU4Rec", f"--dataset={TINY_NAME}", f"--data_path={data}"] + args + ["--dry_run"]
    if "--dry_run" in args:
        argv = argv[:-1]  # given twice on purpose elsewhere; here once
    code = main(argv)  # a traceback would raise out of main and fail the test
    captured = capsys.readouterr()
    assert code in (0, 2), (argv, code, captured.err)
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("recbole-csrec: error: "), (argv, captured.err)
    assert tree(root) == before, argv
