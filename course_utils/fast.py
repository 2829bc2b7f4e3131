"""The fast path: keep the data on the GPU and let the GPU do all the work.

A ``DataLoader`` decodes, crops, flips and normalises every image one at a
time on the CPU, in Python, then copies the batch to the GPU. For 32x32
images that costs more than the network itself: a fast GPU sits idle, waiting
for the CPU. The fix (Keller Jordan's ``airbench`` does the same) fits in one
screen per step:

* ``DeviceLoader`` keeps the whole dataset on the device as uint8 (CIFAR-10's
  50,000 training images are 150 MB), and makes each batch there: one gather
  does the random crops and flips of the whole batch, one multiply-add
  normalises it.
* ``prepare_model`` moves the model to the device, switches on
  ``channels_last`` and ``cudnn.benchmark``, and optionally ``torch.compile``.
* ``one_cycle`` is a warm-up-then-decay learning-rate schedule, stepped every batch.
* ``evaluate_tta`` scores the test set on each image and its mirror image.

Switching it on takes one argument in each call: ``get_loaders(..., fast=True)``
returns ``DeviceLoader`` objects, and ``fit(..., fast=True)`` calls
``prepare_model``. Mixed precision is ``fit``'s default ``amp="auto"``, label
smoothing ``nn.CrossEntropyLoss(label_smoothing=0.1)``; the whole recipe::

    train_loader, test_loader = get_loaders("cifar10", 512, augment=True, fast=True)
    model = resnet18(num_classes=10, stem="cifar")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    scheduler = one_cycle(optimizer, 0.2, epochs=10, steps_per_epoch=len(train_loader))
    fit(model, train_loader, test_loader, epochs=10, optimizer=optimizer, scheduler=scheduler,
        scheduler_interval="batch", loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), fast=True)
    evaluate_tta(model, test_loader)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from course_utils.config import get_device, is_smoke
from course_utils.data import (_FLIP_OK, IMAGE_SIZE, MEAN, NAMES, SMOKE_TEST_SIZE, SMOKE_TRAIN_SIZE,
                               SMOKE_VAL_SIZE, STD, check_whole_number, load_tensors, smoke_notice,
                               val_indices)
from course_utils.models import eval_mode
from course_utils.distributed import all_reduce_sum, is_distributed, unwrap
from course_utils.train import autocast, autocast_dtype

__all__ = ["DeviceLoader", "crop_and_flip", "fast_loaders", "prepare_model", "one_cycle", "evaluate_tta"]


class DeviceLoader:
    """Batches of ``(images, labels)`` made on the device, from uint8 images kept there.

    ``images`` is uint8 of shape (N, C, H, W) (what ``load_tensors`` returns),
    ``labels`` int64 of shape (N,). Each batch is normalised with ``mean`` and
    ``std`` (per channel, for pixels in [0, 1]) and comes out as float32.
    With ``augment=True`` every image gets its own random crop (pad by
    ``crop_padding`` black pixels, then cut the original size back out) and,
    when ``flip``, a 50% chance of a horizontal mirror: the same augmentation
    as ``get_transforms(..., augment=True)``, but for the whole batch at once.

    Randomness comes from ``generator`` (seeded with ``seed``), so runs repeat
    and ``fit(..., resume=True)`` continues the same sequence. Under
    ``torchrun`` give ``rank`` and ``world_size``: like a
    ``DistributedSampler``, every rank takes its own share of one permutation,
    drawn from ``seed + epoch`` (call ``set_epoch``; ``fit`` does). With
    ``pad=True`` (training) a few examples are repeated so that every rank
    gets as many, and so takes as many optimizer steps; with ``pad=False``
    (evaluation) rank r takes images r, r + W, r + 2W, ... so that every
    image is counted exactly once when the ranks' sums are added.

    >>> loader = DeviceLoader(images, labels, batch_size=512, mean=MEAN["cifar10"],
    ...                       std=STD["cifar10"], shuffle=True, augment=True)  # doctest: +SKIP
    >>> x, y = next(iter(loader)); x.shape, x.dtype, x.device  # doctest: +SKIP
    (torch.Size([512, 3, 32, 32]), torch.float32, device(type='cuda', index=0))
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 mean: Sequence[float], std: Sequence[float], device: str | torch.device | None = None,
                 shuffle: bool = False, augment: bool = False, crop_padding: int = 4, flip: bool = True,
                 drop_last: bool = False, seed: int = 0, channels_last: bool = False,
                 rank: int = 0, world_size: int = 1, pad: bool = True) -> None:
        _check_inputs(images, labels, batch_size, mean, std, rank, world_size)
        self.device = torch.device(device) if device is not None else get_device()
        self.images = images.to(self.device)  # uint8: a quarter of the memory of float32
        self.labels = labels.to(self.device, torch.int64)  # what cross_entropy wants
        # (x / 255 - mean) / std  ==  x * scale + shift, one fused multiply-add per pixel
        std_t, mean_t = torch.tensor(std), torch.tensor(mean)
        self.scale = (1 / (255 * std_t)).view(1, -1, 1, 1).to(self.device)
        self.shift = (-mean_t / std_t).view(1, -1, 1, 1).to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.crop_padding, self.flip, self.drop_last = crop_padding, flip, drop_last
        self.channels_last, self.seed, self.epoch = channels_last, seed, 0
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.generator = torch.Generator().manual_seed(seed + rank)  # on the CPU: cheap to save
        self.dataset = _Shard(self.images, self.labels, rank, world_size, pad)

    def set_epoch(self, epoch: int) -> None:
        """Which epoch starts; with several ranks it picks the shared shuffle (``seed + epoch``)."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()  # this rank's indices, in this epoch's order
        n = len(order)
        if self.augment:  # the whole epoch's random numbers at once: one copy to the device
            shifts = torch.randint(0, 2 * self.crop_padding + 1, (n, 2), generator=self.generator)
            flips = torch.rand(n, generator=self.generator) < 0.5  # heads: mirror this image
            flips &= self.flip
            shifts, flips = shifts.to(self.device), flips.to(self.device)
        order = order.to(self.device)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, (i + 1) * self.batch_size)
            x, y = self.images[order[batch]], self.labels[order[batch]]
            if self.augment:
                x = crop_and_flip(x, shifts[batch], flips[batch], self.crop_padding)
            x = x.float() * self.scale + self.shift
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def _order(self) -> torch.Tensor:
        n = len(self.images)
        if not self.shuffle:
            order = torch.arange(n)
        elif self.world_size == 1:
            order = torch.randperm(n, generator=self.generator)
        else:  # every rank draws the same permutation, then takes its own share
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        if self.world_size > 1:
            if self.pad:  # wrap around, so every rank has as many examples
                order = torch.cat([order, order[: len(self.dataset) * self.world_size - n]])
            order = order[self.rank::self.world_size]
        return order


def crop_and_flip(x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    """Random crops and horizontal flips of a batch, each image its own, in one gather.

    ``x`` is (N, C, H, W); image n is padded by ``padding`` zeros on every
    side, and its crop starts ``shifts[n] = (dy, dx)`` pixels into the padded
    image (0 .. 2 * padding); where ``flips[n]`` it is also mirrored left-right.
    """
    n, c, h, w = x.shape
    padded = nn.functional.pad(x, (padding,) * 4)  # (N, C, H + 2p, W + 2p), black border
    rows = shifts[:, 0, None] + torch.arange(h, device=x.device)   # (N, H): rows to read
    cols = shifts[:, 1, None] + torch.arange(w, device=x.device)   # (N, W): columns to read
    cols = torch.where(flips[:, None], cols.flip(1), cols)         # a flip reads columns backwards
    where = rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]  # (N, H, W): into each flat padded image
    where = where.view(n, 1, h * w).expand(n, c, h * w)              # the same place in every channel
    return padded.flatten(2).gather(2, where).view(n, c, h, w)


class _Shard(Dataset):
    """``loader.dataset``: this rank's examples as raw ``(uint8 image, label)`` pairs."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, rank: int, world_size: int,
                 pad: bool = True) -> None:
        self.images, self.labels, self.rank, self.world_size = images, labels, rank, world_size
        self.pad = pad

    def __len__(self) -> int:
        if self.pad:
            return math.ceil(len(self.images) / self.world_size)
        return len(range(self.rank, len(self.images), self.world_size))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} examples")
        j = (self.rank + i * self.world_size) % len(self.images)
        return self.images[j], self.labels[j]


def _check_inputs(images, labels, batch_size, mean, std, rank, world_size) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        what = (f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor)
                else type(images).__name__)
        raise ValueError(
            f"images must be a uint8 tensor of shape (N, C, H, W), got {what}. "
            "Use course_utils.data.load_tensors(name) (raw pixels 0..255); for (N, H, W, C) "
            "pixels call .permute(0, 3, 1, 2), for (N, H, W) call .unsqueeze(1).")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        raise ValueError(
            f"images of shape {tuple(images.shape)} look like (N, H, W, C); DeviceLoader wants "
            "(N, C, H, W): pass images.permute(0, 3, 1, 2).contiguous().")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: they must match one to one.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, not {batch_size!r} "
                         "(512 is a good start on a GPU, 64 on a CPU).")
    if len(mean) != images.shape[1] or len(std) != images.shape[1]:
        raise ValueError(f"mean and std need one value per channel ({images.shape[1]}), got "
                         f"{len(mean)} and {len(std)}: use MEAN[name] and STD[name] from course_utils.data.")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}.")


def fast_loaders(name: str, batch_size: int = 512, *, device: str | torch.device | None = None,
                 augment: bool = True, subset: int | None = None, val_size: int | None = None,
                 root: str | Path | None = None, download: bool = True, allow_partial: bool = False,
                 seed: int = 0, channels_last: bool | None = None, rank: int = 0, world_size: int = 1
                 ) -> tuple[DeviceLoader, ...]:
    """Training and test ``DeviceLoader`` objects for ``name``, the fast twin of ``get_loaders``.

    The training loader shuffles and (when ``augment``) crops and flips like
    ``get_loaders(..., augment=True)``: padding 1/8 of the side, and no flips
    for MNIST (a mirrored digit is no digit). The test loader does neither.
    ``val_size``, ``subset`` and smoke mode work as in ``get_loaders``: with
    ``val_size=n`` the result is ``(train, val, test)``, the validation images
    being the very ones ``get_loaders`` holds out. ``channels_last`` defaults
    to True on CUDA.

    >>> train_loader, test_loader = fast_loaders("cifar10", 512)  # doctest: +SKIP
    """
    if name not in NAMES:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(map(repr, NAMES))}.")
    check_whole_number(batch_size, "batch_size", "images per batch, e.g. 512")
    if subset is not None:
        check_whole_number(subset, "subset", "how many images of each split to keep, e.g. 1000")
    device = torch.device(device) if device is not None else get_device()
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    train_n, val_n, test_n = subset, None, subset
    if is_smoke():
        train_n = min(subset or SMOKE_TRAIN_SIZE, SMOKE_TRAIN_SIZE)
        val_n = SMOKE_VAL_SIZE
        test_n = min(subset or SMOKE_TEST_SIZE, SMOKE_TEST_SIZE)
    if is_smoke() and val_size is not None:  # the validation split shrinks too, before it is drawn
        val_size = min(val_size, SMOKE_VAL_SIZE)
    train_x, train_y = load_tensors(name, train=True, root=root, download=download,
                                    allow_partial=allow_partial)
    test_x, test_y = load_tensors(name, train=False, root=root, download=download,
                                  allow_partial=allow_partial)
    splits = [(train_x, train_y)]
    if val_size is not None:
        train_idx, val_idx = (torch.tensor(i) for i in val_indices(len(train_x), val_size))
        splits = [(train_x[train_idx], train_y[train_idx]), (train_x[val_idx], train_y[val_idx])]
    sizes = (train_n, val_n)[:len(splits)]
    splits = [(x[:n], y[:n]) for (x, y), n in zip(splits, sizes)]  # [:None] keeps everything
    splits.append((test_x[:test_n], test_y[:test_n]))
    if is_smoke():
        print(smoke_notice(name, [len(x) for x, _ in splits]))
    common = dict(batch_size=batch_size, mean=MEAN[name], std=STD[name], device=device,
                  channels_last=channels_last, rank=rank, world_size=world_size, seed=seed)
    (train_x, train_y), *evaluation = splits
    train_loader = DeviceLoader(train_x, train_y, shuffle=True, augment=augment,
                                crop_padding=IMAGE_SIZE[name] // 8, flip=_FLIP_OK[name], **common)
    # no padding for the validation and test splits: each image is counted once, on one rank
    return (train_loader, *(DeviceLoader(x, y, shuffle=False, augment=False, pad=False, **common)
                            for x, y in evaluation))


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
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor,
        anneal_strategy=anneal_strategy, cycle_momentum=False)


@torch.no_grad()
def evaluate_tta(model: nn.Module, loader, *, device: str | torch.device | None = None,
                 loss_fn: nn.Module | None = None, amp: bool | str = "auto") -> dict[str, float]:
    """Like ``evaluate``, with test-time augmentation: average the logits of each image and its mirror.

    A network trained with random flips should see a cat and a mirrored cat
    alike; averaging both views usually adds a few tenths of a point of
    accuracy for twice the compute. Do not use it where a mirror changes the
    class (MNIST digits).

    >>> evaluate_tta(model, test_loader)  # doctest: +SKIP
    {'loss': 0.29, 'accuracy': 0.921, 'n': 10000}
    """
    model = unwrap(model)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    amp_dtype = autocast_dtype(device, amp)
    model.to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    n = 0
    with eval_mode(model):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, amp_dtype):
                logits = (model(x).float() + model(x.flip(-1)).float()) / 2  # flip(-1): left-right
            loss_sum += loss_fn(logits, y) * len(y)
            correct += (logits.argmax(1) == y).sum()
            n += len(y)
    if is_distributed():  # each rank scored its own shard: add them up
        totals = all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                             torch.tensor(float(n), device=device, dtype=torch.double)]))
        loss_sum, correct, n = totals[0], totals[1], int(totals[2].item())
    if n == 0:
        raise ValueError("The loader yielded no batches: is the dataset (or subset) empty?")
    return {"loss": (loss_sum / n).item(), "accuracy": correct.item() / n, "n": n}
