"""Batches: the loaders that feed ``fit``, made on the host or on the device.

Every notebook gets its batches the same way::

    from course_utils.data import get_loaders
    train_loader, test_loader = get_loaders("cifar10", batch_size=128, augment=True, download=True)

``get_loaders`` makes the same splits of the same images (see
``course_utils.datasets``) into one of two kinds of loader:

* **On the host** (the default): ``torch.utils.data.DataLoader`` objects over
  torchvision datasets. The CPU decodes, crops, flips and normalises every
  image one at a time, in Python, then the batch is copied to the device.
* **On the device** (``on_device=True``): ``DeviceLoader`` objects. The whole
  dataset is kept on the device as uint8 (CIFAR-10's 50,000 training images
  are 150 MB) and each batch is made there: one gather crops and flips the
  whole batch, one multiply-add normalises it. For 32x32 images on a fast GPU
  the host's work costs more than the network's; Keller Jordan's ``airbench``
  keeps its data on the device the same way.

Under ``torchrun`` pass ``rank`` and ``world_size``: each process then reads its
own share of every split (see ``get_loaders``). Smoke mode (``COURSE_SMOKE=1``,
or ``smoke=True``) keeps a few hundred images per split, for quick test runs:
``split_sizes`` is the one place where it shrinks them.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset

from course_utils.checks import check_whole_number
from course_utils.config import get_device, is_smoke
from course_utils.datasets import FLIP_OK, IMAGE_SIZE, MEAN, STD, check_name, get_datasets, load_tensors, val_indices

__all__ = ["SMOKE_TRAIN_SIZE", "SMOKE_VAL_SIZE", "SMOKE_TEST_SIZE", "split_sizes", "get_loaders",
           "DeviceLoader", "crop_and_flip", "default_num_workers"]

#: Smoke mode keeps at most this many images per split.
SMOKE_TRAIN_SIZE = 512
SMOKE_VAL_SIZE = 128
SMOKE_TEST_SIZE = 256


def split_sizes(subset: int | None, smoke: bool) -> tuple[int | None, int | None, int | None]:
    """How many images of the (train, validation, test) splits to keep; ``None`` keeps them all.

    ``subset=n`` keeps the first n training and test images; smoke mode caps every
    split at ``SMOKE_TRAIN_SIZE`` / ``SMOKE_VAL_SIZE`` / ``SMOKE_TEST_SIZE``.

    >>> split_sizes(1000, smoke=False), split_sizes(1000, smoke=True)
    ((1000, None, 1000), (512, 128, 256))
    """
    if not smoke:
        return subset, None, subset
    return (min(subset or SMOKE_TRAIN_SIZE, SMOKE_TRAIN_SIZE), SMOKE_VAL_SIZE,
            min(subset or SMOKE_TEST_SIZE, SMOKE_TEST_SIZE))


def get_loaders(name: str, batch_size: int = 128, *, on_device: bool = False,
                subset: int | None = None, val_size: int | None = None, augment: bool = False,
                resize: int | None = None, smoke: bool | None = None, seed: int = 0,
                root: str | Path | None = None, download: bool = False, allow_partial: bool = False,
                num_workers: int | None = None, device: str | torch.device | None = None,
                rank: int = 0, world_size: int = 1) -> tuple:
    """Loaders of ``(images, labels)`` batches for ``name``: ``(train, test)`` or ``(train, val, test)``.

    With ``val_size=n``, n training images are held out as a validation split
    (always the same ones, read like the test images: see ``get_datasets``).
    The training loader reshuffles every epoch, in an order fixed by ``seed``
    (same seed, same batches); the others keep the file order. ``augment``
    adds random crops (and flips where a mirror keeps the class) to the
    training batches. ``subset=n`` keeps the first n training and test images.
    ``smoke`` (default: as ``COURSE_SMOKE`` says) keeps a few hundred per split
    and accepts a partial CIFAR-10 copy. ``download=True`` fetches missing files.

    ``on_device=True`` returns ``DeviceLoader`` objects (no ``resize``, no worker
    processes; ``device`` defaults to the fastest). Under ``torchrun`` give
    ``rank`` and ``world_size``: the training split is shuffled the same way on
    every rank (``seed`` plus the epoch that ``fit`` sets) and rank r takes every
    W-th image, repeating a few so that all ranks take as many steps; the others
    are dealt out without repeats (images r, r + W, ...), so every image is
    counted once when ``evaluate`` adds the ranks' sums.

    >>> train_loader, val_loader, test_loader = get_loaders("mnist", 64, val_size=5000)  # doctest: +SKIP
    >>> images, labels = next(iter(train_loader)); images.shape  # doctest: +SKIP
    torch.Size([64, 1, 28, 28])
    """
    check_name(name)
    check_whole_number(batch_size, "batch_size", "images per batch, e.g. 128")
    if subset is not None:
        check_whole_number(subset, "subset", "how many images of each split to keep, e.g. 1000")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}.")
    smoke = is_smoke() if smoke is None else smoke
    sizes = split_sizes(subset, smoke)
    if smoke and val_size is not None:  # the validation split shrinks too, before it is drawn
        val_size = min(val_size, SMOKE_VAL_SIZE)
    source = dict(root=root, download=download, allow_partial=allow_partial or smoke)
    if on_device:
        if resize is not None:
            raise ValueError("on_device=True keeps the images at their own size: drop resize=, "
                             "or use on_device=False to resize with torchvision.")
        splits = _tensor_splits(name, val_size, **source)
        splits = [(x[:n], y[:n]) for (x, y), n in zip(splits, _sizes_for(sizes, len(splits)))]
        return _device_loaders(name, splits, batch_size, augment=augment, seed=seed, device=device,
                               rank=rank, world_size=world_size)
    splits = get_datasets(name, resize=resize, augment=augment, val_size=val_size, **source)
    splits = [_first(d, n) for d, n in zip(splits, _sizes_for(sizes, len(splits)))]
    return _host_loaders(splits, batch_size, seed=seed, num_workers=num_workers, rank=rank,
                         world_size=world_size)


def _sizes_for(sizes: tuple[int | None, ...], count: int) -> tuple[int | None, ...]:
    """(train, test) sizes for two splits, (train, val, test) for three."""
    return sizes if count == 3 else (sizes[0], sizes[2])


def _first(dataset: Dataset, n: int | None) -> Dataset:
    """The first ``n`` items of ``dataset`` (all of them when ``n`` is None)."""
    if n is None:
        return dataset
    return Subset(dataset, range(min(n, len(dataset))))


def _host_loaders(splits: list[Dataset], batch_size: int, *, seed: int, num_workers: int | None,
                  rank: int, world_size: int) -> tuple[DataLoader, ...]:
    """A shuffling ``DataLoader`` for ``splits[0]``, file-order ones for the rest."""
    workers = default_num_workers() if num_workers is None else num_workers
    common = dict(batch_size=batch_size, num_workers=workers,
                  pin_memory=torch.cuda.is_available(),  # faster copies to a CUDA GPU
                  persistent_workers=workers > 0)        # keep workers alive between epochs
    train, *others = splits
    if world_size > 1:  # seed + epoch: the same order on every rank, a new one each epoch
        order = DistributedSampler(train, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        others = [Subset(d, range(rank, len(d), world_size)) for d in others]
    else:  # a generator of its own: the loader's seeds the workers, and sharing one would make
        # the batch order depend on num_workers
        order = RandomSampler(train, generator=torch.Generator().manual_seed(seed))
    train_loader = DataLoader(train, sampler=order, generator=torch.Generator().manual_seed(seed),
                              **common)
    return (train_loader, *(DataLoader(d, shuffle=False, **common) for d in others))


def _tensor_splits(name: str, val_size: int | None, **source) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The (images, labels) of the training, validation (with ``val_size``) and test splits."""
    (train_x, train_y), test = (load_tensors(name, train=train, **source) for train in (True, False))
    if val_size is None:
        return [(train_x, train_y), test]
    train_idx, val_idx = (torch.tensor(i) for i in val_indices(len(train_x), val_size))
    return [(train_x[train_idx], train_y[train_idx]), (train_x[val_idx], train_y[val_idx]), test]


def _device_loaders(name: str, splits: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int, *,
                    augment: bool, seed: int, device: str | torch.device | None, rank: int,
                    world_size: int) -> tuple["DeviceLoader", ...]:
    """A shuffling (and augmenting) ``DeviceLoader`` for the first split, plain ones for the rest.

    Crops pad by 1/8 of the side, and MNIST is never flipped (a mirrored digit is no digit),
    as ``get_transforms`` does. Batches are ``channels_last`` on CUDA, as ``prepare_model`` sets the model.
    """
    device = torch.device(device) if device is not None else get_device()
    common = dict(batch_size=batch_size, mean=MEAN[name], std=STD[name], device=device, seed=seed,
                  channels_last=device.type == "cuda", rank=rank, world_size=world_size)
    (train_x, train_y), *others = splits
    train = DeviceLoader(train_x, train_y, shuffle=True, augment=augment,
                         crop_padding=IMAGE_SIZE[name] // 8, flip=FLIP_OK[name], **common)
    # no padding for the validation and test splits: each image is counted once, on one rank
    return (train, *(DeviceLoader(x, y, pad=False, **common) for x, y in others))


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
            "Use course_utils.datasets.load_tensors(name) (raw pixels 0..255); for (N, H, W, C) "
            "pixels call .permute(0, 3, 1, 2), for (N, H, W) call .unsqueeze(1).")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        raise ValueError(
            f"images of shape {tuple(images.shape)} look like (N, H, W, C); DeviceLoader wants "
            "(N, C, H, W): pass images.permute(0, 3, 1, 2).contiguous().")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: they must match one to one.")
    check_whole_number(batch_size, "batch_size", "images per batch: 512 is a good start on a GPU, 64 on a CPU")
    if len(mean) != images.shape[1] or len(std) != images.shape[1]:
        raise ValueError(f"mean and std need one value per channel ({images.shape[1]}), got "
                         f"{len(mean)} and {len(std)}: use MEAN[name] and STD[name] from course_utils.datasets.")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}.")


def default_num_workers() -> int:
    """How many background processes should prepare batches on this machine.

    Worker processes decode and augment images while the model trains. They
    cost start-up time and memory, so small machines (2 cores, like Colab's)
    are faster with none; bigger ones use up to 4, leaving a core for training.
    """
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)
