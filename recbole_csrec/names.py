"""Teacher kinds and the names the paper gives the methods they make (Base, SoftRec, CSRec-M/D/T).

Plain data with no imports, so that the teacher registry, the run summary and every benchmark
module (runner, aggregate, analyses, results page) read names from one place without importing
each other.
"""
from __future__ import annotations

# teacher kind (`--teacher`) -> method name in the paper's tables, in the tables' row order
METHOD_NAMES: dict[str, str] = {
    "none": "Base",
    "pop": "SoftRec",
    "model": "CSRec-M",
    "data": "CSRec-D",
    "training": "CSRec-T",
}
METHOD_ORDER: list[str] = list(METHOD_NAMES.values())


def method_name(teacher: str) -> str:
    """The method name of a teacher kind; an unknown kind (e.g. a user's own) names itself."""
    return METHOD_NAMES.get(teacher, teacher)
