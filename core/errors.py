"""Errors with a one-line message for the user."""


class BadInput(Exception):
    """Input the program cannot use (missing, corrupt, too large). Exit code 1."""


class UsageError(Exception):
    """Wrong arguments. Exit code 2."""


class MethodUnavailable(Exception):
    """A method cannot run here (e.g. its weights are missing)."""


def refuse_existing(folder, names, overwrite: bool, note: str = "") -> None:
    """Nothing is overwritten silently: BadInput (one line) when any of the files ``names`` is in
    ``folder`` already, unless ``overwrite``. Checked before anything is written."""
    from pathlib import Path

    there = [n for n in names if (Path(folder) / n).exists()]
    if there and not overwrite:
        raise BadInput(f"{folder}: {', '.join(there)} already exist; pass --overwrite to replace them{note}")
