"""Datasets and data loaders for MNIST, Fashion-MNIST and CIFAR-10.

Every notebook gets its data the same way::

    from course_utils.data import get_loaders
    train_loader, test_loader = get_loaders("cifar10", batch_size=128, augment=True)

Under the hood this is plain torchvision: ``torchvision.datasets`` reads the
files, ``transforms.ToTensor`` turns pixels into floats in [0, 1], and
``transforms.Normalize`` shifts each channel to mean 0 and standard deviation 1
(networks train faster on centred inputs). ``get_loaders`` wraps the two splits
in ``torch.utils.data.DataLoader`` objects, which batch and shuffle them.

Data lives in ``data_dir()`` (``COURSE_DATA_DIR``, see ``course_utils.config``).
Nothing is downloaded unless ``download=True`` (the default of ``get_datasets``
and ``get_loaders``); when the files are missing and cannot be downloaded, you
get a ``DatasetNotFoundError`` that says where they were looked for and how to
stage them.
"""
from __future__ import annotations

import copy
import operator
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset
from torchvision import datasets, transforms
from torchvision.datasets.utils import check_integrity

from course_utils.config import data_dir, is_smoke
from course_utils.dataset_files import (DatasetCorruptError, DatasetNotFoundError, check_idx_split,
                                        read_cifar_batch, read_cifar_meta)

__all__ = [
    "CLASSES", "MEAN", "STD", "IN_CHANNELS", "IMAGE_SIZE", "NAMES",
    "SMOKE_TRAIN_SIZE", "SMOKE_VAL_SIZE", "SMOKE_TEST_SIZE",
    "DatasetNotFoundError", "DatasetCorruptError", "CheckedCIFAR10", "PartialCIFAR10",
    "data_dir", "check_whole_number", "get_transforms", "get_datasets", "get_loaders", "val_indices",
    "default_num_workers", "denormalize", "load_tensors",
]

# ---------------------------------------------------------------------------
# What we know about each dataset
# ---------------------------------------------------------------------------

#: The dataset names this module understands.
NAMES = ("mnist", "fashion_mnist", "cifar10")

#: Class names, in label order: ``CLASSES["cifar10"][3] == "cat"``.
CLASSES: dict[str, list[str]] = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"],
}

#: Per-channel mean and standard deviation of the training pixels (in [0, 1]).
#: ``Normalize(MEAN, STD)`` computes ``(x - mean) / std`` for each channel.
MEAN: dict[str, tuple[float, ...]] = {
    "mnist": (0.1307,),
    "fashion_mnist": (0.2860,),
    "cifar10": (0.4914, 0.4822, 0.4465),
}
STD: dict[str, tuple[float, ...]] = {
    "mnist": (0.3081,),
    "fashion_mnist": (0.3530,),
    "cifar10": (0.2470, 0.2435, 0.2616),
}

#: Colour channels (1 = grey, 3 = RGB) and side length in pixels of the images.
IN_CHANNELS: dict[str, int] = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3}
IMAGE_SIZE: dict[str, int] = {"mnist": 28, "fashion_mnist": 28, "cifar10": 32}

#: Does a mirrored image still show the same class? A mirrored shoe is a shoe,
#: a mirrored airplane an airplane; a mirrored 2, 3, 7 or 9 is no digit at all.
_FLIP_OK: dict[str, bool] = {"mnist": False, "fashion_mnist": True, "cifar10": True}

_TORCHVISION: dict[str, type] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "cifar10": datasets.CIFAR10,
}

#: torchvision's folder for each dataset, inside the data folder.
_FOLDER: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST",
                           "cifar10": "cifar-10-batches-py"}

#: The files torchvision reads, relative to the data folder.
_IDX_FILES = [f"raw/{split}-{kind}" for split in ("train", "t10k")
              for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
_FILES: dict[str, list[str]] = {
    "mnist": [f"MNIST/{file}" for file in _IDX_FILES],
    "fashion_mnist": [f"FashionMNIST/{file}" for file in _IDX_FILES],
    "cifar10": [f"cifar-10-batches-py/{file}" for file in _CIFAR_FILES],
}
#: The same list, written for people.
_FILES_IN_WORDS: dict[str, str] = {
    "mnist": ", ".join(_FILES["mnist"]),
    "fashion_mnist": ", ".join(_FILES["fashion_mnist"]),
    "cifar10": "cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta",
}

#: Smoke mode (``COURSE_SMOKE=1``) keeps at most this many images per split.
SMOKE_TRAIN_SIZE = 512
SMOKE_VAL_SIZE = 128
SMOKE_TEST_SIZE = 256

#: The validation images are drawn with this seed, the same whatever the run's ``seed``:
#: runs that differ only in their seed are then scored on the same images.
VAL_SPLIT_SEED = 0


# ---------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------

def get_transforms(name: str, *, train: bool, resize: int | None = None,
                   augment: bool = False) -> transforms.Compose:
    """The preprocessing pipeline for one split: PIL image in, normalised tensor out.

    In order: ``Resize`` (when ``resize`` is given; d2l trains on Fashion-MNIST
    at 96x96), then data augmentation (training split only, when ``augment``):
    a random crop after padding by 1/8 of the side (4 pixels on CIFAR-10) and,
    where a mirror image keeps its class, a random horizontal flip. Last come
    ``ToTensor`` (uint8 HxWxC -> float CxHxW in [0, 1]) and ``Normalize``.
    The test split is never augmented: we measure on the images as they are.

    >>> get_transforms("mnist", train=True, augment=True)  # doctest: +SKIP
    Compose(RandomCrop(size=(28, 28), padding=3), ToTensor(), Normalize(...))
    """
    _check_name(name)
    if resize is not None:
        check_whole_number(resize, "resize", "the side in pixels, e.g. resize=96 as in d2l")
    steps: list = []
    if resize is not None:
        steps.append(transforms.Resize(resize))
    if augment and train:
        size = resize or IMAGE_SIZE[name]
        steps.append(transforms.RandomCrop(size, padding=size // 8))
        if _FLIP_OK[name]:
            steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(MEAN[name], STD[name])]
    return transforms.Compose(steps)


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------

def get_datasets(name: str, *, root: str | Path | None = None, resize: int | None = None,
                 augment: bool = False, download: bool = True, allow_partial: bool = False,
                 val_size: int | None = None) -> tuple[Dataset, ...]:
    """The training and test splits of ``name`` as torchvision datasets.

    Each item is ``(image, label)``: a normalised float tensor of shape
    (channels, height, width) and an int. ``root`` defaults to ``data_dir()``.
    ``download=True`` fetches missing files with torchvision (which checks
    their MD5 sums). ``allow_partial=True`` (implied by smoke mode) also
    accepts a partial copy of CIFAR-10, such as the course's sample data.

    ``val_size=n`` also holds out ``n`` training images as a *validation*
    split and returns ``(train, val, test)``. The validation images are
    chosen at random, but always the same ones (``val_indices``), are never
    in ``train``, and are read like the test images: no augmentation. Pick
    models and epochs on ``val``; measure the chosen one on ``test`` once.

    >>> train, test = get_datasets("mnist")  # doctest: +SKIP
    >>> image, label = train[0]; image.shape, label
    (torch.Size([1, 28, 28]), 5)
    >>> train, val, test = get_datasets("mnist", val_size=5000)  # doctest: +SKIP
    >>> len(train), len(val), len(test)
    (55000, 5000, 10000)
    """
    _check_name(name)
    root = Path(root).expanduser() if root is not None else data_dir()
    allow_partial = allow_partial or is_smoke()
    splits = []
    for train in (True, False):
        transform = get_transforms(name, train=train, resize=resize, augment=augment)
        splits.append(_open_split(name, root, train=train, transform=transform,
                                  download=download, allow_partial=allow_partial))
    train_set, test_set = splits
    if isinstance(train_set, PartialCIFAR10):
        print(f"Reading a partial copy of CIFAR-10 from {root} ({len(train_set):,} training "
              f"and {len(test_set):,} test images); checksums not checked.")
    if val_size is None:
        return train_set, test_set
    # The same images read the test way: a shallow copy shares the pixels, not the transform.
    val_view = copy.copy(train_set)
    val_view.transform = get_transforms(name, train=False, resize=resize)
    train_idx, val_idx = val_indices(len(train_set), val_size)
    return Subset(train_set, train_idx), Subset(val_view, val_idx), test_set


def val_indices(n: int, val_size: int, seed: int = VAL_SPLIT_SEED) -> tuple[list[int], list[int]]:
    """Split ``range(n)`` into training and validation indices: ``(train, val)``.

    ``val`` holds ``val_size`` indices drawn at random with ``seed``; ``train``
    holds the rest, in their original order. The same arguments always give
    the same split, so every run (and every machine) validates on the same images.

    >>> train, val = val_indices(10, 3)
    >>> len(train), len(val), sorted(train + val) == list(range(10))
    (7, 3, True)
    """
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 < val_size < n:
        raise ValueError(f"val_size must be a whole number of images between 1 and {n - 1} "
                         f"(the training split has {n:,}), not {val_size!r}. A common choice "
                         "is a tenth of the training images, e.g. 5000 of CIFAR-10's 50,000.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val = sorted(order[:val_size].tolist())
    held_out = set(val)
    return [i for i in range(n) if i not in held_out], val


class ChecksumMismatchError(DatasetCorruptError):
    """Files that differ from the official download: damaged, or a deliberate sample."""


class CheckedCIFAR10(datasets.CIFAR10):
    """``torchvision.datasets.CIFAR10``, its files checked first and unpickled safely.

    torchvision compares each file with the MD5 sum of the official download,
    then unpickles it with plain ``pickle``, which would run any code a
    hostile file held. This class does the same MD5 check *before* reading
    anything, then reads every file through ``read_cifar_batch``, which builds
    only what a real batch holds. Items, ``data``, ``targets`` and ``classes``
    are torchvision's. ``PartialCIFAR10`` skips the MD5 check, for samples.
    """

    md5_checked = True

    def __init__(self, root: str | Path, train: bool = True, transform=None,
                 target_transform=None) -> None:
        datasets.VisionDataset.__init__(self, str(root), transform=transform,
                                        target_transform=target_transform)
        self.train = train
        folder = Path(root) / self.base_folder
        batch_files = self.train_list if train else self.test_list
        if self.md5_checked:
            files = [*batch_files, (self.meta["filename"], self.meta["md5"])]
            altered = [name for name, md5 in files if not check_integrity(str(folder / name), md5)]
            if altered:
                raise ChecksumMismatchError(f"{', '.join(altered)} in {folder} differ from the "
                                            "official download (MD5 sums do not match)")
        batches = [read_cifar_batch(folder / name) for name, _md5 in batch_files]
        pixels = np.concatenate([batch["data"] for batch in batches])
        self.data = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, H, W, C), as torchvision
        self.targets = [label for batch in batches for label in batch["labels"]]
        self.classes = read_cifar_meta(folder / self.meta["filename"])
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


class PartialCIFAR10(CheckedCIFAR10):
    """``CheckedCIFAR10`` without the MD5 check, for partial copies such as the course's samples.

    A deliberately smaller sample (fewer rows per batch file) fails the
    official MD5 sums, so this class only asks that every file reads as a
    sound CIFAR-10 batch. Use it through ``get_datasets(..., allow_partial=True)``.
    """

    md5_checked = False


#: What torchvision may raise reading a damaged IDX file of MNIST that passed the header
#: check: AssertionError, RuntimeError or ValueError (a bad shape), EOFError and the like.
_READ_ERRORS = (ValueError, IndexError, TypeError, AssertionError, RuntimeError, EOFError)


def _open_split(name: str, root: Path, *, train: bool, transform, download: bool,
                allow_partial: bool) -> Dataset:
    """One split, with clear errors for missing, partial and damaged copies."""
    missing = [file for file in _FILES[name] if not (root / file).is_file()]
    if missing:
        if not download:
            raise _not_found(name, root, missing)
        try:  # torchvision downloads, checks the MD5 sums and unpacks
            _TORCHVISION[name](root, train=train, download=True)
        except (URLError, OSError, RuntimeError) as err:  # no network, server down, bad download
            raise _not_found(name, root, missing, download_error=err) from err
    try:
        if name == "cifar10":
            return _open_cifar10(root, train=train, transform=transform, allow_partial=allow_partial)
        check_idx_split(root / _FOLDER[name] / "raw", "train" if train else "t10k")
        return _TORCHVISION[name](root, train=train, transform=transform, download=False)
    except (DatasetCorruptError, *_READ_ERRORS) as err:
        detail = str(err) if isinstance(err, DatasetCorruptError) else f"{type(err).__name__}: {err}"
        raise DatasetCorruptError(
            f"Could not read {name} from {root / _FOLDER[name]} ({detail}). The copy is "
            f"incomplete or corrupt: delete that folder and download it again "
            f"(get_datasets({name!r}, download=True)), or copy a good staged folder and "
            "point COURSE_DATA_DIR at it."
        ) from err


def _open_cifar10(root: Path, *, train: bool, transform, allow_partial: bool) -> Dataset:
    """The official CIFAR-10 when the MD5 sums match, else a partial copy if allowed.

    Either way every file is read through ``read_cifar_batch``, never plain ``pickle``.
    """
    try:
        return CheckedCIFAR10(root, train=train, transform=transform)
    except ChecksumMismatchError as err:
        if not allow_partial:
            folder = root / _FOLDER["cifar10"]
            raise DatasetCorruptError(
                f"The CIFAR-10 copy at {folder} is incomplete or corrupt: its files do not "
                "match the MD5 checksums of the official download. Delete that folder and "
                "download again (get_datasets('cifar10', download=True)), or, to read it as "
                "a partial sample (like the course's sample data), pass allow_partial=True "
                "(smoke mode, COURSE_SMOKE=1, does so)."
            ) from err
    return PartialCIFAR10(root, train=train, transform=transform)


def _not_found(name: str, root: Path, missing: list[str],
               download_error: BaseException | None = None) -> DatasetNotFoundError:
    """The error for absent files: where we looked, what we expected, how to fix it."""
    if download_error is None:
        why = "download=False was passed"
    else:
        first_line = (str(download_error).strip().splitlines() or [""])[0]
        why = f"downloading failed ({type(download_error).__name__}: {first_line})"
    absent = ("none of them is there" if len(missing) == len(_FILES[name])
              else f"missing: {', '.join(missing)}")
    return DatasetNotFoundError(
        f"{name} is not in {root}: expected {_FILES_IN_WORDS[name]} ({absent}), "
        f"and {why}. To stage it, download it on a machine "
        f"with internet (get_datasets({name!r}, download=True), or "
        f"python -m course_utils fetch-data {name}), or copy a staged folder and point "
        "COURSE_DATA_DIR at it (e.g. COURSE_DATA_DIR=../shared/data)."
    )


def check_whole_number(value: object, name: str, meaning: str, *, least: int = 1) -> None:
    """Raise a ``ValueError`` saying what was given unless ``value`` is a whole number >= ``least``.

    Checked where a learner passes it, so that ``subset=2.5`` is answered here,
    not by a ``TypeError`` from deep inside a ``DataLoader``.

    >>> check_whole_number(2.5, "subset", "how many images to keep")
    Traceback (most recent call last):
    ValueError: subset must be a whole number of at least 1 (how many images to keep), not 2.5.
    """
    if isinstance(value, bool) or not _is_integer(value) or value < least:
        raise ValueError(f"{name} must be a whole number of at least {least} ({meaning}), not {value!r}.")


def _is_integer(value: object) -> bool:
    """True for ints, numpy and torch integers; False for floats, even 3.0."""
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(map(repr, NAMES))}.")


# ---------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------

def get_loaders(name: str, batch_size: int = 128, *, root: str | Path | None = None,
                resize: int | None = None, augment: bool = False, subset: int | None = None,
                val_size: int | None = None, num_workers: int | None = None,
                download: bool = True, allow_partial: bool = False, seed: int = 0,
                fast: bool = False) -> tuple[DataLoader, ...]:
    """``DataLoader`` objects for ``name``: batches of (images, labels).

    Returns ``(train_loader, test_loader)``, or with ``val_size=n``
    ``(train_loader, val_loader, test_loader)``, where the validation loader
    reads ``n`` images held out of the training split (see ``get_datasets``).
    The training loader reshuffles every epoch, in an order fixed by ``seed``
    (same seed, same batches: runs are reproducible); the others keep the file
    order. ``subset=n`` keeps the first n images of the training and test
    splits, for quick experiments. In smoke mode (``COURSE_SMOKE=1``) at most
    ``SMOKE_TRAIN_SIZE`` / ``SMOKE_VAL_SIZE`` / ``SMOKE_TEST_SIZE`` images are kept.

    ``fast=True`` returns ``course_utils.fast.fast_loaders(...)`` instead: the
    whole dataset kept on the device, batches cropped, flipped and normalised
    there (same sizes, same augmentation; no ``resize``, no worker processes).

    >>> train_loader, val_loader, test_loader = get_loaders("mnist", 64, val_size=5000)  # doctest: +SKIP
    >>> images, labels = next(iter(train_loader)); images.shape
    torch.Size([64, 1, 28, 28])
    """
    if fast:  # imported here: course_utils.fast imports this module
        from course_utils.fast import fast_loaders
        if resize is not None:
            raise ValueError("fast=True keeps the images at their own size: drop resize=, "
                             "or use fast=False to resize with torchvision.")
        return fast_loaders(name, batch_size, augment=augment, subset=subset, val_size=val_size,
                            root=root, download=download, allow_partial=allow_partial, seed=seed)
    check_whole_number(batch_size, "batch_size", "images per batch, e.g. 128")
    if subset is not None:
        check_whole_number(subset, "subset", "how many images of each split to keep, e.g. 1000")
    if is_smoke() and val_size is not None:  # the validation split shrinks too, before it is drawn
        val_size = min(val_size, SMOKE_VAL_SIZE)
    *splits, test_set = get_datasets(name, root=root, resize=resize, augment=augment,
                                     download=download, allow_partial=allow_partial,
                                     val_size=val_size)
    train_n, val_n, test_n = subset, None, subset
    if is_smoke():
        train_n = min(subset or SMOKE_TRAIN_SIZE, SMOKE_TRAIN_SIZE)
        val_n = SMOKE_VAL_SIZE
        test_n = min(subset or SMOKE_TEST_SIZE, SMOKE_TEST_SIZE)
    sizes = (train_n, val_n)[:len(splits)]
    splits = [_first(dataset, n) for dataset, n in zip(splits, sizes)] + [_first(test_set, test_n)]
    if is_smoke():
        print(smoke_notice(name, [len(d) for d in splits]))

    workers = default_num_workers() if num_workers is None else num_workers
    common = dict(batch_size=batch_size, num_workers=workers,
                  pin_memory=torch.cuda.is_available(),  # faster copies to a CUDA GPU
                  persistent_workers=workers > 0)        # keep workers alive between epochs
    # The shuffle has a generator of its own. The loader's generator seeds the
    # worker processes, once with persistent workers and every epoch without:
    # sharing one would make the batch order depend on num_workers.
    shuffle_order = RandomSampler(splits[0], generator=torch.Generator().manual_seed(seed))
    train_loader = DataLoader(splits[0], sampler=shuffle_order,
                              generator=torch.Generator().manual_seed(seed), **common)
    return (train_loader, *(DataLoader(d, shuffle=False, **common) for d in splits[1:]))


def smoke_notice(name: str, sizes: list[int]) -> str:
    """What smoke mode kept: ``sizes`` of (train, test) or (train, val, test)."""
    if len(sizes) == 2:
        return (f"Smoke mode (COURSE_SMOKE=1): using the first {sizes[0]:,} training "
                f"and {sizes[1]:,} test images of {name}.")
    return (f"Smoke mode (COURSE_SMOKE=1): using {sizes[0]:,} training, {sizes[1]:,} validation "
            f"and {sizes[2]:,} test images of {name}.")


def _first(dataset: Dataset, n: int | None) -> Dataset:
    """The first ``n`` items of ``dataset`` (all of them when ``n`` is None)."""
    if n is None:
        return dataset
    return Subset(dataset, range(min(n, len(dataset))))


def default_num_workers() -> int:
    """How many background processes should prepare batches on this machine.

    Worker processes decode and augment images while the model trains. They
    cost start-up time and memory, so small machines (2 cores, like Colab's)
    are faster with none; bigger ones use up to 4, leaving a core for training.
    """
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


# ---------------------------------------------------------------------------
# Helpers for plotting and for fast GPU-resident training
# ---------------------------------------------------------------------------

def denormalize(images: torch.Tensor, name: str) -> torch.Tensor:
    """Undo ``Normalize`` so images can be plotted: ``x * std + mean``, clamped to [0, 1].

    Works on one image (C, H, W) or a batch (N, C, H, W).

    >>> plt.imshow(denormalize(images[0], "cifar10").permute(1, 2, 0))  # doctest: +SKIP
    """
    _check_name(name)
    mean = torch.tensor(MEAN[name], dtype=images.dtype, device=images.device).view(-1, 1, 1)
    std = torch.tensor(STD[name], dtype=images.dtype, device=images.device).view(-1, 1, 1)
    return (images * std + mean).clamp(0.0, 1.0)


def load_tensors(name: str, *, train: bool = True, root: str | Path | None = None,
                 download: bool = False, allow_partial: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of one split as raw pixels, with no transform: ``(images, labels)``.

    ``images`` is uint8 of shape (N, C, H, W), values 0..255; ``labels`` is
    int64 of shape (N,). Small datasets fit in GPU memory whole, and slicing
    a tensor there is much faster than a DataLoader decoding PIL images.

    >>> images, labels = load_tensors("cifar10")  # doctest: +SKIP
    >>> images.shape, images.dtype
    (torch.Size([50000, 3, 32, 32]), torch.uint8)
    """
    _check_name(name)
    root = Path(root).expanduser() if root is not None else data_dir()
    dataset = _open_split(name, root, train=train, transform=None, download=download,
                          allow_partial=allow_partial or is_smoke())
    if isinstance(dataset, PartialCIFAR10):
        print(f"Reading a partial copy of CIFAR-10 from {root} ({len(dataset):,} "
              f"{'training' if train else 'test'} images); checksums not checked.")
    images = torch.as_tensor(dataset.data)
    if images.ndim == 3:  # MNIST, Fashion-MNIST: (N, H, W) -> (N, 1, H, W)
        images = images.unsqueeze(1)
    else:                 # CIFAR-10 is stored (N, H, W, C) -> (N, C, H, W)
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images.contiguous(), labels
