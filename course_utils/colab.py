"""Google Colab: is this a Colab runtime, and where do checkpoints outlive it?

A Colab runtime is a fresh virtual machine: when it disconnects (idle too
long, a session limit, a closed laptop) its disk goes with it, checkpoints
included. Google Drive, mounted into the runtime, survives. So a notebook
asks for its checkpoint path through ``checkpoint_path``, which points into
Drive when Drive is mounted and stays local everywhere else::

    mount_drive()                                       # on Colab: asks once for permission
    CHECKPOINT = checkpoint_path("runs/04_resnet18/best.pt")
    fit(..., checkpoint=CHECKPOINT, resume=True)        # after a disconnect: run it again

Outside Colab both calls change nothing, so the same cells run in JupyterLab.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

#: Where Colab mounts Google Drive (the folder ``drive.mount`` is given).
DRIVE_MOUNT = Path("/content/drive")
#: The course's folder inside "My Drive".
DRIVE_FOLDER = "resnet-hands-on"


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

    ``relative`` is the local path, e.g. ``"runs/04_resnet18/best.pt"``. With Drive
    mounted it becomes ``/content/drive/MyDrive/resnet-hands-on/runs/04_resnet18/best.pt``,
    so re-running ``fit(..., resume=True)`` in a new runtime finds it.

    >>> checkpoint_path("runs/05/best.pt")  # not on Colab  # doctest: +SKIP
    PosixPath('runs/05/best.pt')
    """
    relative = Path(relative)
    folder = drive_folder(mount)
    if folder is None or relative.is_absolute():
        return relative
    return folder / relative
