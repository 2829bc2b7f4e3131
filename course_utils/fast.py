"""Mixed precision and memory format: what makes the same training faster on a GPU.

* ``autocast_dtype`` picks the mixed-precision dtype a device computes fastest in
  (bfloat16, float16 or none), and ``autocast`` runs a block in it. ``fit`` and
  ``evaluate`` use both, with ``amp="auto"``.
* ``prepare_model`` moves a model to the device, switches on ``channels_last``
  and ``cudnn.benchmark`` there, and optionally ``torch.compile``
  (``fit(..., fast=True)`` calls it).

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

import torch
from torch import nn

from course_utils.config import get_device

__all__ = ["autocast_dtype", "autocast", "prepare_model"]


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
