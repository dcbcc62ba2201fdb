"""Shared fixtures: a tiny synthetic RecBole atomic dataset and fast run settings."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from recbole_csrec.data.synthetic import write_chain_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Hypothesis keeps its example database and caches in ./.hypothesis by default: a temp dir, so
# that the suite writes nothing into the checkout (checked at the end of the session, below).
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="csrec-hypothesis-"))
settings.register_profile("csrec", database=None)
settings.load_profile("csrec")

TINY_NAME = "tiny"


def write_tiny_dataset(root: str, name: str = TINY_NAME, users: int = 40, items: int = 30,
                       length: int = 12, seed: int = 0) -> str:
    """Returns data_path (the folder that holds `<name>/<name>.inter`)."""
    return write_chain_dataset(root, name, users, items, length, seed)


def fast_config(data_path: str, **overrides) -> dict:
    """Settings that make a whole CSRec run take seconds on a 2-core CPU."""
    config = {
        # A user's dataset gets RecBole's defaults; the tests train with the paper's settings
        # (CE without negative sampling, Recall/NDCG@5/10/20), as on the built-in datasets.
        "preset": "paper",
        "data_path": data_path,
        "epochs": 1,
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "MAX_ITEM_LIST_LENGTH": 10,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "show_progress": False,
        "state": "WARNING",
        "use_gpu": False,
        "embedding_size": 16,
        "hidden_size": 16,
        "inner_size": 32,
        "block_num": 1,
        "checkpoint_dir": "saved",
    }
    config.update(overrides)
    return config


@pytest.fixture
def tiny_data(tmp_path, monkeypatch) -> str:
    """data_path of a fresh tiny dataset; cwd is a temp dir so log/ and saved/ land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])  # RecBole reads --key=value from sys.argv
    return write_tiny_dataset(str(tmp_path / "data"))


# ---- the suite leaves the checkout as it found it -------------------------------------------

def _checkout_state() -> set[str] | None:
    """`git status --ignored` of the checkout, bytecode caches left out (Python writes those on
    any import; they are not output of a test). None outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--ignored", "--porcelain", "--untracked-files=all"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line for line in out.splitlines() if "__pycache__/" not in line and not line.endswith(".pyc")}


def pytest_sessionstart(session):
    session.config.stash[_STATE_KEY] = _checkout_state()


def pytest_sessionfinish(session, exitstatus):
    before, after = session.config.stash.get(_STATE_KEY, None), _checkout_state()
    if before is None or after is None:
        return
    written = sorted(after - before)
    if written:
        sys.stderr.write("\nthe test suite wrote into the checkout (tests must write under tmp_path):\n  "
                         + "\n  ".join(written[:20]) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_STATE_KEY = pytest.StashKey[set]()
