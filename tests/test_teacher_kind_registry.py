"""A new teacher kind is one module and one registry line: a toy kind, written to a temporary
file and imported from there, goes through --dry_run, a one-trial search's plan and a one-epoch
run without touching any other module of the package."""
from __future__ import annotations

import importlib.util
import textwrap

import pytest

from recbole_csrec import run_recbole_csrec
from recbole_csrec.cli import main as cli_main
from recbole_csrec.teachers import registry
from recbole_csrec.tune.cli import main as hyper_main
from tests.conftest import TINY_NAME, fast_config
from tests.test_input_checks import base

TOY_MODULE = textwrap.dedent('''
    """A toy teacher kind: one teacher on all training data, seed+7."""
    from recbole_csrec.soft_labels import TeacherEnsemble
    from recbole_csrec.teachers import register_teacher_kind
    from recbole_csrec.teachers.plan import PlannedPhase


    def build_toy(ctx):
        seed = int(ctx.config["seed"]) + 7
        model, _ = ctx.train_phase("toy-teacher", ctx.build_teacher_model(seed), ctx.train_data, seed)
        return TeacherEnsemble([model], ctx.config["ensemble"])


    def plan_toy(config):
        return [PlannedPhase("toy-teacher", int(config["seed"]) + 7, note="one toy teacher")]


    register_teacher_kind("toy", build_toy, plan_toy)
''')


@pytest.fixture
def toy_kind(tmp_path):
    path = tmp_path / "toy_teacher.py"
    path.write_text(TOY_MODULE)
    spec = importlib.util.spec_from_file_location("toy_teacher", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    yield
    registry.TEACHERS.pop("toy", None)  # the registration is undone afterwards
    registry.PLANS.pop("toy", None)


def test_a_toy_kind_runs_through_dry_run_search_plan_and_a_run(toy_kind, tiny_data, tmp_path, capsys):
    assert cli_main(base(tiny_data) + ["--teacher=toy", "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "toy-teacher: GRU4Rec, seed 2027, one toy teacher" in out

    space = tmp_path / "space.yaml"
    space.write_text("beta: [0.5]\n")
    assert hyper_main(base(tiny_data) + ["--teacher=toy", f"--params_file={space}", "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "1 trials" in out and "toy-teacher" in out

    result = run_recbole_csrec("GRU4Rec", TINY_NAME, "toy", config_dict=fast_config(tiny_data))
    assert list(result["phases"]) == ["toy-teacher", "student"]
    assert result["test_result"]["recall@10"] >= 0


def test_an_unregistered_kind_is_refused(tiny_data, capsys):
    assert cli_main(base(tiny_data) + ["--teacher=toy"]) == 2
    assert "unknown teacher 'toy'" in capsys.readouterr().err
