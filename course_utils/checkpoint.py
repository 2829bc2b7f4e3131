"""Checkpoints that survive a disconnect: written atomically, read safely.

A checkpoint is one file holding everything ``fit`` needs to carry on (the
model, optimizer, scheduler and random-number states, the epoch and the
history) plus the weights of the best epoch so far.

Two rules keep a learner's work safe:

* **Atomic writes.** The file is written to ``NAME.tmp`` and then renamed over
  ``NAME``; a rename is all-or-nothing, so a crash mid-write (a Colab
  disconnect) leaves the previous checkpoint whole.
* **Safe reads.** ``torch.load(..., weights_only=True)`` only builds tensors and
  plain Python containers, never arbitrary objects, so a checkpoint from
  elsewhere cannot run code on your machine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "course_utils.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or that belongs to another model."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, then rename).

    Parent folders are created. Returns the path written.

    >>> save_checkpoint({"model": model.state_dict()}, "runs/demo/ckpt.pt")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``, with ``weights_only=True``.

    Raises ``CheckpointError`` saying what to do when the file is missing,
    truncated, corrupt, or not one of ours.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train with fit(..., checkpoint={str(path)!r}) first.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, garbage bytes, pickled objects, ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err)[:200]}). "
            "It is truncated, corrupt, or was not written by course_utils. "
            "Delete it (or choose another checkpoint path) to start training afresh."
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} was not written by course_utils.fit (no {FORMAT!r} marker). "
            "To load plain weights use model.load_state_dict(torch.load(path, weights_only=True))."
        )
    return state


def load_weights(model: nn.Module, path: str | os.PathLike, which: str = "best") -> nn.Module:
    """Load the ``"best"`` (default) or ``"last"`` weights of a checkpoint into ``model``.

    >>> load_weights(MnistResNet(), "runs/mnist/best.pt")  # doctest: +SKIP
    """
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', not {which!r}")
    state = load_checkpoint(path)
    restore_model(model, state["best_model" if which == "best" else "model"], path)
    return model


def restore_model(model: nn.Module, weights: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """``model.load_state_dict(weights)`` with an error that names the mismatch."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(
            f"The checkpoint {path} holds weights of a different model than the one "
            f"given ({type(model).__name__}): {str(err).splitlines()[0]} ... "
            "Build the same model as when it was saved, or train into a new checkpoint path."
        ) from err
