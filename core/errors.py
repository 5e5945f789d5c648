"""Errors with a one-line message for the user."""


class BadInput(Exception):
    """Input the program cannot use (missing, corrupt, too large). Exit code 1."""


class UsageError(Exception):
    """Wrong arguments. Exit code 2."""


class MethodUnavailable(Exception):
    """A method cannot run here (e.g. its weights are missing)."""
