"""The datasets on disk: MNIST, Fashion-MNIST and CIFAR-10, what they hold and how to read them.

Everything the course knows about each dataset is here, once: its class names,
per-channel mean and standard deviation, image size, where torchvision keeps its
files (``ON_DISK``: folder, files, official sizes; staging, ``doctor`` and the tests
read the same table), the preprocessing transforms, and the two ways to read a
split: ``get_datasets`` (torchvision datasets, transformed item by item) and
``load_tensors`` (every image as raw uint8 pixels in one tensor).

Under the hood this is plain torchvision: ``torchvision.datasets`` reads the
files, ``transforms.ToTensor`` turns pixels into floats in [0, 1], and
``transforms.Normalize`` shifts each channel to mean 0 and standard deviation 1
(networks train faster on centred inputs). Batches are made in ``course_utils.data``.

Data lives in ``data_dir()`` (``COURSE_DATA_DIR``, see ``course_utils.config``).
Nothing is downloaded unless you pass ``download=True``. Missing files raise a
``DatasetNotFoundError``, unreadable ones a ``DatasetCorruptError``; each carries
``name``, ``root`` and ``cause`` (and ``missing``, the files not found), and its
message says where the files were looked for and how to stage them.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torchvision import datasets, transforms
from torchvision.datasets.utils import check_integrity

from course_utils.checks import check_whole_number
from course_utils.config import data_dir
from course_utils.dataset_files import (
    DatasetCorruptError,
    DatasetNotFoundError,
    check_idx_split,
    read_cifar_batch,
    read_cifar_meta,
)

__all__ = [
    "NAMES", "CLASSES", "MEAN", "STD", "IN_CHANNELS", "IMAGE_SIZE", "FLIP_OK", "OnDisk", "ON_DISK",
    "DatasetNotFoundError", "DatasetCorruptError", "ChecksumMismatchError", "PartialDatasetWarning",
    "CheckedCIFAR10", "PartialCIFAR10", "check_name", "get_transforms", "get_datasets",
    "val_indices", "load_tensors", "denormalize",
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
FLIP_OK: dict[str, bool] = {"mnist": False, "fashion_mnist": True, "cifar10": True}


@dataclass(frozen=True)
class OnDisk:
    """Where torchvision keeps one dataset inside the data folder, and how big the official one is."""

    folder: str              #: torchvision's folder, inside the data folder
    files: tuple[str, ...]   #: the files the loaders read, inside ``folder``
    sizes: tuple[int, int]   #: official (training, test) image counts
    in_words: str            #: the files, written for people

    def paths(self) -> list[str]:
        """The files relative to the data folder: ``"MNIST/raw/train-images-idx3-ubyte"``, ..."""
        return [f"{self.folder}/{file}" for file in self.files]


_IDX_FILES = tuple(f"raw/{split}-{kind}" for split in ("train", "t10k")
                   for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

#: One row per dataset: folder, files and official sizes (``fetch-data``, ``doctor`` and tests use it too).
ON_DISK: dict[str, OnDisk] = {
    "mnist": OnDisk("MNIST", _IDX_FILES, (60_000, 10_000),
                    ", ".join(f"MNIST/{file}" for file in _IDX_FILES)),
    "fashion_mnist": OnDisk("FashionMNIST", _IDX_FILES, (60_000, 10_000),
                            ", ".join(f"FashionMNIST/{file}" for file in _IDX_FILES)),
    "cifar10": OnDisk("cifar-10-batches-py", _CIFAR_FILES, (50_000, 10_000),
                      "cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta"),
}

_TORCHVISION: dict[str, type] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "cifar10": datasets.CIFAR10,
}

#: The validation images are drawn with this seed, the same whatever the run's ``seed``:
#: runs that differ only in their seed are then scored on the same images.
VAL_SPLIT_SEED = 0


class PartialDatasetWarning(UserWarning):
    """A partial copy of CIFAR-10 was read (``allow_partial=True``): checksums were not checked."""


def check_name(name: object) -> None:
    """Stop with the list of names unless ``name`` is a dataset this module knows.

    >>> check_name("cifar")
    Traceback (most recent call last):
    ValueError: Unknown dataset 'cifar'; choose one of 'mnist', 'fashion_mnist', 'cifar10'.
    """
    if name not in NAMES:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(map(repr, NAMES))}.")


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
    check_name(name)
    if resize is not None:
        check_whole_number(resize, "resize", "the side in pixels, e.g. resize=96 as in d2l")
    steps: list = []
    if resize is not None:
        steps.append(transforms.Resize(resize))
    if augment and train:
        size = resize or IMAGE_SIZE[name]
        steps.append(transforms.RandomCrop(size, padding=size // 8))
        if FLIP_OK[name]:
            steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(MEAN[name], STD[name])]
    return transforms.Compose(steps)


# ---------------------------------------------------------------------------
# Reading a split
# ---------------------------------------------------------------------------

def get_datasets(name: str, *, root: str | Path | None = None, resize: int | None = None,
                 augment: bool = False, download: bool = False, allow_partial: bool = False,
                 val_size: int | None = None) -> tuple[Dataset, ...]:
    """The training and test splits of ``name`` as torchvision datasets.

    Each item is ``(image, label)``: a normalised float tensor of shape
    (channels, height, width) and an int. ``root`` defaults to ``data_dir()``.
    ``download=True`` fetches missing files with torchvision (which checks
    their MD5 sums); without it, missing files raise ``DatasetNotFoundError``.
    ``allow_partial=True`` also accepts a partial copy of CIFAR-10, such as
    the course's sample data, with a ``PartialDatasetWarning``.

    ``val_size=n`` also holds out ``n`` training images as a *validation*
    split and returns ``(train, val, test)``. The validation images are
    chosen at random, but always the same ones (``val_indices``), are never
    in ``train``, and are read like the test images: no augmentation. Pick
    models and epochs on ``val``; measure the chosen one on ``test`` once.

    >>> train, test = get_datasets("mnist", download=True)  # doctest: +SKIP
    >>> image, label = train[0]; image.shape, label  # doctest: +SKIP
    (torch.Size([1, 28, 28]), 5)
    >>> train, val, test = get_datasets("mnist", val_size=5000, download=True)  # doctest: +SKIP
    >>> len(train), len(val), len(test)  # doctest: +SKIP
    (55000, 5000, 10000)
    """
    check_name(name)
    root = Path(root).expanduser() if root is not None else data_dir()
    splits = []
    for train in (True, False):
        transform = get_transforms(name, train=train, resize=resize, augment=augment)
        splits.append(_open_split(name, root, train=train, transform=transform,
                                  download=download, allow_partial=allow_partial))
    train_set, test_set = splits
    if isinstance(train_set, PartialCIFAR10):
        _warn_partial(root, f"{len(train_set):,} training and {len(test_set):,} test images")
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


def load_tensors(name: str, *, train: bool = True, root: str | Path | None = None,
                 download: bool = False, allow_partial: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of one split as raw pixels, with no transform: ``(images, labels)``.

    ``images`` is uint8 of shape (N, C, H, W), values 0..255; ``labels`` is
    int64 of shape (N,). Small datasets fit in GPU memory whole, and slicing
    a tensor there is much faster than a DataLoader decoding PIL images.

    >>> images, labels = load_tensors("cifar10", download=True)  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    (torch.Size([50000, 3, 32, 32]), torch.uint8)
    """
    check_name(name)
    root = Path(root).expanduser() if root is not None else data_dir()
    dataset = _open_split(name, root, train=train, transform=None, download=download,
                          allow_partial=allow_partial)
    if isinstance(dataset, PartialCIFAR10):
        _warn_partial(root, f"{len(dataset):,} {'training' if train else 'test'} images")
    images = torch.as_tensor(dataset.data)
    if images.ndim == 3:  # MNIST, Fashion-MNIST: (N, H, W) -> (N, 1, H, W)
        images = images.unsqueeze(1)
    else:                 # CIFAR-10 is stored (N, H, W, C) -> (N, C, H, W)
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return images.contiguous(), labels


def denormalize(images: torch.Tensor, name: str) -> torch.Tensor:
    """Undo ``Normalize`` so images can be plotted: ``x * std + mean``, clamped to [0, 1].

    Works on one image (C, H, W) or a batch (N, C, H, W).

    >>> plt.imshow(denormalize(images[0], "cifar10").permute(1, 2, 0))  # doctest: +SKIP
    """
    check_name(name)
    mean = torch.tensor(MEAN[name], dtype=images.dtype, device=images.device).view(-1, 1, 1)
    std = torch.tensor(STD[name], dtype=images.dtype, device=images.device).view(-1, 1, 1)
    return (images * std + mean).clamp(0.0, 1.0)


class ChecksumMismatchError(DatasetCorruptError):
    """Files that differ from the official download: damaged, or a deliberate sample.

    Every file read as a sound batch may still be a partial sample: ``allow_partial=True`` reads it.
    """


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
    missing = [file for file in ON_DISK[name].paths() if not (root / file).is_file()]
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
        check_idx_split(root / ON_DISK[name].folder / "raw", "train" if train else "t10k")
        return _TORCHVISION[name](root, train=train, transform=transform, download=False)
    except ChecksumMismatchError:
        raise  # its message already says what it is and what to do
    except (DatasetCorruptError, *_READ_ERRORS) as err:
        detail = str(err) if isinstance(err, DatasetCorruptError) else f"{type(err).__name__}: {err}"
        folder = root / ON_DISK[name].folder
        raise DatasetCorruptError(
            f"Could not read {name} from {folder} ({detail}). The copy is "
            f"incomplete or corrupt: delete that folder and download it again "
            f"(get_datasets({name!r}, download=True)), or copy a good staged folder and "
            "point COURSE_DATA_DIR at it.", name=name, root=root, cause=detail
        ) from err


def _open_cifar10(root: Path, *, train: bool, transform, allow_partial: bool) -> Dataset:
    """The official CIFAR-10 when the MD5 sums match, else a partial copy if allowed.

    Either way every file is read through ``read_cifar_batch``, never plain ``pickle``.
    """
    try:
        return CheckedCIFAR10(root, train=train, transform=transform)
    except ChecksumMismatchError as err:
        if not allow_partial:
            folder = root / ON_DISK["cifar10"].folder
            raise ChecksumMismatchError(
                f"The CIFAR-10 copy at {folder} is incomplete or corrupt: its files do not "
                "match the MD5 checksums of the official download. Delete that folder and "
                "download again (get_datasets('cifar10', download=True)), or, to read it as "
                "a partial sample (like the course's sample data), pass allow_partial=True "
                "(get_loaders does so in smoke mode, COURSE_SMOKE=1).",
                name="cifar10", root=root, cause="the MD5 sums do not match the official download",
            ) from err
    return PartialCIFAR10(root, train=train, transform=transform)


def _not_found(name: str, root: Path, missing: list[str],
               download_error: BaseException | None = None) -> DatasetNotFoundError:
    """The error for absent files: where we looked, what we expected, how to fix it."""
    cause = None  # not downloaded because nobody asked for it
    if download_error is not None:
        first_line = (str(download_error).strip().splitlines() or [""])[0]
        cause = f"{type(download_error).__name__}: {first_line}"
    why = "download=False was passed" if cause is None else f"downloading failed ({cause})"
    absent = ("none of them is there" if len(missing) == len(ON_DISK[name].files)
              else f"missing: {', '.join(missing)}")
    return DatasetNotFoundError(
        f"{name} is not in {root}: expected {ON_DISK[name].in_words} ({absent}), "
        f"and {why}. To stage it, download it on a machine "
        f"with internet (get_datasets({name!r}, download=True), or "
        f"python -m course_utils fetch-data {name}), or copy a staged folder and point "
        "COURSE_DATA_DIR at it (COURSE_DATA_DIR=/path/to/data).",
        name=name, root=root, missing=missing, cause=cause,
    )


def _warn_partial(root: Path, what: str) -> None:
    warnings.warn(PartialDatasetWarning(
        f"Reading a partial copy of CIFAR-10 from {root} ({what}); checksums not checked."), stacklevel=3)
