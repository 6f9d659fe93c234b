"""Allows `python -m egressguard`."""

from egressguard.cli import entry_point

entry_point()
