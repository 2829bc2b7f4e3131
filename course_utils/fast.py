"""Mixed precision and memory format: what makes the same training faster on a GPU.

* ``autocast_dtype`` picks the mixed-precision dtype a device computes fastest in
  (bfloat16, float16 or none), and ``autocast`` runs a block in it. ``fit`` and
  ``evaluate`` use both, with ``amp="auto"``.
* ``prepare_model`` moves a model to the device, switches on ``channels_last``
  and ``cudnn.benchmark`` there, and optionally ``torch.compile``
  (``fit(..., fast=True)`` calls it).

* ``time_steps`` times training steps, whole or split into loading, copying
  and computing; ``speed_ladder`` measures a list of changes applied one after
  another, each against the row before it, and ``speed_table`` prints it with
  the device's name (``device_name``). ``sync`` waits for the GPU, so that a
  clock reads the time of work done rather than work queued.

Feeding the GPU fast is the loaders' job: ``get_loaders(..., on_device=True)``
in ``course_utils.data``. The whole recipe::

    train_loader, test_loader = get_loaders("cifar10", 512, augment=True, on_device=True)
    model = resnet18(num_classes=10, stem="cifar")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    scheduler = one_cycle(optimizer, 0.2, epochs=10, steps_per_epoch=len(train_loader))
    fit(model, train_loader, test_loader, epochs=10, optimizer=optimizer, scheduler=scheduler,
        scheduler_interval="batch", loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), fast=True)
    evaluate(model, test_loader, tta=True)
"""
from __future__ import annotations

import contextlib
import platform
import time
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from course_utils.config import get_device

__all__ = ["autocast_dtype", "autocast", "prepare_model", "endless", "sync", "device_name", "time_steps",
           "unavailable", "speed_ladder", "speed_table"]


def autocast_dtype(device: torch.device, amp: bool | str = "auto") -> torch.dtype | None:
    """The mixed-precision dtype for ``device``: bf16, fp16 or ``None`` (full float32).

    bfloat16 has float32's range, so it needs no gradient scaling; NVIDIA GPUs
    compute in it natively from compute capability 8.0 (Ampere: A100, RTX 30xx)
    on. Older GPUs (a Colab T4 is 7.5) have fast float16 kernels only, so they
    use float16 with a gradient scaler. ``torch.cuda.is_bf16_supported()`` is no
    guide: it answers True on a T4 too, where bfloat16 is emulated and slow.
    The CPU and MPS train in float32 by default.
    """
    if amp is False or amp is None:
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    if amp not in ("auto", True):
        raise ValueError(f"amp must be 'auto', True, False, 'bf16' or 'fp16', not {amp!r}")
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype``, or a do-nothing context when it is ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prepare_model(model: nn.Module, device: str | torch.device | None = None, *,
                  channels_last: bool | None = None, compile: bool = False) -> nn.Module:
    """``model`` on ``device``, set up to train fast there; returns the model to train.

    * ``channels_last`` (default: on CUDA): stores activations as (N, H, W, C),
      the layout tensor cores read fastest. Feed it ``channels_last`` batches too.
    * On CUDA, sets ``torch.backends.cudnn.benchmark = True``: cuDNN times
      several convolution algorithms on the first batch and keeps the fastest.
      This is a process-wide switch: it stays on for every model afterwards.
    * ``compile=True`` wraps the model in ``torch.compile``: faster steps after
      a compilation that takes minutes, so it is off by default. (Its
      ``state_dict`` names start with ``_orig_mod.``; save ``model._orig_mod``.)

    >>> model = prepare_model(resnet18(num_classes=10, stem="cifar"))  # doctest: +SKIP
    """
    device = torch.device(device) if device is not None else get_device()
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if compile:
        model = torch.compile(model)
    return model


# ---------------------------------------------------------------------------
# Measuring: one change at a time
# ---------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    """Wait until ``device`` has finished the work queued so far (CUDA and MPS; nothing on a CPU).

    A GPU runs its work later than Python asks for it: ``y = model(x)`` returns
    as soon as the kernels are queued. A clock read without ``sync`` times the
    queueing, not the computing.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """``device`` in words, for a table of speeds: the GPU's model, or the CPU and its threads.

    >>> device_name(torch.device("cpu")).startswith("cpu (")
    True
    """
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return str(device)


def endless(batches: Iterable) -> Iterator:
    """The batches of ``batches``, over and over: a new pass (a new shuffle) each time one ends.

    For work counted in steps rather than epochs. Unlike ``itertools.cycle``, which
    replays the batches of its first pass, every pass reads the loader again.
    """
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("the loader gives no batches: it needs at least one image")


@contextlib.contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` set to ``on`` inside the block, as it was after it."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _mark(device: torch.device, wait: bool) -> float:
    """The clock, after waiting for ``device`` when ``wait``."""
    if wait:
        sync(device)
    return time.perf_counter()


def _sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype | None) -> None:
    """Forward (under ``dtype``'s autocast), backward (scaled for float16) and the update."""
    with autocast(x.device, dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def time_steps(model: nn.Module, batches: Iterable, *, steps: int, warmup: int = 1,
               device: torch.device | None = None, amp: bool | str = False, channels_last: bool = False,
               cudnn_benchmark: bool = False, compile: bool = False, split: bool = False) -> dict[str, float]:
    """Train ``model`` for ``warmup`` untimed then ``steps`` timed SGD steps; images per second.

    Each step loads a batch, copies it to ``device`` (in the memory format asked
    for) and computes forward, backward and the update, under mixed precision
    when ``amp`` asks for it (``autocast_dtype``; float16 with a gradient scaler).
    The warm-up absorbs one-off costs: cuDNN's search, compilation, workers
    starting. ``split=True`` also waits for the device after each part and adds
    the seconds of each (``"load"``, ``"copy"``, ``"compute"``): a profile, a little
    slower than steps run without those waits. The model is trained (changed).

    >>> time_steps(resnet18(), train_loader, steps=20, split=True)  # doctest: +SKIP
    {'load': 2.9, 'copy': 0.3, 'compute': 4.1, 'images/s': 1402.7}
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"time at least one step after zero or more warm-up steps, not steps={steps}, "
                         f"warmup={warmup}")
    device = torch.device(device) if device is not None else get_device()
    dtype = autocast_dtype(device, amp)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).to(memory_format=layout)
    model = torch.compile(model) if compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    seconds, n, start, source = {"load": 0.0, "copy": 0.0, "compute": 0.0}, 0, 0.0, endless(batches)
    with _cudnn_benchmark(cudnn_benchmark and device.type == "cuda"):
        for step in range(warmup + steps):
            if step == warmup:  # the clock starts when the warm-up's work is done
                start = _mark(device, True)
            t0 = time.perf_counter()
            x, y = next(source)
            t1 = _mark(device, split)
            x, y = x.to(device, non_blocking=True, memory_format=layout), y.to(device, non_blocking=True)
            t2 = _mark(device, split)
            _sgd_step(model, optimizer, scaler, x, y, dtype)
            t3 = _mark(device, split)
            if step >= warmup:
                n += len(y)
                for part, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2)):
                    seconds[part] += dt
        speed = n / (_mark(device, True) - start)
    return {**seconds, "images/s": speed} if split else {"images/s": speed}


def unavailable(device: torch.device, *, amp: bool | str = False, cudnn_benchmark: bool = False,
                compile: bool = False, **_: object) -> str | None:
    """Why ``device`` cannot take a change that ``time_steps`` would make, or None when it can.

    >>> unavailable(torch.device("cpu"), amp="auto")
    'no mixed precision on cpu: amp="auto" trains in float32 there'
    """
    if amp and autocast_dtype(device, amp) is None:
        return f'no mixed precision on {device.type}: amp="auto" trains in float32 there'
    if cudnn_benchmark and device.type != "cuda":
        return f"cuDNN is NVIDIA's library: nothing to switch on on {device.type}"
    if compile and device.type != "cuda":
        return (f"measured on CUDA only (on {device.type} compiling takes minutes, and the "
                "convolutions stay the same library calls)")
    return None


Row = tuple[str, "float | None", str]  # (the change, images/s or None, why it was skipped)


def speed_ladder(make_model: Callable[[], nn.Module], changes: list[tuple[str, dict]], *, steps: int,
                 warmup: int = 1, device: torch.device | None = None) -> list[Row]:
    """Images per second as ``changes`` are applied one after another, each row one change more.

    ``changes`` is a list of ``(name, settings)``: the first row's settings give
    ``batches`` (the baseline), each later row adds or replaces ``time_steps``
    arguments. Every row measures a fresh ``make_model()`` (seeded alike). A
    change ``device`` cannot make (``unavailable``), or a ``compile`` that fails,
    is skipped with the reason, and the next row builds on the last one measured.

    >>> speed_ladder(lambda: resnet18(), [("baseline", {"batches": loader}),
    ...                                   ("+ channels_last", {"channels_last": True})], steps=20)  # doctest: +SKIP
    [('baseline', 1402.7, ''), ('+ channels_last', 1585.1, '')]
    """
    device = torch.device(device) if device is not None else get_device()
    settings: dict = {}
    rows: list[Row] = []
    for name, change in changes:
        reason = unavailable(device, **change)
        if reason is None:
            torch.manual_seed(0)
            try:
                speed = time_steps(make_model(), steps=steps, warmup=warmup, device=device,
                                   **{**settings, **change})["images/s"]
            except Exception as err:  # noqa: BLE001 (torch.compile needs a working compiler)
                if not change.get("compile"):
                    raise
                reason = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:80]}"
        if reason is not None:
            rows.append((name, None, reason))
            continue
        settings = {**settings, **change}
        rows.append((name, speed, ""))
    return rows


def speed_table(rows: list[Row], device: torch.device) -> str:
    """The ladder as a text table: images/s, the gain over the row before and over the first.

    >>> print(speed_table([("baseline", 100.0, ""), ("+ more", 150.0, ""), ("+ gpu only", None, "skipped")],
    ...                   torch.device("meta")))  # doctest: +NORMALIZE_WHITESPACE
    training steps on meta
    change         images/s   x previous   x baseline
    baseline            100         1.00         1.00
    + more              150         1.50         1.50
    + gpu only            -   skipped
    """
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [f"training steps on {device_name(device)}",
             f"{'change':<{width}}{'images/s':>9}{'x previous':>13}{'x baseline':>13}"]
    measured = [speed for _, speed, _ in rows if speed is not None]
    previous = measured[0] if measured else None
    for name, speed, reason in rows:
        if speed is None:
            lines.append(f"{name:<{width}}{'-':>9}   {reason}")
            continue
        figure = f"{speed:>9,.0f}" if speed >= 100 else f"{speed:>9.1f}"
        lines.append(f"{name:<{width}}{figure}{speed / previous:>13.2f}{speed / measured[0]:>13.2f}")
        previous = speed
    return "\n".join(lines)
