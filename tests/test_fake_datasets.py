"""The suite on a fresh clone: the synthetic datasets are real files, and the checkout guard sees leftovers.

``tests/fake_datasets.py`` stands in for data a contributor has not staged; these
tests hold it to the real formats (read by torchvision and by ``course_utils``),
to being the same on every machine, and to carrying its labels in its pixels.
"""
from __future__ import annotations

import pickle
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torchvision

from course_utils.dataset_files import read_cifar_batch, read_cifar_meta
from course_utils.datasets import (
    CLASSES,
    MEAN,
    NAMES,
    ON_DISK,
    STD,
    ChecksumMismatchError,
    PartialDatasetWarning,
    get_datasets,
    load_tensors,
)
from course_utils.staging import check_dataset

from checkout_guard import ignored_files
from fake_datasets import SIZES, count_images, write_all

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_every_file_the_loaders_read_is_written_and_the_same_seed_writes_the_same_bytes(tmp_path):
    a, b, other = (write_all(tmp_path / name, seed=seed) for name, seed in (("a", 0), ("b", 0), ("other", 1)))
    paths = [path for name in NAMES for path in ON_DISK[name].paths()]
    assert all((a / path).read_bytes() == (b / path).read_bytes() for path in paths)
    assert all((a / path).read_bytes() != (other / path).read_bytes() for path in paths if "meta" not in path)
    assert {name: count_images(a, name) for name in NAMES} == SIZES


@pytest.mark.parametrize("name,reader", [("mnist", torchvision.datasets.MNIST),
                                         ("fashion_mnist", torchvision.datasets.FashionMNIST)])
def test_torchvision_and_course_utils_read_the_idx_files_alike(synthetic_root, name, reader):
    for train, size in zip((True, False), SIZES[name]):
        theirs = reader(str(synthetic_root), train=train, download=False)  # no download: the files are there
        images, labels = load_tensors(name, train=train, root=synthetic_root)
        assert theirs.data.shape == (size, 28, 28) and theirs.data.dtype == torch.uint8
        assert torch.equal(images[:, 0], theirs.data) and torch.equal(labels, theirs.targets)
        assert torch.bincount(labels).tolist() == [size // 10] * 10  # every class as often


def test_cifar10_batches_have_the_real_keys_and_are_read_safely_and_by_plain_pickle_alike(synthetic_root):
    folder = synthetic_root / ON_DISK["cifar10"].folder
    for file in BATCHES:
        with open(folder / file, "rb") as f:
            plain = pickle.load(f, encoding="latin1")  # as torchvision unpickles it
        assert set(plain) == {"batch_label", "labels", "data", "filenames"}
        safe = read_cifar_batch(folder / file)
        assert np.array_equal(safe["data"], plain["data"]) and safe["labels"] == plain["labels"]
        assert len(plain["filenames"]) == len(plain["labels"]) and plain["filenames"][0].endswith(".png")
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="latin1")
    assert meta == {"num_cases_per_batch": SIZES["cifar10"][0] // 5, "label_names": CLASSES["cifar10"],
                    "num_vis": 3072}
    assert read_cifar_meta(folder / "batches.meta") == CLASSES["cifar10"]


def test_the_synthetic_copy_is_a_partial_one_as_the_samples_are(synthetic_root):
    assert {name: check_dataset(name, synthetic_root).state for name in NAMES} == dict.fromkeys(NAMES, "partial")
    with pytest.raises(ChecksumMismatchError):
        get_datasets("cifar10", root=synthetic_root, download=False)
    with pytest.warns(PartialDatasetWarning):
        train, test = get_datasets("cifar10", root=synthetic_root, download=False, allow_partial=True)
    assert (len(train), len(test)) == SIZES["cifar10"]
    with pytest.raises(RuntimeError, match="not found or corrupted"):  # torchvision's own MD5 check
        torchvision.datasets.CIFAR10(str(synthetic_root), download=False)


@pytest.mark.filterwarnings("ignore::course_utils.datasets.PartialDatasetWarning")
@pytest.mark.parametrize("name", NAMES)
def test_pixels_carry_their_labels_and_have_about_the_real_mean_and_spread(synthetic_root, name):
    """Nearest class mean (no training) beats chance by far; normalised, the pixels have mean ~0 and std ~1."""
    images, labels = load_tensors(name, root=synthetic_root, allow_partial=True)
    test_images, test_labels = load_tensors(name, train=False, root=synthetic_root, allow_partial=True)
    centres = torch.stack([images[labels == k].float().mean(0) for k in range(10)]).flatten(1)
    guesses = torch.cdist(test_images.float().flatten(1), centres).argmin(1)
    assert (guesses == test_labels).float().mean() > 0.5  # chance: 0.1
    pixels = images.float() / 255
    mean = (pixels.mean(dim=(0, 2, 3)) - torch.tensor(MEAN[name])) / torch.tensor(STD[name])
    spread = pixels.std(dim=(0, 2, 3)) / torch.tensor(STD[name])
    assert mean.abs().max() < 0.15 and (spread - 1).abs().max() < 0.15, (mean, spread)
    assert images.max() == 255 and images.min() == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_checkout_guard_lists_new_ignored_files_but_not_the_tools_caches(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / ".gitignore").write_text("runs/\n.pytest_cache/\n__pycache__/\n")
    git("add", ".gitignore")
    assert ignored_files(tmp_path) == set()
    for path in ("runs/05/checkpoint.pt", ".pytest_cache/v/lastfailed", "tests/__pycache__/x.pyc", "notes.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    assert ignored_files(tmp_path) == {"runs/05/checkpoint.pt"}
    assert ignored_files(tmp_path.parent) is None  # not a git checkout
