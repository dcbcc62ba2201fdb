"""Where the package's own files live: the yaml settings (properties/) and shipped data (resources/).

`properties/` has one home, the repository's top level. A built wheel ships it as package data
inside the package (`recbole_csrec/properties/`, mapped in setup.cfg); a checkout or an editable
install reads the top-level folder itself. There is never a second copy in the tree.
"""
from __future__ import annotations

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
RESOURCES_DIR = os.path.join(PACKAGE_DIR, "resources")
PROPERTIES_PREFIX = "properties" + os.sep


def _find_properties_dir() -> str:
    for candidate in (os.path.join(PACKAGE_DIR, "properties"),                    # installed wheel
                      os.path.join(os.path.dirname(PACKAGE_DIR), "properties")):  # checkout
        if os.path.isfile(os.path.join(candidate, "overall.yaml")):
            return candidate
    raise RuntimeError(f"recbole_csrec's properties/ (overall.yaml) is missing next to {PACKAGE_DIR}: "
                       "reinstall the package")


PROPERTIES_DIR = _find_properties_dir()


def shipped_properties_file(path: str) -> str | None:
    """`properties/<rest>` as shipped with the package, for a path written as in the README
    (e.g. properties/hyper/paper_grid.yaml) when it is not a file relative to the working folder."""
    norm = os.path.normpath(path)
    if os.path.isabs(norm) or not norm.startswith(PROPERTIES_PREFIX):
        return None
    shipped = os.path.join(PROPERTIES_DIR, norm[len(PROPERTIES_PREFIX):])
    return shipped if os.path.isfile(shipped) else None
