"""The one atomic-write helper: complete or absent, never half-written; one permission rule."""
from __future__ import annotations

import os
import stat

import pytest

from recbole_csrec.atomic import atomic_dir, atomic_file, write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_folders_get_the_mode_of_open_and_mkdir(tmp_path, umask_022):
    write_atomic(str(tmp_path / "a.txt"), "text")
    write_atomic(str(tmp_path / "b.bin"), b"\x00\x01")
    with atomic_dir(str(tmp_path / "folder")) as tmp:
        write_atomic(os.path.join(tmp, "inside.json"), "{}")
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "b.bin") == 0o644  # not mkstemp's 0600
    assert _mode(tmp_path / "folder") == 0o755  # not mkdtemp's 0700
    assert (tmp_path / "a.txt").read_text() == "text" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "folder"]  # no temp names left


def test_a_failed_write_leaves_the_old_file_or_folder(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(path)) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(str(folder)) as tmp:
            open(os.path.join(tmp, "x"), "w").write("new")
            raise RuntimeError("crash")
    assert (folder / "x").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["data", "results.csv"]


def test_folders_replace_or_refuse_an_existing_one(tmp_path):
    folder = tmp_path / "entry"
    with atomic_dir(str(folder)) as tmp:
        open(os.path.join(tmp, "v"), "w").write("1")
    with atomic_dir(str(folder)) as tmp:  # replace=True: the new folder wins whole
        open(os.path.join(tmp, "w"), "w").write("2")
    assert os.listdir(folder) == ["w"]
    with pytest.raises(OSError):
        with atomic_dir(str(folder), replace=False) as tmp:  # a content-keyed entry is never replaced
            open(os.path.join(tmp, "z"), "w").write("3")
    assert os.listdir(folder) == ["w"] and os.listdir(tmp_path) == ["entry"]


def test_the_temp_file_keeps_the_extension(tmp_path):
    with atomic_file(str(tmp_path / "plot.png")) as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "wb").write(b"png")
