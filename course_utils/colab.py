"""Google Colab: is this a Colab runtime, and where do checkpoints outlive it?

A Colab runtime is a fresh virtual machine: when it disconnects (idle too
long, a session limit, a closed laptop) its disk goes with it, checkpoints
included. Google Drive, mounted into the runtime, survives. So a notebook
asks for its checkpoint path through ``checkpoint_path``, which points into
Drive when Drive is mounted and stays local everywhere else::

    mount_drive()                                       # on Colab: asks once for permission
    CHECKPOINT = checkpoint_path("runs/06_resnet18_training/best.pt")
    fit(..., checkpoint=CHECKPOINT, resume=True)        # after a disconnect: run it again

Outside Colab both calls change nothing, so the same cells run in JupyterLab.

Colab has no terminal either: what a learner would type into a shell goes
into a cell, with a ``!`` in front. ``shell_fix``, ``pip_fix`` and ``env_fix``
write a fix the way it is typed where the learner is::

    shell_fix("python -m course_utils fetch-data mnist")  # '!python -m ...' on Colab
    env_fix("COURSE_DATA_DIR", "/content/data")           # 'export ...' / '%env ...'
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

#: Where Colab mounts Google Drive (the folder ``drive.mount`` is given).
DRIVE_MOUNT = Path("/content/drive")
#: The course's folder inside "My Drive".
DRIVE_FOLDER = "resnet-hands-on"
#: Where pip installs the course from without a checkout (pyproject.toml's Repository URL),
#: in case the installed package's metadata does not say.
REPOSITORY = "https://github.com/resnet-hands-on/resnet-hands-on"
#: What a Colab notebook needs after ``%pip install``: packages it had imported stay old until then.
RESTART_HINT = "(then Runtime > Restart session)"


def on_colab() -> bool:
    """True inside a Google Colab runtime (the ``google.colab`` package exists only there)."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ModuleNotFoundError, ValueError):
        return False


def drive_folder(mount: str | os.PathLike = DRIVE_MOUNT) -> Path | None:
    """The course's folder on a mounted Google Drive, or ``None`` when Drive is not mounted."""
    my_drive = Path(mount) / "MyDrive"
    return my_drive / DRIVE_FOLDER if my_drive.is_dir() else None


def mount_drive(mount: str | os.PathLike = DRIVE_MOUNT) -> Path | None:
    """Mount Google Drive on Colab (Colab asks the learner for permission) and return the course's folder.

    Does nothing and returns ``None`` outside Colab. Mounting twice is harmless.
    """
    if not on_colab():
        return None
    if drive_folder(mount) is None:
        drive = importlib.import_module("google.colab.drive")
        drive.mount(str(mount))
    folder = drive_folder(mount)
    if folder is None:
        raise RuntimeError(f"Google Drive did not appear under {mount}/MyDrive after mounting. "
                           "Run the cell again, or mount Drive from Colab's Files panel.")
    return folder


def checkpoint_path(relative: str | os.PathLike, *, mount: str | os.PathLike = DRIVE_MOUNT) -> Path:
    """Where to keep a checkpoint: on Google Drive when it is mounted, else where it was asked for.

    ``relative`` is the local path, e.g. ``"runs/06_resnet18_training/best.pt"``. With Drive
    mounted it becomes ``/content/drive/MyDrive/resnet-hands-on/runs/06_resnet18_training/best.pt``,
    so re-running ``fit(..., resume=True)`` in a new runtime finds it.

    >>> checkpoint_path("runs/05/best.pt")  # not on Colab  # doctest: +SKIP
    PosixPath('runs/05/best.pt')
    """
    relative = Path(relative)
    folder = drive_folder(mount)
    if folder is None or relative.is_absolute():
        return relative
    return folder / relative


def _here(colab: bool | None) -> bool:
    """Whether to write a fix for a Colab cell: as asked, else whether this is Colab."""
    return on_colab() if colab is None else colab


def shell_fix(command: str, *, colab: bool | None = None) -> str:
    """A shell command as the learner types it: as is in a terminal, after ``!`` in a Colab cell.

    ``colab`` defaults to ``on_colab()``.

    >>> shell_fix("python -m course_utils fetch-data mnist", colab=True)
    '!python -m course_utils fetch-data mnist'
    """
    return f"!{command}" if _here(colab) else command


def pip_fix(arguments: str, *, colab: bool | None = None) -> str:
    """Installing with pip: ``python -m pip install ...``, or ``%pip install ...`` and a restart on Colab.

    ``%pip`` installs into the notebook's own Python (a ``!pip`` may not); a package
    the notebook had already imported stays old until the session restarts.

    >>> pip_fix("tqdm", colab=True)
    '%pip install tqdm   (then Runtime > Restart session)'
    """
    if _here(colab):
        return f"%pip install {arguments}   {RESTART_HINT}"
    return f"python -m pip install {arguments}"


def env_fix(name: str, value: str | None, *, colab: bool | None = None) -> str:
    """Setting (or, with ``value=None``, unsetting) an environment variable for the course.

    In a terminal: ``export NAME=value`` or ``unset NAME``. On Colab, in a cell:
    ``%env NAME=value``, which every later ``!python ...`` inherits; ``%env NAME=``
    leaves it empty, which ``course_utils.config`` reads as unset.

    >>> env_fix("COURSE_DATA_DIR", "/content/drive/MyDrive/data", colab=True)
    '%env COURSE_DATA_DIR=/content/drive/MyDrive/data'
    """
    if _here(colab):
        return f"%env {name}={value or ''}"
    return f"unset {name}" if value is None else f"export {name}={value}"


def course_requirement() -> str:
    """What pip installs the course from without a checkout: ``"course_utils @ git+<repository>"``.

    The repository is the installed package's Project-URL "Repository" (from
    pyproject.toml), else ``REPOSITORY``. Quoted, for a shell or ``%pip``.
    """
    try:
        urls = importlib.metadata.metadata("course_utils").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        urls = []
    found = [url.strip() for label, _, url in (u.partition(",") for u in urls)
             if label.strip().lower() == "repository"]
    return f'"course_utils @ git+{(found or [REPOSITORY])[0]}"'
