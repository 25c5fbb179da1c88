"""The one error type for bad user input, raised at the package boundary.

``MLVMInputError`` subclasses ``ValueError`` so existing ``except ValueError`` code keeps
working; its message names the argument, the value given and what would be valid. The
command line turns exactly this error into a one-line message with exit code 2; anything
else is a bug and surfaces as one.
"""

from __future__ import annotations

__all__ = ["MLVMInputError", "MLVMWarning", "check_choice"]


class MLVMInputError(ValueError):
    """Bad user input: an argument's value is not valid (see the message)."""


class MLVMWarning(UserWarning):
    """Numerical trouble or a result the user should know about (non-convergence, a
    Heywood case, an unidentified model)."""


def check_choice(arg: str, value, choices) -> None:
    """Raise :class:`MLVMInputError` unless ``value`` is one of ``choices``."""
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        raise MLVMInputError(f"{arg}={value!r} is not valid; valid: "
                             + ", ".join(map(repr, choices)))
