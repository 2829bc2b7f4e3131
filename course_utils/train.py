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

import contextlib
import math
import numbers
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset

from course_utils.checkpoint import SavedRun, cpu_state, restore_run, run_config, save_run
from course_utils.checks import check_whole_number
from course_utils.config import get_device
from course_utils.distributed import broadcast_buffers, is_distributed, is_main, sum_over_ranks, unwrap
from course_utils.fast import autocast, autocast_dtype, endless, prepare_model
from course_utils.models import check_input, eval_mode

#: How often (in batches) the progress bar shows the running loss; also how
#: often a non-finite loss is noticed. Each look costs one GPU-CPU sync.
LOG_EVERY = 50
#: Seconds between redraws of the progress bar when it is written into a log file.
LOG_FILE_REDRAW_S = 10.0


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
    _check_fit_arguments(optimizer, lr, epochs, scheduler_interval, resume, checkpoint,
                         train_loader, val_loader, test_loader)
    device = torch.device(device) if device is not None else get_device()
    progress = progress and is_main()  # one progress bar, not one per rank
    if fast:
        prepare_model(unwrap(model), device)  # in place: the optimizer keeps the same parameters
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3 if lr is None else lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    amp_dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    batch_scheduler = scheduler if scheduler_interval == "batch" else None
    run = dict(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=train_loader)
    config = run_config(model, optimizer, loss_fn, scheduler, train_loader, settings)
    saved = restore_run(checkpoint, config=config, epochs=epochs, **run) if resume else None
    if resume:
        _say(progress, _resume_line(checkpoint, saved, val_loader is not None))
    history = History.from_dict(saved.history) if saved else History()
    best_acc, best_model = (saved.best_accuracy, saved.best_model) if saved else (-math.inf, None)

    with _summary_writer(log_dir if is_main() else None) as writer:
        for epoch in range(len(history) + 1, epochs + 1):
            _set_epoch(train_loader, epoch)
            t0 = time.perf_counter()
            train = train_epoch(model, train_loader, optimizer=optimizer, loss_fn=loss_fn, device=device,
                                amp_dtype=amp_dtype, scaler=scaler, scheduler=batch_scheduler,
                                epoch=epoch, epochs=epochs, progress=progress)
            seconds = time.perf_counter() - t0
            broadcast_buffers(unwrap(model))  # BatchNorm statistics: rank 0's everywhere
            val, test = (evaluate(model, loader, device=device, loss_fn=loss_fn, amp=amp)
                         if loader is not None else {"loss": math.nan, "accuracy": math.nan}
                         for loader in (val_loader, test_loader))
            lr_now = optimizer.param_groups[0]["lr"]
            if scheduler is not None and batch_scheduler is None:
                scheduler.step()
            history.append(**_row(epoch, train, val, test, lr_now, seconds))
            _say(progress, _epoch_line(history, epochs))
            _log_scalars(writer, history)
            if val_loader is None or val["accuracy"] > best_acc:  # choose on validation data only
                best_acc, best_model = val["accuracy"], cpu_state(model)
            if checkpoint is not None:
                save_run(checkpoint, epoch=epoch, history=history.to_dict(), config=config,
                         best_accuracy=best_acc, best_model=best_model, **run)
    return history


def train_epoch(model: nn.Module, loader: Iterable, *, optimizer: torch.optim.Optimizer,
                loss_fn: nn.Module | None = None, device: str | torch.device | None = None,
                amp_dtype: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None,
                scheduler: Any | None = None, epoch: int = 1, epochs: int | None = None,
                progress: bool = False) -> dict[str, float]:
    """One pass over ``loader``, one optimizer step per batch: the heart of ``fit``.

    Returns the mean loss, the accuracy (a fraction) and the number of examples, over
    every rank under ``torchrun``. ``scheduler`` is stepped after every batch (give an
    epoch-wise one to ``fit`` instead); ``amp_dtype`` and ``scaler`` are mixed precision
    (``autocast_dtype``, and a ``GradScaler`` for float16). The sums stay on the device:
    ``loss.item()`` every batch would make the CPU wait for the GPU each time. A loss
    that turns NaN or infinite stops training with ``TrainingDivergedError``.

    >>> train_epoch(model, train_loader, optimizer=torch.optim.Adam(model.parameters()))  # doctest: +SKIP
    {'loss': 0.52, 'accuracy': 0.84, 'n': 60000}
    """
    device = torch.device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    model.train()
    loss_sum, correct = torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # the first non-finite batch
    n = 0
    bar = _progress_bar(loader, progress, f"epoch {epoch}/{epochs or '?'}")
    for i, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if i == 0:  # one look per epoch: a look costs a GPU-CPU sync
            check_input(unwrap(model), x)
        with autocast(device, amp_dtype):
            logits = model(x)
            if i == 0:
                check_labels(y, logits, "fit")
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        loss = loss.detach().float()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), i, first_bad)
        loss_sum, correct, n = loss_sum + loss * len(y), correct + (logits.argmax(1) == y).sum(), n + len(y)
        if (i + 1) % LOG_EVERY == 0:
            _look(bar, first_bad, epoch, loss_sum / n)
    *sums, diverged = sum_over_ranks(loss_sum, correct, n, first_bad >= 0, device=device)
    if diverged:  # on any rank: every rank stops, together
        raise _diverged(epoch, int(first_bad.item()))
    return _means(*sums, what="The training loader")


def train_steps(model: nn.Module, loader: Iterable, steps: int, *, optimizer: torch.optim.Optimizer,
                device: str | torch.device | None = None) -> list[float]:
    """Train ``model`` for ``steps`` batches, passing over ``loader`` as often as it takes; each step's loss.

    For experiments counted in optimizer steps rather than epochs, as the ResNet
    paper counts its CIFAR-10 training ("64k iterations"): the loss of every
    step is the training curve. Cross-entropy, one ``optimizer`` step per batch;
    every pass over ``loader`` is a new shuffle. The losses stay on the device
    and are read once at the end, so the CPU never waits for the GPU.

    >>> losses = train_steps(model, train_loader, 200, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))  # doctest: +SKIP
    >>> len(losses)  # doctest: +SKIP
    200
    """
    check_whole_number(steps, "steps", "how many batches to train on, e.g. 200")
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device).train()
    losses: list[torch.Tensor] = []
    for _, (x, y) in zip(range(steps), endless(loader)):
        loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).float().tolist()


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
    loss_sum, correct, n = torch.zeros((), device=device), torch.zeros((), device=device), 0
    with eval_mode(model.to(device)):
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
    # under torchrun each rank saw its own share of the images: the sums add them up
    return _means(*sum_over_ranks(loss_sum, correct, n, device=device), what="The loader")


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


def _check_fit_arguments(optimizer, lr, epochs, scheduler_interval, resume, checkpoint,
                         train_loader, val_loader, test_loader) -> None:
    """Every argument of ``fit`` that can be checked before training, checked: a clear error now,
    not a puzzling one an epoch later."""
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


def _means(loss_sum: float, correct: float, n: float, *, what: str) -> dict[str, float]:
    """Mean loss and accuracy from the sums; a pass over no batches at all is an error."""
    if n == 0:
        raise ValueError(f"{what} yielded no batches: is the dataset (or subset) empty?")
    return {"loss": loss_sum / n, "accuracy": correct / n, "n": int(n)}


def _look(bar: Any, first_bad: torch.Tensor, epoch: int, mean_loss: torch.Tensor) -> None:
    """Every ``LOG_EVERY`` batches: stop if the loss has diverged, show the running loss."""
    if not is_distributed() and first_bad >= 0:  # under DDP all ranks check together, after the epoch
        raise _diverged(epoch, int(first_bad.item()))
    if hasattr(bar, "set_postfix"):
        bar.set_postfix(loss=f"{mean_loss.item():.4f}", refresh=False)  # shown at the next redraw


def _diverged(epoch: int, batch: int) -> TrainingDivergedError:
    where = f"batch {batch + 1}" if batch >= 0 else "a batch of another rank"
    return TrainingDivergedError(
        f"The loss became NaN or infinite in epoch {epoch}, {where}. The learning rate is "
        "probably too high: try one 3-10x lower (or check the inputs for NaNs).")


def _resume_line(checkpoint: str | os.PathLike, saved: SavedRun | None, has_val: bool) -> str:
    if saved is None:
        return f"No checkpoint at {checkpoint} yet: starting from epoch 1."
    best = f", best validation accuracy so far {saved.best_accuracy:.2%}." if has_val else "."
    return f"Resuming from {checkpoint}: {saved.epoch} epoch(s) done{best}"


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


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else get_device()


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


def _progress_bar(loader: Iterable, enabled: bool, desc: str):
    """A tqdm bar over ``loader``: redrawn 10 times a second live, every 10 s in a log file.

    In a terminal or a notebook a redraw replaces the bar. In a log file
    (``train ... > log 2>&1``, CI) every redraw is appended, and 10 a second
    would fill it with megabytes of bars; the epoch lines say the rest.
    """
    if not enabled:
        return loader
    from tqdm.auto import tqdm
    # Hand tqdm one iterator: given the loader itself, tqdm.auto's notebook bar
    # may call iter() on it twice, and a shuffling loader would draw twice.
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(iter(loader), total=total, desc=desc, leave=False, unit="batch",
                mininterval=0.1 if _live_output() else LOG_FILE_REDRAW_S)


def _live_output() -> bool:
    """True where a progress bar is redrawn in place: a terminal, or a Jupyter kernel (tqdm.auto's widget)."""
    in_jupyter = "ipykernel.zmqshell" in sys.modules  # the test tqdm.auto makes
    return in_jupyter or bool(sys.stderr and sys.stderr.isatty())


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


@contextlib.contextmanager
def _summary_writer(log_dir: str | os.PathLike | None) -> Iterator[Any]:
    """A TensorBoard ``SummaryWriter`` for ``log_dir``, closed afterwards; None without a ``log_dir``."""
    if log_dir is None:
        yield None
        return
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        yield writer
    finally:
        writer.close()


def _row(epoch: int, train: dict, val: dict, test: dict, lr: float, seconds: float) -> dict[str, float]:
    """One epoch's row of the ``History``."""
    return dict(epoch=epoch, train_loss=train["loss"], train_acc=train["accuracy"],
                val_loss=val["loss"], val_acc=val["accuracy"], test_loss=test["loss"],
                test_acc=test["accuracy"], lr=lr, seconds=seconds, examples_per_s=train["n"] / seconds)


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
