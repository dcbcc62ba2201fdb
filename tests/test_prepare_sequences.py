"""prepare_cli --format sequences: the SASRec/S3Rec-family files (one user per line, items in time
order) give the same dataset as the same interactions written as a CSV with positions."""
from __future__ import annotations

import os
import random

import pytest
from recbole.data import create_dataset

from recbole_csrec.config import CSRecConfig
from recbole_csrec.data.readers import read_sequences_file
from recbole_csrec.prepare_cli import main as prepare_main


def _synthetic_sequences(n_users: int = 40, n_items: int = 25, seed: int = 0) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {f"u{u}": [f"i{rng.randrange(n_items)}" for _ in range(rng.randrange(6, 23))] for u in range(n_users)}


def _files(tmp_path, sequences):
    seq_path, csv_path = tmp_path / "seq.txt", tmp_path / "seq.csv"
    seq_path.write_text("".join(f"{u} {' '.join(items)}\n" for u, items in sequences.items()))
    csv_path.write_text("user,item,pos\n" + "".join(
        f"{u},{item},{p}\n" for u, items in sequences.items() for p, item in enumerate(items)))
    return str(seq_path), str(csv_path)


def _prepare(argv, out):
    return prepare_main(argv + ["--window", "5", "--output-dir", str(out)])


def test_sequences_equal_the_csv_with_positions(tmp_path, capsys):
    seq_path, csv_path = _files(tmp_path, _synthetic_sequences())
    assert _prepare(["--input", seq_path, "--format", "sequences", "--name", "s"], tmp_path / "a") == 0
    assert _prepare(["--input", csv_path, "--format", "csv", "--name", "s", "--user-col", "user",
                     "--item-col", "item", "--time-col", "pos"], tmp_path / "b") == 0
    for split in ("train", "valid", "test"):
        a = (tmp_path / "a" / "s" / f"s.{split}.inter").read_text()
        b = (tmp_path / "b" / "s" / f"s.{split}.inter").read_text()
        assert a == b and a.count("\n") > 1
    printed = capsys.readouterr().out
    assert printed.count("windows") >= 2
    # and RecBole loads it with the yaml that prepare wrote
    config = CSRecConfig(model="GRU4Rec", dataset="s", config_file_list=[str(tmp_path / "a" / "s" / "s.yaml")],
                         config_dict={"data_path": str(tmp_path / "a"), "preset": "paper",
                                      "show_progress": False, "state": "ERROR"})
    assert create_dataset(config).inter_num > 0


def test_reader_keeps_order_blank_lines_crlf_and_repeated_users(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"\xef\xbb\xbfu1 a b c\r\n\r\nu2\tx y\r\nu1 d\r\n   \n")
    frame = read_sequences_file(str(path))
    assert frame["user"].tolist() == ["u1"] * 3 + ["u2"] * 2 + ["u1"]
    assert frame["item"].tolist() == ["a", "b", "c", "x", "y", "d"]
    assert frame["time"].tolist() == [0, 1, 2, 0, 1, 3]  # u1 continues its sequence


def test_sequences_refuse_a_rating_column_in_one_line(tmp_path, capsys):
    seq_path, _ = _files(tmp_path, _synthetic_sequences(n_users=3))
    code = _prepare(["--input", seq_path, "--format", "sequences", "--name", "s", "--rating-col", "r"],
                    tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--rating-col" in err and "sequences" in err
    assert not os.path.exists(tmp_path / "out" / "s")


@pytest.mark.parametrize("content", ["", "\n\n", "u1\nu2\n"])
def test_sequences_without_items_exit_2_and_write_nothing(tmp_path, capsys, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    code = _prepare(["--input", str(path), "--format", "sequences", "--name", "s"], tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no interactions" in err
    assert not os.path.exists(tmp_path / "out" / "s")


def test_a_prepared_dataset_trains_with_the_printed_yaml_alone(tmp_path, capsys, monkeypatch):
    """Regression: without --preset=paper, RecBole's default negative sampling clashed with CE."""
    from recbole_csrec.cli import main

    monkeypatch.chdir(tmp_path)  # RecBole's log/ and log_tensorboard/ land here
    monkeypatch.setattr("sys.argv", ["pytest"])

    seq_path, _ = _files(tmp_path, _synthetic_sequences())
    assert _prepare(["--input", seq_path, "--format", "sequences", "--name", "s"], tmp_path / "data") == 0
    printed = capsys.readouterr().out
    yaml_file = printed.split("--config_files=")[1].split()[0]
    code = main(["--model=GRU4Rec", "--dataset=s", f"--data_path={tmp_path / 'data'}", f"--config_files={yaml_file}",
                 "--teacher=none", "--epochs=1", "--embedding_size=8", "--hidden_size=8", "--show_progress=False",
                 f"--checkpoint_dir={tmp_path / 'saved'}", "--state=ERROR"])
    assert code == 0, capsys.readouterr().err


def test_an_unknown_dataset_is_named_before_any_other_key(tmp_path, capsys):
    """Regression: an unknown name surfaced as a complaint about train_neg_sample_args."""
    from recbole_csrec.cli import main

    code = main(["--model=GRU4Rec", "--dataset=no_such_data", "--teacher=model", f"--data_path={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown dataset 'no_such_data'" in err and "lastfm" in err and "ml" in err and "prepare_cli" in err
