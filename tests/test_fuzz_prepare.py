"""Property tests of what users feed in: random small files in every prepare format (csv, atomic,
sequences) with odd ids, missing fields, duplicate rows, odd separators and encodings end in exit 0
with a dataset RecBole loads, or exit 2 with one line and nothing written, never a traceback; and a
`--dataset` is a name, never a path."""
from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from recbole.data import create_dataset, data_preparation

from recbole_csrec.cli import main as cli_main
from recbole_csrec.prepare_cli import main as prepare_main
from recbole_csrec.quick_start import build_configs

ID = st.one_of(st.integers(0, 12).map(str), st.sampled_from(["a", "b b", "é", "NA", "", "x,y", '"q"', "-1",
                                                             "u" * 70, "0.5", "null"]))
NUMBER = st.one_of(st.integers(-2, 6).map(str), st.sampled_from(["", "abc", "1e3", "nan", "3.5"]))
ENCODING = st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])
NEWLINE = st.sampled_from(["\n", "\r\n"])
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def rows(draw) -> list[tuple[str, str, str, str]]:
    """(user, item, rating, time) rows: a few users with enough interactions to make windows (the
    success path), plus a few odd rows (odd ids, missing or non-numeric fields) and duplicates."""
    clean = []
    for user in range(1, draw(st.integers(1, 4)) + 1):
        for step in range(draw(st.integers(2, 9))):
            clean.append((str(user), str(draw(st.integers(1, 5))), str(draw(st.integers(1, 5))), str(step)))
    odd = draw(st.lists(st.tuples(ID, ID, NUMBER, NUMBER), max_size=3))
    duplicates = clean[:draw(st.integers(0, 3))]
    return clean + odd + duplicates


@st.composite
def csv_file(draw) -> tuple[str, list[str]]:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    columns = ["user_id", "item_id"] + draw(st.lists(st.sampled_from(["rating", "timestamp"]), unique=True))
    columns = draw(st.permutations(columns))
    if draw(st.integers(0, 9)) == 0:
        columns = columns[:1]  # a missing id column
    cells = {"user_id": 0, "item_id": 1, "rating": 2, "timestamp": 3}
    lines = [sep.join(columns)] + [sep.join(row[cells[c]] for c in columns) for row in draw(rows())]
    args = ["--format", "csv"] + (["--sep", sep] if sep != "," or draw(st.booleans()) else [])
    return "\n".join(lines), args + (["--time-col", "timestamp"] if "timestamp" in columns else [])


ATOMIC_HEADERS = {
    "user_id:token\titem_id:token\trating:float\ttimestamp:float": (0, 1, 2, 3),
    "user_id:token\titem_id:token\ttimestamp:float": (0, 1, 3),
    "item_id:token\tuser_id:token\trating:float": (1, 0, 2),
    "user_id:token\titem_id:token": (0, 1),
}


@st.composite
def atomic_file(draw) -> tuple[str, list[str]]:
    header, order = draw(st.sampled_from(sorted(ATOMIC_HEADERS.items())))
    lines = [header] + ["\t".join(row[k] for k in order) for row in draw(rows())]
    if draw(st.integers(0, 5)) == 0:
        lines.append("\t".join(["1"] * (len(order) + 1)))  # a row with an extra field
    return "\n".join(lines), ["--format", "atomic"]


@st.composite
def sequences_file(draw) -> tuple[str, list[str]]:
    by_user: dict[str, list[str]] = {}
    for user, item, _, _ in draw(rows()):
        if user and " " not in user and item and " " not in item and "," not in user + item:
            by_user.setdefault(user, []).append(item)
    lines = [" ".join([user] + items) for user, items in by_user.items()]
    lines += draw(st.sampled_from([[], ["", "   "], lines[:1], ["lonely"]]))  # blank, repeated, no items
    return "\n".join(lines), ["--format", "sequences"]


def _loads_in_recbole(data_path: str, name: str) -> None:
    config, _ = build_configs("GRU4Rec", name, None, [os.path.join(data_path, name, f"{name}.yaml")],
                              {"data_path": data_path, "show_progress": False, "state": "ERROR",
                               "epochs": 1, "train_batch_size": 8, "eval_batch_size": 8})
    data_preparation(config, create_dataset(config))


@pytest.mark.parametrize("strategy", [csv_file(), atomic_file(), sequences_file()],
                         ids=["csv", "atomic", "sequences"])
def test_prepare_exits_0_with_a_loadable_dataset_or_2_with_one_line(strategy, tmp_path_factory, monkeypatch,
                                                                   capsys):
    codes = []

    @FUZZ
    @given(data=st.data())
    def check(data):
        text, args = data.draw(strategy)
        encoding, newline = data.draw(ENCODING), data.draw(NEWLINE)
        window, min_count = data.draw(st.integers(3, 6)), data.draw(st.integers(1, 3))
        root = tmp_path_factory.mktemp("fuzz")
        monkeypatch.chdir(root)
        monkeypatch.setattr(sys, "argv", ["pytest"])
        source = root / "input.txt"
        source.write_bytes(text.replace("\n", newline).encode(encoding, errors="replace"))
        out = root / "data"
        capsys.readouterr()
        code = prepare_main(["--input", str(source), "--name", "fuzz", "--window", str(window),
                             "--min-count", str(min_count), "--output-dir", str(out)] + args)
        captured = capsys.readouterr()
        codes.append(code)
        assert code in (0, 2), captured
        if code == 2:
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and "error" in lines[0], captured.err
            assert not (out / "fuzz").exists()  # nothing half-written
        else:
            _loads_in_recbole(str(out), "fuzz")

    check()
    assert 0 in codes and 2 in codes, f"exit codes drawn: {codes}: both paths must be exercised"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.sampled_from(["../outside", "..", ".", "/etc", "a/b", "a\\b", "~/x", "", " ",
                                       "../../tmp/x", "./x"]),
                      st.text(alphabet="ab./\\~ ", min_size=1, max_size=8)))
def test_a_dataset_is_a_name_never_a_path(name, tmp_path_factory, monkeypatch, capsys):
    root = tmp_path_factory.mktemp("names")
    (root / "outside").mkdir()
    (root / "outside" / "outside.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    data = root / "data"
    data.mkdir()
    monkeypatch.chdir(data)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    code = cli_main(["--model=GRU4Rec", f"--dataset={name}", f"--data_path={data}", "--dry_run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err  # none of these names a dataset under data_path
    if "/" in name or "\\" in name or name.strip() in ("", ".", ".."):
        assert "is not accepted: a dataset is a name" in err[0] or "unknown dataset" in err[0]
    assert sorted(os.listdir(data)) == []  # nothing written
