"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class CSRecError(ValueError):
    """Bad input from the user (a config value, a model or dataset name, a file)."""
