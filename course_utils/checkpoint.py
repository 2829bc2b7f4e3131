"""Checkpoints that survive a disconnect: written atomically, read safely, resumed only as the same run.

A checkpoint is one file holding everything ``fit`` needs to carry on (the
model, optimizer, scheduler and random-number states, the epoch and the
history) plus the weights of the best epoch so far. ``save_run`` writes it
after every epoch; ``restore_run`` puts it back, after checking that the run
asking is the run that saved it (``run_config``).

Two rules keep a learner's work safe:

* **Atomic writes.** The file is written to ``NAME.tmp`` and then renamed over
  ``NAME``; a rename is all-or-nothing, so a crash mid-write (a Colab
  disconnect) leaves the previous checkpoint whole.
* **Safe reads.** ``torch.load(..., weights_only=True)`` only builds tensors and
  plain Python containers, never arbitrary objects, so a checkpoint from
  elsewhere cannot run code on your machine.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from course_utils.distributed import all_gather_objects, get_rank, get_world_size, is_distributed, is_main, unwrap

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


# ---------------------------------------------------------------------------
# A whole training run: what fit saves after every epoch, and resumes from
# ---------------------------------------------------------------------------

@dataclass
class SavedRun:
    """Where a resumed run stands: the epochs done, their history, the best epoch's accuracy and weights."""

    epoch: int
    history: dict[str, list]
    best_accuracy: float
    best_model: dict[str, torch.Tensor] | None


def save_run(path: str | os.PathLike, *, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: Any, scaler: torch.amp.GradScaler, loader: Iterable, history: dict[str, list],
             config: dict[str, Any], best_accuracy: float, best_model: dict[str, torch.Tensor] | None) -> None:
    """Save, atomically at ``path``, everything ``fit`` needs to carry on after ``epoch``.

    The weights (of the plain model, without DDP's ``module.`` prefix), the optimizer,
    scheduler and gradient-scaler states, the random states that decide the next epoch
    (torch's, and the loader's shuffle and augmentation), the history, the run's
    settings (``config``) and the best epoch so far. Under ``torchrun`` call it on every
    rank: each rank's random states are gathered, and rank 0 writes the file.
    """
    rng = _get_rng_state(loader)
    rng_per_rank = all_gather_objects(rng) if is_distributed() else None
    if is_main():
        save_checkpoint({
            "epoch": epoch, "model": cpu_state(model), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict(), "rng": rng, "rng_per_rank": rng_per_rank,
            "history": history, "config": config,
            "best_accuracy": best_accuracy, "best_model": best_model,
        }, path)


def restore_run(path: str | os.PathLike, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, scaler: torch.amp.GradScaler, loader: Iterable, config: dict[str, Any],
                epochs: int) -> SavedRun | None:
    """Put the run saved at ``path`` back into ``model``, ``optimizer``, ``scheduler``, ``scaler``
    and ``loader``; None when nothing is saved there yet.

    A checkpoint saved with other settings is refused first, with ``CheckpointError``
    listing each difference (see ``run_config``). Resumed with as many ranks as it
    was saved with, each rank gets its own random states back; otherwise rank 0's.
    """
    if not _checkpoint_exists(path):
        return None
    state = load_checkpoint(path)
    check_same_config(state.get("config"), config, path)
    restore_model(unwrap(model), state["model"], path)
    restore_training_state(state, optimizer, scheduler, scaler, path, epochs)
    per_rank = state.get("rng_per_rank") or []
    _set_rng_state(per_rank[get_rank()] if len(per_rank) == get_world_size() else state["rng"], loader)
    best = state["best_accuracy"]  # nan: saved without a validation split
    return SavedRun(state["epoch"], state["history"], -math.inf if math.isnan(best) else best,
                    state["best_model"])


def run_config(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
               scheduler: Any, train_loader: Iterable,
               settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings that make a training run what it is, as plain values.

    ``fit`` stores them in its checkpoint and, on ``resume=True``, refuses a
    checkpoint whose settings differ: carrying on someone else's run (another
    learning rate, loss or weight decay) would silently train a mixture of two.
    The optimizer's are its constructor arguments (``optimizer.defaults``),
    which a scheduler never changes; the model is named by its class and a
    digest of its printed structure (so ``inner_relu=True`` differs); a
    schedule planned for a number of steps (``OneCycleLR``) by that number.
    ``settings`` are the caller's own (the dataset, the seed), kept as given.
    """
    def plain(values: dict[str, Any]) -> dict[str, Any]:
        simple = (bool, int, float, str, type(None))
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(values.items())
                if not k.startswith("_") and k != "training"
                and (isinstance(v, simple) or (isinstance(v, tuple) and all(isinstance(x, simple) for x in v)))}

    net = unwrap(model)
    config = {
        "model": f"{type(net).__name__} {hashlib.sha256(repr(net).encode()).hexdigest()[:12]}",
        "optimizer": {"name": type(optimizer).__name__, **plain(optimizer.defaults)},
        "loss": {"name": type(loss_fn).__name__, **plain(vars(loss_fn))},
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "batch_size": getattr(train_loader, "batch_size", None),
    }
    if getattr(scheduler, "total_steps", None) is not None:  # OneCycleLR: planned for epochs x batches
        config["scheduler total_steps"] = scheduler.total_steps
    if settings is not None:
        config["settings"] = plain(dict(settings))
        dropped = sorted(set(settings) - set(config["settings"]))
        if dropped:
            raise TypeError("fit's settings must be plain values (bool, int, float, str, None, or "
                            "tuples of them) under names that do not start with '_', not "
                            + ", ".join(f"{name}={settings[name]!r}" for name in dropped) + ".")
    return config


def config_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Each setting in which ``now`` differs from ``saved``, as ``(name, saved value, new value)``.

    Only settings recorded in both are compared: an older checkpoint, or a caller
    that gives no ``settings``, cannot be judged on what it did not record. The
    optimizer and the loss are compared by type, then by each argument they share:

    >>> config_differences({"optimizer": {"name": "SGD", "lr": 0.1}}, {"optimizer": {"name": "SGD", "lr": 0.01}})
    [('optimizer lr', 0.1, 0.01)]
    """
    differences = []
    for key in [key for key in now if key in saved]:  # in the order ``now`` lists them
        old, new = saved[key], now[key]
        if key == "batch_size" and None in (old, new):
            continue  # a loader that does not tell its batch size
        if isinstance(old, dict) and isinstance(new, dict):
            if old.get("name") != new.get("name"):
                differences.append((key, old.get("name"), new.get("name")))
            prefix = "" if key == "settings" else f"{key} "  # the caller's own names, as given
            differences += [(prefix + name, old[name], new[name]) for name in new
                            if name != "name" and name in old and old[name] != new[name]]
        elif old != new:
            differences.append((key, old, new))
    return differences


def show_setting(value: Any) -> str:
    """A saved setting as a learner would write it: ``mnist``, ``0.001``, ``(0.9, 0.999)``."""
    if isinstance(value, list):
        return repr(tuple(value))  # tuples are saved as lists
    return value if isinstance(value, str) else repr(value)


def check_same_config(saved: dict[str, Any] | None, now: dict[str, Any],
                      checkpoint: str | os.PathLike) -> None:
    """Raise ``CheckpointError`` listing every setting in which ``now`` differs from ``saved``.

    One line per difference, ``setting: saved value -> new value``, then the two ways
    out. A checkpoint written before settings were recorded (``saved`` is None) is not checked.
    """
    differences = config_differences(saved or {}, now)
    if differences:
        lines = "".join(f"\n  {name}: {show_setting(old)} -> {show_setting(new)}"
                        for name, old, new in differences)
        raise CheckpointError(
            f"The checkpoint {checkpoint} was saved by a run with other settings "
            f"(setting: saved -> now):{lines}\n"
            "Resuming would mix two runs. Either resume with the settings it was saved with, "
            "or start afresh: resume=False (overwrites it) or another checkpoint path "
            "(run_dir names one per configuration)."
        )


def restore_training_state(state: dict[str, Any], optimizer, scheduler, scaler,
                           checkpoint: str | os.PathLike, epochs: int) -> None:
    """Load the optimizer, scheduler and gradient-scaler states saved by ``fit``.

    They fit only the run that saved them: the same parameters in the optimizer, and a
    schedule of the same length (``OneCycleLR`` counts its steps, so more epochs or a
    different batch size would run past its end). A mismatch raises ``CheckpointError``.
    """
    try:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            steps, saved_steps = getattr(scheduler, "total_steps", None), state["scheduler"].get("total_steps")
            if steps != saved_steps:  # load_state_dict would quietly take the saved length
                raise ValueError(f"this schedule has {steps} steps, the saved one {saved_steps}")
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # empty when saved without float16 (CPU, bfloat16)
            scaler.load_state_dict(state["scaler"])
    except (ValueError, KeyError, RuntimeError) as err:
        reason = (str(err).splitlines() or [repr(err)])[0]
        raise CheckpointError(
            f"The checkpoint {checkpoint} was saved by a different training run "
            f"({type(err).__name__}: {reason}). Resume "
            f"with the same optimizer, schedule, epochs (now {epochs}) and batch size as when it "
            "was saved, or train into a new checkpoint path to start afresh."
        ) from err


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights, named as in the plain model (no DDP ``module.`` prefix)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def _checkpoint_exists(path: str | os.PathLike) -> bool:
    """Does ``path`` exist? Under DDP every rank must agree, or they would train different models."""
    here = Path(path).is_file()
    if not is_distributed():
        return here
    seen = all_gather_objects(here)
    if len(set(seen)) > 1:
        raise RuntimeError(
            f"The checkpoint {path} exists on ranks {[r for r, s in enumerate(seen) if s]} only. "
            "On several machines, --out (the checkpoint folder) must be on a shared filesystem."
        )
    return here


def _loader_generators(loader: Any) -> dict[str, torch.Generator | None]:
    """The generators a loader draws from: its own (worker seeds, a ``DeviceLoader``'s
    augmentation) and its sampler's (the shuffle of ``get_loaders``' training loader)."""
    return {"loader": getattr(loader, "generator", None),
            "sampler": getattr(getattr(loader, "sampler", None), "generator", None)}


def _get_rng_state(loader: Any) -> dict[str, Any]:
    """Random states that decide the next epoch: shuffling, augmentation, dropout."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        **{name: gen.get_state() if gen is not None else None
           for name, gen in _loader_generators(loader).items()},
    }


def _set_rng_state(state: dict[str, Any], loader: Any) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, gen in _loader_generators(loader).items():
        if gen is not None and state.get(name) is not None:  # older checkpoints: no "sampler"
            gen.set_state(state[name])
