"""User-facing errors and the exit-code helper every command's `main` uses.

Exit codes: 0 done, 2 bad input (CSRecError; argparse's own usage errors too), 3 a training
phase diverged (DivergenceError). Each failure is one stderr line `<prog>: error: ...`.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


class CSRecError(ValueError):
    """Bad input from the user (a config value, a model or dataset name, a file)."""


class DivergenceError(RuntimeError):
    """A training phase's loss became NaN or infinite; what finished before it is kept."""

    def __init__(self, phase: str, epoch: int, loss: float, hint: str) -> None:
        self.phase, self.epoch, self.loss, self.hint = phase, epoch, loss, hint
        super().__init__(f"phase '{phase}' diverged at epoch {epoch} (training loss {loss}): {hint}")


def exit_code(prog: str, action: Callable[[], Any]) -> int:
    """Run a command's `action`: its own int result (0 when it returns None), 2 on bad input,
    3 on divergence. Bad input and divergence print one line `<prog>: error: ...` to stderr,
    never a traceback.
    """
    try:
        result = action()
    except CSRecError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DivergenceError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except SystemExit as stop:  # argparse has printed its usage line already
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
