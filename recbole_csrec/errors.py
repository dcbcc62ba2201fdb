"""User-facing errors: the CLIs print them as one line and exit with code 2."""
from __future__ import annotations

import sys
from typing import Callable


class CSRecError(ValueError):
    """Bad input from the user (a config value, a model or dataset name, a file)."""


def exit_code(prog: str, action: Callable[[], object]) -> int:
    """Run a command's `action`: 0 when it succeeds, 2 with one stderr line on a CSRecError."""
    try:
        action()
    except CSRecError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
