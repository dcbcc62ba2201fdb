"""Every input checked before anything is written: RecBole keys, unknown and repeated keys,
config files, and the --dry_run of both commands."""
from __future__ import annotations

import os

import pytest

from recbole_csrec.cli import main
from recbole_csrec.overrides import parse_overrides
from recbole_csrec.tune.cli import main as hyper_main, parse_fixed
from tests.conftest import TINY_NAME, fast_config


def tree(root) -> dict[str, int]:
    """Every file and folder under `root` with its mtime: 'nothing written' means unchanged."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.stat(path).st_mtime_ns
    return found


def base(data_path: str) -> list[str]:
    # the synthetic dataset with the paper's settings (a user's dataset gets RecBole's defaults)
    return ["--model=GRU4Rec", f"--dataset={TINY_NAME}", f"--data_path={data_path}", "--preset=paper"]


RECBOLE_CASES = [
    ("--epochs=abc", "epochs='abc' is not accepted: an integer >= 1"),
    ("--epochs=0", "epochs=0 is not accepted"),
    ("--train_batch_size=0", "train_batch_size=0 is not accepted: an integer >= 1"),
    ("--eval_batch_size=-5", "eval_batch_size=-5"),
    ("--learning_rate=-1", "learning_rate=-1 is not accepted: a number > 0"),
    ("--learning_rate=abc", "learning_rate='abc'"),
    ("--weight_decay=-0.1", "weight_decay=-0.1 is not accepted: a number >= 0"),
    ("--stopping_step=0", "stopping_step=0"),
    ("--eval_step=-1", "eval_step=-1"),
    ("--eval_step=1.5", "eval_step=1.5"),
    ("--topk=[0,10]", "topk=[0, 10] is not accepted"),
    ("--metrics=[Recall,NDGC]", "metrics: 'NDGC' is not accepted"),
    ("--metrics=[AUC]", "value metric"),
    ("--valid_metric=NDCG@7", "valid_metric='NDCG@7' is not accepted: one of metrics x topk"),
    ("--valid_metric=MRR@10", "valid_metric='MRR@10'"),
    ("--MAX_ITEM_LIST_LENGTH=0", "MAX_ITEM_LIST_LENGTH=0"),
    ("--embedding_size=1.5", "embedding_size=1.5"),
    ("--hidden_size=-3", "hidden_size=-3"),
    ("--dropout_prob=1", "dropout_prob=1 is not accepted: a probability p with 0 <= p < 1"),
    ("--dropout_prob=-0.2", "dropout_prob=-0.2"),
    ("--seed=abc", "seed='abc' is not accepted"),
    ("--gpu_id=x", "gpu_id='x' is not accepted"),
    ("--device=tpu", "device='tpu' is not accepted"),
    ("--eval_args={'order':'XO'}", "eval_args order='XO' is not accepted: RO or TO"),
    ("--eval_args={'mode':'all'}", "eval_args mode='all' is not accepted"),
    ("--eval_args=abc", "eval_args='abc' is not accepted"),
    ("--train_neg_sample_args={'distribution':'uniform','sample_num':1}", "train_neg_sample_args="),
    ("--learner=adamm", "learner='adamm' is not accepted"),
]


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


@pytest.mark.parametrize("arg, message", RECBOLE_CASES)
def test_recbole_keys_are_one_line_exit_2_before_anything_is_written(tiny_data, tmp_path, capsys, arg, message):
    before = tree(tmp_path)
    code, _, err = run_cli(base(tiny_data) + [arg], capsys)  # a real run, not a dry run
    assert code == 2
    assert len(err) == 1 and err[0].startswith("recbole-csrec: error: ") and message in err[0]
    assert tree(tmp_path) == before  # no dataset/, log/, log_tensorboard/, saved/


def test_the_sasrec_dropouts_are_checked(tiny_data, capsys):
    code, _, err = run_cli(["--model=SASRec", f"--dataset={TINY_NAME}", f"--data_path={tiny_data}",
                            "--attn_dropout_prob=1.5"], capsys)
    assert code == 2 and "attn_dropout_prob=1.5" in err[0]


@pytest.mark.parametrize("args, message", [
    (["--bta=0.5"], "unknown setting --bta: .*did you mean 'beta'"),
    (["--temprature=3"], "did you mean 'temperature'"),
    (["--epoch=5"], "did you mean 'epochs'"),
    (["--learningrate=0.1"], "did you mean 'learning_rate'"),
    (["--epochs=2", "--epochs=3"], r"--epochs is given twice \('2' and '3'\)"),
    (["--dataset=ml"], r"--dataset is given twice \('tiny' and 'ml'\)"),
    (["-m", "NARM"], r"--model is given twice \('GRU4Rec' and 'NARM'\)"),
    (["--config_files=no_such_file.yaml"], "config file 'no_such_file.yaml' does not exist"),
    (["extra_word"], "argument 'extra_word' is not accepted: settings are --key=value"),
    (["--epochs"], "argument '--epochs' is not accepted"),
    (["--x=a=b"], "cannot contain '='"),
    (["--epochs=1/0"], "--epochs=1/0 cannot be read: ZeroDivisionError"),
    (["--dry_run=maybe"], "'maybe' is not accepted: True or False"),
])
def test_unknown_repeated_and_unreadable_arguments(tiny_data, tmp_path, capsys, args, message):
    before = tree(tmp_path)
    code, _, err = run_cli(base(tiny_data) + args, capsys)
    assert code == 2 and len(err) == 1, err
    import re

    assert re.search(message, err[0]), err[0]
    assert tree(tmp_path) == before


def test_unparsable_config_files_are_named(tiny_data, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\nbeta: 0.5\n")
    listy = tmp_path / "list.yaml"
    listy.write_text("- epochs\n- beta\n")
    for path, message in ((bad, "is not valid yaml"), (listy, "not a mapping")):
        code, _, err = run_cli(base(tiny_data) + [f"--config_files={path}"], capsys)
        assert code == 2 and len(err) == 1 and f"config file '{path}'" in err[0] and message in err[0]


def test_keys_of_the_users_config_files_are_known(tiny_data, tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("my_own_note: 1\n")
    code, out, _ = run_cli(base(tiny_data) + [f"--config_files={mine}", "--my_own_note=2", "--dry_run"],
                           capsys)
    assert code == 0 and "my_own_note" in out


def test_overrides_are_read_as_recbole_reads_them():
    assert parse_overrides(["--learning_rate=1e-3", "--topk=[5,10]", "--name=abc", "--flag=true",
                            "--metrics=[Recall,NDCG+]"]) == {
        "learning_rate": 1e-3, "topk": [5, 10], "name": "abc", "flag": True, "metrics": ["Recall", "NDCG+"]}
    assert isinstance(parse_fixed(["--learning_rate=1e-3"])["learning_rate"], float)


def test_dry_run_prints_sources_and_plan_and_writes_nothing(tiny_data, tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text("beta: 0.25\nepochs: 4\n")
    before = tree(tmp_path)
    code, out, err = run_cli(base(tiny_data) + ["--teacher=data", f"--config_files={mine}",
                                                "--epochs=2", "--learning_rate=1e-2", "--dry_run"], capsys)
    assert code == 0, err
    assert tree(tmp_path) == before
    lines = out.splitlines()

    def line_of(key):
        return next(line for line in lines if line.strip().startswith(key + " "))

    assert "(command line)" in line_of("epochs") and "= 2" in line_of("epochs")
    assert "0.01" in line_of("learning_rate") and "(command line)" in line_of("learning_rate")
    assert f"(config file {mine})" in line_of("beta")
    assert "paper preset for GRU4Rec" in line_of("dropout_prob")
    assert "(command line)" in line_of("teacher")
    assert not any(line.strip().startswith("temperature ") for line in lines)  # a default: not listed
    assert "plan: CSRec-D (data)" in out
    assert "1. teacher-1: GRU4Rec, seed 2021, on a 0.8-subsample" in out
    assert "2. teacher-2: GRU4Rec, seed 2022" in out
    assert "3. student: GRU4Rec, seed 2020" in out and "beta 0.25" in out
    assert out.count("-> train, then publish to the teacher store") == 2
    assert "student.pth" in out and lines[-1] == "dry run: everything checked, nothing written"


def test_dry_run_sees_the_teachers_a_finished_run_stored(tiny_data, tmp_path, capsys):
    import yaml

    from recbole_csrec.quick_start import run_recbole_csrec

    settings = tmp_path / "fast.yaml"
    settings.write_text(yaml.safe_dump(fast_config(tiny_data)))
    run_recbole_csrec("GRU4Rec", TINY_NAME, "model", config_file_list=[str(settings)])
    args = base(tiny_data) + ["--teacher=model", f"--config_files={settings}", "--dry_run"]
    before = tree(tmp_path)
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.count("-> load from the teacher store") == 2, out
    assert tree(tmp_path) == before
    code, out, _ = run_cli(args + ["--seed=7"], capsys)  # other seeds: other teachers
    assert code == 0 and out.count("-> train, then publish") == 2


def test_unknown_dataset_in_a_dry_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["--dataset=nothing_here", "--dry_run", "--preset=paper"], capsys)
    assert code == 2 and "unknown dataset 'nothing_here'" in err[0]
    assert os.listdir(tmp_path) == []


def test_builtin_dataset_dry_run_does_not_build_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["--dataset=ml", "--model=NARM", "--teacher=model", "--dry_run"], capsys)
    assert code == 0 and "will be built into" in out and "once the dataset is built" in out
    assert os.listdir(tmp_path) == []


def test_hyper_dry_run_lists_trials_and_shared_teachers(tiny_data, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.25, 0.5]\ntemperature: [1, 3, 6]\nlearning_rate: [0.001, 0.01]\n")
    before = tree(tmp_path)
    code = hyper_main(base(tiny_data) + ["--teacher=model", f"--params_file={space}", "--epochs=1",
                                         "--dry_run"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert tree(tmp_path) == before
    assert "12 trials (12 grid points x 1 samples)" in out
    assert "trial 12: beta=0.5 temperature=6 learning_rate=0.01" in out
    # beta and T are student-only: each learning rate has its own two teachers, shared by 6 trials.
    assert "4 teacher trainings shared" in out
    assert out.count("trials 1, 3, 5, 7, 9, 11 -> train once") == 2
    assert out.count("trials 2, 4, 6, 8, 10, 12 -> train once") == 2


def test_hyper_cli_checks_keys_and_repeats(tiny_data, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.25]\n")
    for args, message in ((["--bta=1"], "did you mean 'beta'"),
                          (["--num_samples=2", "--num_samples=3"], "--num_samples is given twice"),
                          (["--num_samples=x"], "invalid int value")):
        code = hyper_main(base(tiny_data) + [f"--params_file={space}", "--dry_run"] + args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], err


def test_benchmark_refuses_a_misspelled_setting_before_running(tmp_path, monkeypatch, capsys):
    from recbole_csrec.benchmark.runner import main as benchmark_main

    monkeypatch.chdir(tmp_path)
    code = benchmark_main(["--models", "GRU4Rec", "--datasets", "ml", "--teachers", "none",
                           "--output", str(tmp_path / "results"), "--bta=0.5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["benchmark: error: unknown setting --bta: no RecBole or CSRec option of "
                                 "this model and dataset, nor a key of the config files (did you mean 'beta'?)"]
    assert os.listdir(tmp_path) == []


def test_search_values_are_checked_like_command_line_values(tiny_data, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("embedding_size: [16, -1]\n")
    code = hyper_main(base(tiny_data) + [f"--params_file={space}", "--dry_run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "embedding_size=-1 is not accepted: an integer >= 1" in err[0]
