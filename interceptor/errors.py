"""Operator errors the commands report as one line (not in cli.py: ``python -m interceptor.cli`` runs
that module as ``__main__``, and a class defined there would not be the one other modules raise)."""


class UsageError(Exception):
    """An operator error found before any work (bad path, conflicting options, busy port): exit 2."""
