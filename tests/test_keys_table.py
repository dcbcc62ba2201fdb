"""The one table of CSRec keys (recbole_csrec/keys.py): the yaml and the README are written from it,
every key the code reads is in it (or is RecBole's), and the lists that used to be kept by hand
derive from it."""
from __future__ import annotations

import os
import re

import pytest
import yaml

from recbole_csrec import keys
from recbole_csrec.paths import PROPERTIES_DIR
from recbole_csrec.quick_start import STUDENT_KEYS, build_configs
from recbole_csrec.teachers.plan import MAIN_TEACHER_KEYS
from recbole_csrec.teachers.store import KEYED_ONLY_WHEN_SET, NON_DETERMINING_KEYS
from recbole_csrec.tune.space import IGNORED_BY_TEACHER
from tests.conftest import TINY_NAME, fast_config

REPO = os.path.dirname(PROPERTIES_DIR)
PACKAGE = os.path.join(REPO, "recbole_csrec")
WRITE = "python run_scripts/write_keys.py --write"


def test_package_yaml_is_written_from_the_table():
    with open(os.path.join(PROPERTIES_DIR, "overall.yaml")) as handle:
        text = handle.read()
    assert text == keys.overall_yaml(), f"properties/overall.yaml is stale: run {WRITE}"
    assert yaml.safe_load(text) == keys.DEFAULTS


def test_readme_options_table_is_written_from_the_table():
    with open(os.path.join(REPO, "README.md")) as handle:
        readme = handle.read()
    assert readme == keys.readme_with_table(readme), f"the README's options table is stale: run {WRITE}"
    for key in keys.KEYS:
        assert f"| `{key.name}` |" in readme


def _keys_named_in_code() -> dict[str, str]:
    """Every `config["key"]` the package reads, with one file that reads it."""
    found = {}
    pattern = re.compile(r"""config\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]""")
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                for key in pattern.findall(open(path).read()):
                    found.setdefault(key, os.path.relpath(path, REPO))
    return found


def test_every_key_the_code_reads_is_in_the_table_or_recboles(tiny_data):
    config, _ = build_configs("GRU4Rec", TINY_NAME, "model", config_dict=fast_config(tiny_data))
    ours = set(keys.BY_NAME)
    recboles = set(config.final_config_dict) - ours
    named = _keys_named_in_code()
    assert len(named) > 40
    unknown = {key: where for key, where in named.items() if key not in ours and key not in recboles}
    assert unknown == {}, f"CSRec keys missing from recbole_csrec/keys.py: {unknown}"


def test_a_key_left_out_of_the_table_is_caught(tiny_data, monkeypatch):
    """The check above can fail: hide one key from the table and it is reported."""
    config, _ = build_configs("GRU4Rec", TINY_NAME, "model", config_dict=fast_config(tiny_data))
    recboles = set(config.final_config_dict) - set(keys.BY_NAME)
    monkeypatch.delitem(keys.BY_NAME, "noise_sample_size")
    named = _keys_named_in_code()
    assert "noise_sample_size" in named and "noise_sample_size" not in set(keys.BY_NAME) | recboles


def test_derived_lists_follow_the_table():
    assert set(MAIN_TEACHER_KEYS) == {"sample_ratio", "alpha", "noise_rank", "expectation_term", "noise_normalizer",
                                      "noise_exact_max_items", "noise_sample_size"}
    assert set(STUDENT_KEYS) == {"teacher", "beta", "temperature", "kl_direction", "ensemble",
                                 "soft_label_cache_mb", "soft_label_topk"}
    assert KEYED_ONLY_WHEN_SET == {"all_positions": False, "bf16": False}
    for key in keys.KEYS:  # no key can change a store key silently: each says how it enters
        assert key.store in keys.STORE_KINDS
        assert (key.name in NON_DETERMINING_KEYS) == (key.store in ("builder", "never"))
        assert (key.store == "builder") == bool(key.phases), key.name
    # a key only CSRec-T reads is dropped from a CSRec-M search (identical trials otherwise)
    assert "model" in IGNORED_BY_TEACHER["noise_normalizer"] and "training" not in IGNORED_BY_TEACHER["alpha"]


@pytest.mark.parametrize("name, bad, message", [
    ("alpha", 2, "alpha=2 is outside [0, 1]"),
    ("noise_normalizer", "fast", "noise_normalizer='fast' is not accepted: use one of auto, exact"),
    ("soft_label_topk", -1, "soft_label_topk=-1 must be an integer >= 0"),
    ("soft_label_cache_mb", -5, "soft_label_cache_mb=-5 must be >= 0"),
    ("fused_output", "yes", "fused_output='yes' is not accepted: use True or False"),
    ("temperature", 0, "temperature=0 must be > 0"),
])
def test_rules_name_the_value_and_what_is_accepted(name, bad, message):
    with pytest.raises(keys.CSRecError, match=re.escape(message)):
        keys.check_key(name, bad)
    keys.check_key(name, keys.DEFAULTS[name])  # the default passes its own rule
