"""The training loop: ``fit`` trains, ``evaluate`` measures, ``History`` remembers.

One epoch of ``fit`` is the loop every tutorial writes::

    for x, y in train_loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

plus what a course needs around it: the device, mixed precision, a progress
bar, per-epoch metrics, the best checkpoint, resuming after a disconnect,
TensorBoard and a clear stop when the loss blows up.

Metrics are summed *on the device* and read once per epoch: calling
``loss.item()`` every batch forces the CPU to wait for the GPU each time.

``fit`` also runs under ``torchrun`` with a ``DistributedDataParallel`` model
(see ``course_utils.distributed``): the sums are added up over all ranks, so
the ``History`` is global, and only rank 0 prints, logs and saves.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset

from course_utils.checkpoint import CheckpointError, load_checkpoint, restore_model, save_checkpoint
from course_utils.config import get_device
from course_utils.distributed import (all_gather_objects, all_reduce_sum, broadcast_buffers, get_rank,
                                      get_world_size, is_distributed, is_main, unwrap)
from course_utils.fast import autocast, autocast_dtype, prepare_model
from course_utils.models import check_input, eval_mode

#: How often (in batches) the progress bar shows the running loss; also how
#: often a non-finite loss is noticed. Each look costs one GPU-CPU sync.
LOG_EVERY = 50


@dataclass
class History:
    """Per-epoch metrics of a ``fit`` run, one list per column.

    Accuracies are fractions (0.91, not 91). ``val_*`` hold ``nan`` when
    ``fit`` had no validation loader, ``test_*`` when it had no test loader.

    >>> h = fit(model, train_loader, val_loader, epochs=3)  # doctest: +SKIP
    >>> h.val_acc[-1], h.best_epoch()  # doctest: +SKIP
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    examples_per_s: list[float] = field(default_factory=list)

    def append(self, **row: float) -> None:
        """Add one epoch's row. A validation or test column left out is ``nan``."""
        unknown = set(row) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(f"History has no column {', '.join(sorted(unknown))}")
        for name in self.__dataclass_fields__:
            optional = name.startswith(("val_", "test_"))
            getattr(self, name).append(row.get(name, math.nan) if optional else row[name])

    def __len__(self) -> int:
        return len(self.epoch)

    def best_epoch(self) -> int:
        """The epoch with the highest validation accuracy (the first, on a tie).

        This is the epoch ``fit`` keeps as the best model. Without a validation
        split there is nothing fair to choose on (the test set must stay unseen,
        and training accuracy rewards overfitting), so it is the last epoch.
        """
        if not len(self):
            raise ValueError("The history is empty: no epoch has been trained yet.")
        if all(math.isnan(a) for a in self.val_acc):
            return self.epoch[-1]
        scores = [-math.inf if math.isnan(a) else a for a in self.val_acc]
        return self.epoch[max(range(len(scores)), key=lambda i: scores[i])]

    def to_dict(self) -> dict[str, list]:
        """Plain lists, for ``json.dump`` or ``pandas.DataFrame(history.to_dict())``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, columns: dict[str, list]) -> "History":
        """The inverse of ``to_dict``; a column that is missing (older files) is filled with ``nan``."""
        n = len(columns.get("epoch", []))
        return cls(**{name: list(columns.get(name, [math.nan] * n)) for name in cls.__dataclass_fields__})

    def __str__(self) -> str:
        groups = [("train", self.train_loss, self.train_acc), ("val", self.val_loss, self.val_acc),
                  ("test", self.test_loss, self.test_acc)]
        groups = [g for g in groups if not all(math.isnan(a) for a in g[2])] or groups[:1]
        header = "epoch" + "".join(f"  {name + ' loss':>10}  {name + ' acc':>9}" for name, _, _ in groups)
        lines = [header + "  seconds  examples/s"]
        for i in range(len(self)):
            row = f"{self.epoch[i]:>5}" + "".join(f"  {loss[i]:>10.4f}  {acc[i]:>9.2%}" for _, loss, acc in groups)
            lines.append(row + f"  {self.seconds[i]:>7.1f}  {self.examples_per_s[i]:>10,.0f}")
        return "\n".join(lines)


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite."""


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    epochs: int,
    test_loader: Iterable | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float | None = None,
    loss_fn: nn.Module | None = None,
    scheduler: Any | None = None,
    scheduler_interval: str = "epoch",
    device: str | torch.device | None = None,
    amp: bool | str = "auto",
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    log_dir: str | os.PathLike | None = None,
    progress: bool = True,
    fast: bool = False,
    settings: dict[str, Any] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its ``History``.

    Args:
        model: any ``nn.Module`` that maps a batch of images to class logits.
        train_loader: an iterable of ``(images, labels)`` batches to learn from.
        val_loader: batches held out of the training data (``get_loaders(...,
            val_size=n)``), scored after every epoch. The best epoch, the one
            the checkpoint keeps, is chosen on it.
        epochs: the total number of epochs, counting those a resumed run already did.
        test_loader: scored after every epoch too, for the record only: nothing is
            chosen on it. Usually you leave it out and call ``evaluate`` on the test
            set once, for the model you chose.
        optimizer: defaults to ``Adam(model.parameters(), lr=lr or 1e-3)``.
        lr: the learning rate of the default optimizer (give it or ``optimizer``, not both).
        loss_fn: defaults to ``nn.CrossEntropyLoss()``.
        scheduler: a ``torch.optim.lr_scheduler`` object, stepped once per epoch,
            or once per batch with ``scheduler_interval="batch"`` (``OneCycleLR``).
        device: defaults to ``get_device()`` (CUDA, then MPS, then CPU).
        amp: mixed precision. ``"auto"`` uses bfloat16 on GPUs that compute in it
            natively, float16 with a gradient scaler on older GPUs, and nothing on
            the CPU (see ``autocast_dtype``); ``False`` turns it off, ``"bf16"`` or
            ``"fp16"`` force one.
        checkpoint: a file path. After every epoch the training state is saved
            there (atomically), together with the weights of the best epoch so far
            (highest validation accuracy; without ``val_loader``, the last epoch).
            Load them with ``load_weights(model, path)``.
        resume: continue from ``checkpoint`` after its last completed epoch, so
            re-running the same cell after a disconnect picks up where it stopped.
            A checkpoint saved with other settings (model, optimizer type and its
            hyper-parameters, loss, batch size, ``settings``) is refused before
            training, with one error listing each difference.
        log_dir: write TensorBoard scalars (loss, accuracy, learning rate) per epoch.
        progress: show tqdm progress bars and one summary line per epoch.
        fast: set the model up to train fast on the device first, with
            ``course_utils.fast.prepare_model``: ``channels_last`` and
            ``cudnn.benchmark`` on CUDA (nothing changes on a CPU). Pair it with
            ``get_loaders(..., on_device=True)``, which makes the batches there.
        settings: what else makes this run what it is that ``fit`` cannot see, as
            plain values: the dataset, the seed, the epochs a schedule was planned
            for (``{"data": "mnist", "seed": 0}``). Saved in the checkpoint and
            compared on ``resume`` like the optimizer's settings.

    Under ``torchrun``, pass a ``DistributedDataParallel`` model and loaders
    whose sampler is a ``DistributedSampler``: each epoch calls
    ``set_epoch(epoch)`` on it (new shuffle, same on all ranks), metrics are
    summed over the ranks, and only rank 0 shows progress, writes TensorBoard
    and saves the checkpoint (of the plain model inside the wrapper). Every
    rank resumes from the same checkpoint file.

    >>> history = fit(MnistResNet(), train_loader, val_loader, epochs=3, lr=1e-3)  # doctest: +SKIP
    """
    if optimizer is not None and lr is not None:
        raise ValueError("Give either optimizer= or lr= (for the default Adam), not both.")
    _check_epochs(epochs)
    if lr is not None:
        _check_lr(lr)
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', not {scheduler_interval!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH: the file to resume from.")
    check_loader(train_loader, "fit's train_loader")
    for loader, what in ((val_loader, "fit's val_loader"), (test_loader, "fit's test_loader")):
        if loader is not None:
            check_loader(loader, what)
    device = torch.device(device) if device is not None else get_device()
    progress = progress and is_main()  # one progress bar, not one per rank
    if fast:
        prepare_model(unwrap(model), device)  # in place: the optimizer keeps the same parameters
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3 if lr is None else lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    amp_dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    config = run_config(model, optimizer, loss_fn, scheduler, train_loader, settings)

    history, start, best_acc, best_model = History(), 1, -math.inf, None
    if resume and _checkpoint_exists(checkpoint):
        state = load_checkpoint(checkpoint)
        check_same_config(state.get("config"), config, checkpoint)
        restore_model(unwrap(model), state["model"], checkpoint)
        restore_training_state(state, optimizer, scheduler, scaler, checkpoint, epochs)
        rng_per_rank = state.get("rng_per_rank") or []
        same_world = len(rng_per_rank) == get_world_size()  # resumed with as many ranks as saved
        _set_rng_state(rng_per_rank[get_rank()] if same_world else state["rng"], train_loader)
        history = History.from_dict(state["history"])
        start, best_acc, best_model = state["epoch"] + 1, state["best_accuracy"], state["best_model"]
        best_acc = -math.inf if math.isnan(best_acc) else best_acc  # saved without a validation split
        _say(progress, f"Resuming from {checkpoint}: {state['epoch']} epoch(s) done"
                       + (f", best validation accuracy so far {best_acc:.2%}." if val_loader else "."))
    elif resume:
        _say(progress, f"No checkpoint at {checkpoint} yet: starting from epoch 1.")

    writer = _summary_writer(log_dir) if is_main() else None
    try:
        for epoch in range(start, epochs + 1):
            _set_epoch(train_loader, epoch)
            t0 = time.perf_counter()
            train = _train_one_epoch(model, train_loader, optimizer, loss_fn, device, amp_dtype,
                                     scaler, scheduler if scheduler_interval == "batch" else None,
                                     epoch, epochs, progress)
            seconds = time.perf_counter() - t0
            broadcast_buffers(unwrap(model))  # BatchNorm statistics: rank 0's everywhere
            val, test = (evaluate(model, loader, device=device, loss_fn=loss_fn, amp=amp)
                         if loader is not None else {"loss": math.nan, "accuracy": math.nan}
                         for loader in (val_loader, test_loader))
            lr_now = optimizer.param_groups[0]["lr"]
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            history.append(epoch=epoch, train_loss=train["loss"], train_acc=train["accuracy"],
                           val_loss=val["loss"], val_acc=val["accuracy"],
                           test_loss=test["loss"], test_acc=test["accuracy"], lr=lr_now,
                           seconds=seconds, examples_per_s=train["n"] / seconds)
            _say(progress, _epoch_line(history, epochs))
            _log_scalars(writer, history)

            # Choose on validation data only; without it, keep the latest weights.
            if val_loader is None or val["accuracy"] > best_acc:
                best_acc, best_model = val["accuracy"], _cpu_state(model)
            rng = _get_rng_state(train_loader)
            rng_per_rank = all_gather_objects(rng) if is_distributed() else None
            if checkpoint is not None and is_main():
                save_checkpoint({
                    "epoch": epoch, "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "scaler": scaler.state_dict(), "rng": rng, "rng_per_rank": rng_per_rank,
                    "history": history.to_dict(), "config": config,
                    "best_accuracy": best_acc, "best_model": best_model,
                }, checkpoint)
    finally:
        if writer is not None:
            writer.close()
    return history


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


def _train_one_epoch(model, loader, optimizer, loss_fn, device, amp_dtype, scaler, batch_scheduler,
                     epoch, epochs, progress) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss, accuracy and example count."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite batch
    n = 0
    bar = _progress_bar(loader, progress, f"epoch {epoch}/{epochs}")
    for i, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if i == 0:
            check_input(unwrap(model), x)
        with autocast(device, amp_dtype):
            logits = model(x)
            if i == 0:  # one look per epoch: it costs a GPU-CPU sync
                check_labels(y, logits, "fit")
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()

        loss = loss.detach().float()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), i, first_bad)
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()
        n += len(y)
        if (i + 1) % LOG_EVERY == 0:
            if not is_distributed():  # under DDP all ranks check together, after the epoch
                _check_finite(first_bad, epoch)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{(loss_sum / n).item():.4f}")
    if is_distributed():  # global sums over every rank's examples
        totals = all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                             torch.tensor(float(n), dtype=torch.double, device=device),
                                             (first_bad >= 0).double()]))
        loss_sum, correct, n = totals[0], totals[1], int(totals[2].item())
        if totals[3] > 0 and first_bad < 0:  # another rank diverged: stop on every rank together
            first_bad = torch.zeros_like(first_bad)
    _check_finite(first_bad, epoch)
    if n == 0:
        raise ValueError("The training loader yielded no batches: is the dataset (or subset) empty?")
    return {"loss": (loss_sum / n).item(), "accuracy": correct.item() / n, "n": n}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, device: str | torch.device | None = None,
             loss_fn: nn.Module | None = None, amp: bool | str = "auto", tta: bool = False
             ) -> dict[str, float]:
    """Mean loss and accuracy (a fraction) of ``model`` over ``loader``, in eval mode.

    ``tta=True`` adds test-time augmentation: the logits of each image and of its
    mirror image are averaged. A network trained with random flips should see a
    cat and a mirrored cat alike; both views together usually add a few tenths
    of a point of accuracy, for twice the compute. Not where a mirror changes
    the class (MNIST digits).

    >>> evaluate(model, test_loader)  # doctest: +SKIP
    {'loss': 0.31, 'accuracy': 0.912, 'n': 10000}
    """
    check_loader(loader, "evaluate")
    model = unwrap(model)  # no DDP hooks: each rank evaluates on its own, the sums are reduced
    device = torch.device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    amp_dtype = autocast_dtype(device, amp)
    model.to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    n = 0
    with eval_mode(model):
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if i == 0:
                check_input(model, x)
            with autocast(device, amp_dtype):
                logits = model(x).float()
                if tta:  # flip(-1): mirrored left-right
                    logits = (logits + model(x.flip(-1)).float()) / 2
            if i == 0:
                check_labels(y, logits, "evaluate")
            loss_sum += loss_fn(logits, y) * len(y)
            correct += (logits.argmax(1) == y).sum()
            n += len(y)
    if is_distributed():  # each rank saw its own shard of the test set: add them up
        totals = all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                             torch.tensor(float(n), device=device, dtype=torch.double)]))
        loss_sum, correct, n = totals[0], totals[1], int(totals[2].item())
    if n == 0:
        raise ValueError("The loader yielded no batches: is the dataset (or subset) empty?")
    return {"loss": (loss_sum / n).item(), "accuracy": correct.item() / n, "n": n}


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, *, device: str | torch.device | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """All labels and predicted classes of ``loader``, as two CPU tensors.

    Feed them to ``plot_confusion_matrix`` or compare them per class.

    >>> y_true, y_pred = predict(model, test_loader)  # doctest: +SKIP
    """
    check_loader(loader, "predict")
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    ys, preds = [], []
    with eval_mode(model):
        for x, y in loader:
            x = x.to(device)
            if not ys:
                check_input(model, x)
            preds.append(model(x).argmax(1).cpu())
            ys.append(y)
    if not ys:
        raise ValueError("predict's loader yielded no batches: is the dataset (or subset) empty? "
                         "It needs at least one (images, labels) batch to predict on.")
    return torch.cat(ys), torch.cat(preds)


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, *, epochs: int, steps_per_epoch: int,
              pct_start: float = 0.25, div_factor: float = 25.0, final_div_factor: float = 1e4,
              anneal_strategy: str = "linear") -> torch.optim.lr_scheduler.OneCycleLR:
    """A one-cycle schedule: warm up from ``max_lr / div_factor`` to ``max_lr``, then decay.

    The first ``pct_start`` of the steps raise the learning rate (large steps
    right away would knock a fresh network about), the rest bring it down to
    ``max_lr / (div_factor * final_div_factor)``. Step it once per batch:
    ``fit(..., scheduler=s, scheduler_interval="batch")``. Momentum is left
    alone (torch's ``OneCycleLR`` with ``cycle_momentum=False``).

    >>> s = one_cycle(optimizer, 0.2, epochs=10, steps_per_epoch=len(train_loader))  # doctest: +SKIP
    """
    if pct_start * epochs * steps_per_epoch == 1:  # a warm-up of one step: torch would divide by 0
        pct_start = 1.5 / (epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor,
        anneal_strategy=anneal_strategy, cycle_momentum=False)


def check_labels(labels: torch.Tensor, logits: torch.Tensor, what: str) -> None:
    """Stop with a clear error unless ``labels`` are class indices that ``logits`` can score.

    Cross-entropy wants one whole number per image, from 0 to C-1 for a model with
    C outputs. Float labels, a label of C or more, or a -1 (often "unlabelled")
    would otherwise fail deep inside the loss, or on a GPU as a bare "device-side
    assert". ``fit`` and ``evaluate`` check the first batch only: a look costs a
    GPU-CPU sync.

    >>> check_labels(torch.tensor([0, 9]), torch.zeros(2, 10), "fit")  # fine: nothing happens
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{what}'s labels must be a tensor of class indices, not a "
                        f"{type(labels).__name__}: the loader should yield (images, labels) batches.")
    classes = logits.shape[1] if logits.ndim == 2 else None
    expected = f"0..{classes - 1}" if classes else "0..C-1"
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{what}'s labels must be class indices, whole numbers {expected} of an integer dtype "
            f"(torch.long), but the first batch's labels are {labels.dtype}. Convert them with "
            "labels.long() (one-hot or probability labels: labels.argmax(1)).")
    if classes is None:
        return  # not one score per class (N, C): the loss decides what labels it takes
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"{what} expects one label per image, shape ({len(logits)},) for this batch of "
            f"{len(logits)}, but the labels have shape {tuple(labels.shape)}: flatten them with "
            "labels.view(-1), or check that the loader pairs each image with its label.")
    if labels.numel() == 0:
        return
    low, high = torch.stack([labels.min(), labels.max()]).tolist()
    if low < 0 or high >= classes:
        raise ValueError(
            f"{what}'s labels must be class indices {expected} (the model has {classes} outputs), "
            f"but the first batch has labels from {low} to {high}. Give the model's last layer "
            "one output per class of the dataset, and leave out examples labelled -1 (no label).")


def check_loader(loader: object, what: str) -> None:
    """Stop with a clear error when ``loader`` does not yield ``(images, labels)`` batches.

    The usual slips: a tensor of images, an ``(images, labels)`` pair, or a
    ``Dataset`` (which yields one unbatched example at a time). Each would fail
    later with a puzzling unpacking or shape error.
    """
    fix = "wrap them in a DataLoader: DataLoader(TensorDataset(images, labels), batch_size=256)"
    if isinstance(loader, torch.Tensor):
        raise TypeError(f"{what} takes a loader of (images, labels) batches, not a tensor of shape "
                        f"{tuple(loader.shape)}. For predictions on a tensor, call model(images) under "
                        f"torch.no_grad(); to use {what}, {fix}.")
    if isinstance(loader, (tuple, list)) and len(loader) == 2 and all(isinstance(t, torch.Tensor) for t in loader):
        raise TypeError(f"{what} takes a loader of (images, labels) batches, not one (images, labels) "
                        f"pair: {fix}.")
    if isinstance(loader, Dataset) and not isinstance(loader, IterableDataset):
        raise TypeError(f"{what} takes a loader of (images, labels) batches, not a {type(loader).__name__} "
                        "dataset, which yields one image at a time: wrap it with "
                        "DataLoader(dataset, batch_size=256) (or use course_utils.data.get_loaders).")
    if not hasattr(loader, "__iter__"):
        raise TypeError(f"{what} takes a loader of (images, labels) batches, not an object of type "
                        f"{type(loader).__name__}.")


def _check_epochs(epochs: object) -> None:
    """``epochs`` counts whole passes over the data: an int of at least 1."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
        raise TypeError(f"fit's epochs must be a whole number (an int) of at least 1, not {epochs!r}: "
                        "an epoch is one whole pass over the training data.")
    if epochs < 1:
        raise ValueError(f"fit's epochs must be a whole number of at least 1, not {epochs!r}: "
                         "it counts all epochs, those a resumed run already did included.")


def _check_lr(lr: object) -> None:
    """A learning rate is a finite number above 0 (1e-3 for Adam is a good start)."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise ValueError(f"fit's lr must be a number above 0, such as 1e-3 for Adam, not {lr!r}.")


def _check_finite(first_bad: torch.Tensor, epoch: int) -> None:
    batch = int(first_bad.item())
    if batch >= 0:
        raise TrainingDivergedError(
            f"The loss became NaN or infinite in epoch {epoch}, batch {batch + 1}. "
            "The learning rate is probably too high: try one 3-10x lower "
            "(or check the inputs for NaNs)."
        )


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else get_device()


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights, named as in the plain model (no DDP ``module.`` prefix)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def _set_epoch(loader: Any, epoch: int) -> None:
    """Tell a ``DistributedSampler`` (or a loader with ``set_epoch``) which epoch starts.

    Its shuffle is seeded by ``seed + epoch``: without this call every epoch
    would visit the examples in the same order.
    """
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    elif hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)


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


def _progress_bar(loader: Iterable, enabled: bool, desc: str):
    if not enabled:
        return loader
    from tqdm.auto import tqdm
    # Hand tqdm one iterator: given the loader itself, tqdm.auto's notebook bar
    # may call iter() on it twice, and a shuffling loader would draw twice.
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(iter(loader), total=total, desc=desc, leave=False, unit="batch")


def _say(enabled: bool, message: str) -> None:
    if enabled:
        from tqdm.auto import tqdm
        tqdm.write(message)


def _epoch_line(h: History, epochs: int) -> str:
    line = (f"epoch {h.epoch[-1]}/{epochs}  train loss {h.train_loss[-1]:.4f} "
            f"acc {h.train_acc[-1]:.2%}")
    for name, loss, acc in (("val", h.val_loss, h.val_acc), ("test", h.test_loss, h.test_acc)):
        if not math.isnan(acc[-1]):
            line += f"  {name} loss {loss[-1]:.4f} acc {acc[-1]:.2%}"
    return line + f"  {h.seconds[-1]:.1f} s  {h.examples_per_s[-1]:,.0f} examples/s"


def _summary_writer(log_dir: str | os.PathLike | None):
    if log_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=str(log_dir))


def _log_scalars(writer, h: History) -> None:
    """One point per epoch on each chart: ``loss/train``, ``loss/val``, ... ``lr``."""
    if writer is None:
        return
    e = h.epoch[-1]
    for split, loss, acc in (("train", h.train_loss, h.train_acc), ("val", h.val_loss, h.val_acc),
                             ("test", h.test_loss, h.test_acc)):
        if not math.isnan(acc[-1]):
            writer.add_scalar(f"loss/{split}", loss[-1], e)
            writer.add_scalar(f"accuracy/{split}", acc[-1], e)
    writer.add_scalar("lr", h.lr[-1], e)
    writer.flush()
