"""`--window-alignment end_aligned`: the authors' windows (head + end-aligned, overlapping), the
bridge to the paper's numbers; documented as leaking validation/test items into training."""
from __future__ import annotations

import pytest

from recbole_csrec import CSRecError
from recbole_csrec.data.protocol import Columns, cut_windows, prepare_dataset
from recbole_csrec.prepare_cli import main as prepare_main
from tests.test_prepare import _read, _write_csv


def test_end_aligned_windows_as_the_authors_cut_them():
    # n <= L: one window; n > L: head [0, L) plus [n - kL, n - kL + L) while n - kL > 0
    assert cut_windows(15, 20, "end_aligned") == [(0, 15)]
    assert cut_windows(45, 20, "end_aligned") == [(0, 20), (25, 45), (5, 25)]
    assert cut_windows(40, 20, "end_aligned") == [(0, 20), (20, 40)]  # a multiple of L: no overlap
    assert cut_windows(21, 20, "end_aligned") == [(0, 20), (1, 21)]
    assert cut_windows(2, 20, "end_aligned") == []
    for n in range(3, 200):
        spans = cut_windows(n, 20, "end_aligned")
        assert all(e - s == min(n, 20) for s, e in spans)  # every window full
        assert {i for s, e in spans for i in range(s, e)} == set(range(n))  # nothing dropped
    with pytest.raises(CSRecError, match="'sliding'"):
        cut_windows(10, 4, "sliding")


def test_end_aligned_files_leak_held_out_items_into_training(tmp_path):
    # user a, 6 distinct items in time order i0..i5, window 4: windows [i0..i3] and [i2..i5]
    path = str(tmp_path / "raw.csv")
    _write_csv(path, [("a", f"i{k}", 5, k) for k in range(6)])
    stats = prepare_dataset(path, "csv", "toy", window=4, min_count=1,
                            columns=Columns(user="user", item="item", rating="stars", time="ts"),
                            output_dir=str(tmp_path / "ds"), window_alignment="end_aligned")
    folder = tmp_path / "ds" / "toy"
    _, train = _read(folder / "toy.train.inter")
    _, valid = _read(folder / "toy.valid.inter")
    _, test = _read(folder / "toy.test.inter")
    assert ["a_0", "i0 i1 i2", "i3", "5.0"] in test and ["a_1", "i2 i3 i4", "i5", "5.0"] in test
    assert ["a_0", "i0 i1", "i2", "5.0"] in valid
    # a_0's held-out items i2, i3 are training items of a_1: the leak the option documents
    assert ["a_1", "i2", "i3", "5.0"] in train
    assert stats.windows == 2 and any("leak" in note for note in stats.notes)
    assert "end_aligned" in (folder / "toy.yaml").read_text()


def test_bad_alignment_is_one_line_exit_2(tmp_path, capsys):
    path = str(tmp_path / "raw.csv")
    _write_csv(path, [("a", f"i{k}", 5, k) for k in range(6)])
    code = prepare_main(["--input", path, "--format", "csv", "--name", "bad", "--window", "3",
                         "--user-col", "user", "--item-col", "item", "--window-alignment", "sliding",
                         "--output-dir", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "sliding" in err
    assert not (tmp_path / "ds").exists() or not list((tmp_path / "ds").iterdir())
    with pytest.raises(CSRecError, match="'overlap'"):
        prepare_dataset(path, "csv", "bad", window=3, min_count=1,
                        columns=Columns(user="user", item="item", rating="stars", time="ts"),
                        output_dir=str(tmp_path / "ds"), window_alignment="overlap")
