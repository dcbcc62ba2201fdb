"""`--key=value` settings handed to RecBole: read once, checked, and given to its Config.

RecBole's Config reads `--key=value` from `sys.argv` (command line beats config_dict beats
config files). Every command of this package hands its extra settings over with
`recbole_argv(...)`, and reads them with `parse_overrides`, which converts values exactly as
RecBole's Config does (so `1e-3` is a float, `[5,10]` a list, `abc` a string) and rejects
what RecBole would ignore or trip over (a bare word, `--key` without `=`, a key given twice).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import sys
from typing import Any, Iterable, Iterator, Sequence

from recbole_csrec.errors import CSRecError


def split_override(arg: str) -> tuple[str, str]:
    """('key', 'value') of one `--key=value`; CSRecError for anything RecBole would not read."""
    if not arg.startswith("--") or "=" not in arg:
        raise CSRecError(f"argument '{arg}' is not accepted: settings are --key=value")
    key, value = arg[2:].split("=", 1)
    if not key or not key.replace("_", "a").isalnum():
        raise CSRecError(f"argument '{arg}' is not accepted: '{key}' is not a config key name")
    if "=" in value:  # RecBole silently drops such an argument
        raise CSRecError(f"argument '{arg}' is not accepted: a value cannot contain '=' "
                         "(RecBole would ignore the whole argument)")
    return key, value


def check_repeated(pairs: Iterable[tuple[str, str]]) -> None:
    """A key given twice is an error naming both values (RecBole raises a traceback, or
    keeps one of them silently)."""
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise CSRecError(f"--{key} is given twice ('{seen[key]}' and '{value}'): give it once")
        seen[key] = value


def read_metrics_list(config_dict: dict[str, Any]) -> dict[str, Any]:
    """RecBole leaves `--metrics="[Recall,NDCG+]"` a string (eval fails on bare names): read it as
    a list of names. Only `metrics`: strings such as "[5,inf]" are RecBole intervals."""
    value = config_dict.get("metrics")
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        config_dict["metrics"] = [v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip()]
    return config_dict


def convert_value(key: str, value: str) -> Any:
    """One value as RecBole's Config converts it (its `_convert_config_dict`, with our reading of
    `metrics`); CSRecError where RecBole's eval would raise."""
    from recbole.config import Config

    # RecBole's converter is an instance method that uses no state: call it on a bare instance.
    converter = Config.__new__(Config)
    try:
        return read_metrics_list(converter._convert_config_dict({key: value}))[key]
    except Exception as error:  # e.g. --epochs=1/0 (ZeroDivisionError inside RecBole's eval)
        raise CSRecError(f"--{key}={value} cannot be read: {type(error).__name__}: {error}") from None


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """{key: value} of `--key=value` arguments, values converted as RecBole converts them."""
    pairs = [split_override(arg) for arg in args]
    check_repeated(pairs)
    return {key: convert_value(key, value) for key, value in pairs}




_TYPED: list[list[str]] = []  # sys.argv as it was before each enclosing recbole_argv


@contextlib.contextmanager
def recbole_argv(args: Sequence[str] = ()) -> Iterator[None]:
    """RecBole's Config sees exactly `args` as its command line (and nothing of ours, of
    pytest's or of a Ray worker's) while the block runs."""
    saved = sys.argv
    _TYPED.append(saved)
    sys.argv = [saved[0] if saved else "recbole_csrec"] + list(args)
    try:
        yield
    finally:
        sys.argv = saved
        _TYPED.pop()


def typed_command() -> list[str]:
    """The command line as typed (sys.argv before any recbole_argv rewrote it for RecBole)."""
    return list(_TYPED[0] if _TYPED else sys.argv)


def suggest(key: str, known: Iterable[str]) -> str:
    """ " (did you mean 'beta'?)" for the closest known key, or ""."""
    close = difflib.get_close_matches(key, sorted(set(known)), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[key.lower()]] if key.lower() in lowered else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_known_keys(keys: Iterable[str], known: set[str], where: str = "--") -> None:
    """CSRecError for the first key no configuration layer knows, with the closest known key."""
    for key in keys:
        if key not in known:
            raise CSRecError(f"unknown setting {where}{key}: no RecBole or CSRec option of this "
                             f"model and dataset, nor a key of the config files{suggest(key, known)}")


class GivenOnce(argparse.Action):
    """argparse action for a command's own options: a second occurrence is an error naming
    both values (argparse would keep the last one silently)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given:
            raise CSRecError(f"--{self.dest} is given twice ('{given[self.dest]}' and '{values}'): "
                             "give it once")
        given[self.dest] = values
        setattr(namespace, self.dest, values)


def parse_flag(value: str) -> bool:
    """`--dry_run`, `--dry_run=True`, `--dry_run=false` (argparse type)."""
    lowered = str(value).lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"'{value}' is not accepted: True or False")


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one CSRecError line (exit 2 through exit_code)."""

    def error(self, message: str):
        raise CSRecError(message)
