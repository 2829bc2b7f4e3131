"""Notebooks run under pytest run in smoke mode, unless you say otherwise.

A notebook runner such as ``pytest --nbmake notebooks/`` starts a Jupyter kernel
for each notebook, and the kernel inherits this process's environment. Without
``COURSE_SMOKE`` the notebooks would train at full size: hours on a laptop CPU,
and they would download the full datasets. So this file, which pytest imports
before it collects anything under the repository, sets ``COURSE_SMOKE=1`` when
the variable is not set: every notebook then runs in about a minute, the same
cells with smaller sizes (see ``course_utils.config.is_smoke``).

To run the notebooks at full size, say so::

    COURSE_SMOKE=0 pytest --nbmake notebooks/

A value you set is never changed. The default is for notebooks only: when a
session collects no notebook (the README's ``python -m pytest``: the tests and
the docstring examples), it is taken back before anything runs, so that tests
choose their own sizes (``tests/conftest.py`` also removes the variable for each
test, whoever set it).
"""
from __future__ import annotations

import os

import pytest

#: True when this file set COURSE_SMOKE, rather than the shell that started pytest.
SMOKE_BY_DEFAULT = "COURSE_SMOKE" not in os.environ
os.environ.setdefault("COURSE_SMOKE", "1")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Take the smoke default back when nothing collected is a notebook (``*.ipynb``)."""
    if SMOKE_BY_DEFAULT and not any(item.path.suffix == ".ipynb" for item in session.items):
        os.environ.pop("COURSE_SMOKE", None)
