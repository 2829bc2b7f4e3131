"""Everything the course reads from the environment, in one place.

Three variables change how the course behaves; nothing else in
``course_utils`` looks at ``os.environ``:

* ``COURSE_DATA_DIR``: where datasets live (default: the repository's ``data/``).
* ``COURSE_SMOKE=1``: "smoke mode". Loaders keep a small subset and notebooks
  shrink their epochs, so every notebook runs on a laptop CPU in about a
  minute. Same cells, same code paths; only sizes shrink.
* ``COURSE_DEVICE``: force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a device is needed, so a broken torch can be diagnosed
    import torch

#: The repository root when ``course_utils`` is installed with ``pip install -e .``.
REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def data_dir() -> Path:
    """Where datasets are read from and downloaded to.

    ``COURSE_DATA_DIR`` when it is set, else the repository's ``data/`` folder
    (or ``./data`` beside the notebook when ``course_utils`` was installed from
    git rather than from a checkout, as on Colab: ``/content/data``).

    >>> data_dir()  # doctest: +SKIP
    PosixPath('/home/me/resnet-hands-on/data')
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if (REPO_ROOT / "pyproject.toml").is_file():  # an editable install in a checkout
        return REPO_ROOT / "data"
    return Path.cwd() / "data"


def is_smoke() -> bool:
    """True when ``COURSE_SMOKE`` asks for the small, fast "smoke" run.

    Notebooks use it to pick sizes: ``EPOCHS = 1 if is_smoke() else 10``.
    """
    return os.environ.get("COURSE_SMOKE", "").strip().lower() in _TRUE


def get_device(prefer: str | None = None) -> torch.device:
    """The fastest device this machine offers: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the ``COURSE_DEVICE`` variable) picks one explicitly; asking
    for a device that is not there raises a ``RuntimeError`` that says so,
    rather than silently training on the CPU.

    >>> get_device("cpu")
    device(type='cpu')
    """
    import torch

    choice = prefer or os.environ.get("COURSE_DEVICE") or None
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {choice!r} was asked for, but PyTorch sees no CUDA GPU. "
                "On Colab choose Runtime > Change runtime type > GPU; elsewhere "
                "unset COURSE_DEVICE to use the CPU."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(
                f"Device {choice!r} was asked for, but Apple's MPS backend is not "
                "available here. Unset COURSE_DEVICE to use the CPU."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick(full, *, short=None, smoke, run: str = "full"):
    """Choose a size for the current run: ``smoke`` in smoke mode, else by ``run``.

    Notebooks declare their sizes once, near the top::

        RUN = "full"   # or "short": finishes in a 90-minute class on a Colab T4
        EPOCHS = pick(full=30, short=5, smoke=1, run=RUN)

    ``short`` defaults to ``full``.
    """
    if run not in ("full", "short"):
        raise ValueError(f"run must be 'full' or 'short', not {run!r}")
    if is_smoke():
        return smoke
    if run == "short" and short is not None:
        return short
    return full
