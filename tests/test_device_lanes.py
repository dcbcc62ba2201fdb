"""run_scripts/device: the lanes' stop at the deadline (lanes_lib.sh) and the store packing
(pack_store.py). The stop must reach each lane's python and nothing else on the machine, and
leave the lane's shell free to keep what landed; stand-in lanes here, no GPU needed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time

from run_scripts.device import pack_store

WORKTREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SLEEPER = f"{sys.executable} -c 'import time; time.sleep(120)'"


def test_deadline_interrupts_only_the_lanes_python_and_their_shells_go_on(tmp_path):
    outsider = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        script = f"""
            source {WORKTREE}/run_scripts/device/lanes_lib.sh
            L={tmp_path}; : > $L/pids; T0=$(date +%s); export GRACE=5
            lane kept bash -c "{SLEEPER}; echo kept > {tmp_path}/kept.txt"
            lane stubborn bash -c "trap '' INT; sleep 120"
            lanes_wait 2
        """
        started = time.monotonic()
        # started with SIGINT ignored, as anything started in the background of a script is (a CI
        # runner, nohup): the lanes must still be interruptible
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        assert result.returncode == 0, result.stderr
        assert "lanes stopped" in result.stdout
        assert (tmp_path / "kept.txt").read_text() == "kept\n"  # the shell went on after its python
        assert time.monotonic() - started < 30  # the stubborn lane was killed after GRACE
        assert outsider.poll() is None  # a python outside the lanes is untouched
    finally:
        outsider.kill()


def _entry(store, key: str, model: str, objective: str, size: int) -> None:
    folder = store / key
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"fields": {"model": model, "objective": objective}}))
    (folder / "weights.pt").write_bytes(b"x" * size)


def test_pack_store_puts_the_wanted_models_teachers_first_and_skips_old_entries(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _entry(store, "old", "GRU4Rec", "ce", 300)
    marker = tmp_path / "marker"
    marker.write_text("")
    past = os.path.getmtime(marker) - 100
    os.utime(store / "old", (past, past))
    _entry(store, "narm", "NARM", "ce", 300)
    _entry(store, "gru_student", "GRU4Rec", "csrec-student", 300)
    _entry(store, "gru_teacher", "GRU4Rec", "ce", 300)
    (store / "soft_labels").mkdir()
    entries = pack_store.new_entries(str(store), os.path.getmtime(marker), ["GRU4Rec", "SASRec"])
    assert [key for _, _, key in entries] == ["gru_teacher", "gru_student", "narm"]
    monkeypatch.setattr(pack_store, "CHUNK_BYTES", 800)  # about two entries per tar file
    out = tmp_path / "out"
    out.mkdir()
    assert pack_store.pack(str(store), entries, str(out)) == 3
    names = [sorted({m.name.split("/")[0] for m in tarfile.open(out / f"store_{n}.tar").getmembers()})
             for n in range(2)]
    assert names == [["gru_student", "gru_teacher"], ["narm"]] and not (out / "store_2.tar").exists()
