"""properties/ has one home (the top level) and ships inside the wheel as recbole_csrec/properties."""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile

from setuptools import find_packages

from recbole_csrec.paths import PROPERTIES_DIR, shipped_properties_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _yaml_files(folder: str) -> set[str]:
    return {os.path.relpath(os.path.join(root, name), folder)
            for root, _, names in os.walk(folder) for name in names if name.endswith(".yaml")}


def test_one_home_for_the_yaml():
    assert PROPERTIES_DIR == os.path.join(REPO, "properties")
    assert not os.path.exists(os.path.join(REPO, "recbole_csrec", "properties"))  # no second copy
    assert shipped_properties_file("properties/hyper/paper_grid.yaml") == \
        os.path.join(REPO, "properties", "hyper", "paper_grid.yaml")
    assert shipped_properties_file("elsewhere/paper_grid.yaml") is None


def test_setup_cfg_lists_every_package():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    listed = set(parser["options"]["packages"].split())
    found = set(find_packages(REPO, include=["recbole_csrec", "recbole_csrec.*"]))
    assert listed == found | {"recbole_csrec.properties"}


def test_the_wheel_ships_every_yaml(tmp_path):
    # Built from a copy of the tracked files, so that the checkout gets no build/ folder.
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True,
                             text=True).stdout.split()
    source = tmp_path / "src"
    for name in tracked:
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(source / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), source / name)
    out = str(tmp_path / "wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", out, str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = [os.path.join(out, n) for n in os.listdir(out) if n.endswith(".whl")]
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n[len("recbole_csrec/properties/"):] for n in names if n.startswith("recbole_csrec/properties/")}
    assert shipped == _yaml_files(PROPERTIES_DIR) and "overall.yaml" in shipped
    assert "recbole_csrec/resources/lastfm_small.csv" in names


def test_paths_named_in_the_docs_exist():
    """Every repository path the README and docs name in backticks is a real path."""
    import re

    pattern = re.compile(r"^(properties|recbole_csrec|run_scripts|docs|tests|dataset)/[\w./-]*$")
    missing = []
    for doc in ("README.md", "dataset/README.md", "docs/method.md", "docs/protocol.md", "docs/tuning.md",
                "docs/usage.md", "docs/architecture.md"):
        with open(os.path.join(REPO, doc), encoding="utf-8") as handle:
            text = handle.read()
        for token in set(re.findall(r"`([^`\s]+)`", text)):
            path = token.split("::")[0]
            if pattern.match(path) and "NAME" not in path and not os.path.exists(os.path.join(REPO, path)):
                missing.append(f"{doc}: {token}")
    assert sorted(missing) == []
    assert os.path.isfile(os.path.join(REPO, "properties", "hyper", "paper_grid.yaml"))  # README's --params_file


# Import names that differ from the distribution that provides them.
_DISTRIBUTION_OF = {"yaml": "pyyaml", "ray": "ray[tune]"}


def _declared(parser: configparser.ConfigParser, *sections: tuple[str, str]) -> set[str]:
    import re

    names = set()
    for section, key in sections:
        for line in parser[section][key].split("\n"):
            if line.strip():
                names.add(re.split(r"[<>=!~ ]", line.strip())[0].lower())
    return names


def test_every_third_party_import_is_declared():
    """A clean install (the CI's) has every module the package and the tests import."""
    import ast

    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    runtime = _declared(parser, ("options", "install_requires"))
    with_tests = runtime | _declared(parser, ("options.extras_require", "test"))
    # an extra's module may be imported where its one-line error names the extra (analyses.pyplot)
    with_extras = runtime | _declared(parser, ("options.extras_require", "plots"))
    ours = {"recbole_csrec", "tests", "run_scripts", "run_recbole_csrec", "run_hyper_csrec"}
    undeclared = []
    for folder, allowed in (("recbole_csrec", with_extras), ("tests", with_tests), ("run_scripts", with_extras)):
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        modules = [node.module]
                    else:
                        continue
                    for module in modules:
                        top = module.split(".")[0]
                        if top in sys.stdlib_module_names or top in ours:
                            continue
                        if _DISTRIBUTION_OF.get(top, top).lower() not in allowed:
                            undeclared.append(f"{os.path.relpath(path, REPO)}: {top}")
    assert sorted(set(undeclared)) == []
