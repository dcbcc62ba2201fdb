"""The package version: one place (setup.cfg reads it, store entries record it)."""
__version__ = "0.1.0"
