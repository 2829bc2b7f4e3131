"""Argument checks shared by every part of the package: a bad value is named where it is passed.

Without them a ``subset=2.5`` or ``batch_size=0`` fails much later, deep inside a
``DataLoader``, with a message about something else. This module imports nothing
of the course's, so any other module can use it.
"""
from __future__ import annotations

import operator

__all__ = ["check_whole_number", "is_integer"]


def is_integer(value: object) -> bool:
    """True for ints, numpy and torch integers; False for floats (even 3.0) and for bools.

    >>> is_integer(3), is_integer(3.0), is_integer(True)
    (True, False, False)
    """
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def check_whole_number(value: object, name: str, meaning: str, *, least: int = 1) -> None:
    """Raise a ``ValueError`` saying what was given unless ``value`` is a whole number >= ``least``.

    >>> check_whole_number(2.5, "subset", "how many images to keep")
    Traceback (most recent call last):
    ValueError: subset must be a whole number of at least 1 (how many images to keep), not 2.5.
    """
    if not is_integer(value) or value < least:
        raise ValueError(f"{name} must be a whole number of at least {least} ({meaning}), not {value!r}.")
