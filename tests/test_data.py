"""Tests for course_utils.data: datasets, loaders, smoke mode and the offline errors.

Tests that read images use ``data_root`` (the staged datasets, else synthetic ones
in the real formats: see tests/conftest.py) and expect the sizes its files hold;
tests of partial copies use ``synthetic_root``, and the error tests break copies
of it in tmp_path. No test touches the network: the download tests replace
torchvision's download function with one that fails.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.utils
from torchvision import transforms

from course_utils import config, data, datasets
from course_utils.data import SMOKE_TEST_SIZE, SMOKE_TRAIN_SIZE, get_loaders
from course_utils.datasets import (
    CLASSES,
    IMAGE_SIZE,
    IN_CHANNELS,
    MEAN,
    STD,
    DatasetCorruptError,
    DatasetNotFoundError,
    denormalize,
    get_datasets,
    get_transforms,
    load_tensors,
)

from fake_datasets import count_images


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail as it does without a network; records the attempts."""
    attempts = []

    def no_network(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return attempts


def copy_cifar(synthetic_root: Path, tmp_path: Path) -> Path:
    """A private copy of the (partial) synthetic CIFAR-10 that a test may damage."""
    shutil.copytree(synthetic_root / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    return tmp_path


# --- constants -------------------------------------------------------------------

def test_classes_means_and_stds_agree_with_each_dataset():
    assert set(CLASSES) == set(MEAN) == set(STD) == set(IN_CHANNELS) == set(datasets.NAMES)
    for name in datasets.NAMES:
        assert len(CLASSES[name]) == 10
        assert len(MEAN[name]) == len(STD[name]) == IN_CHANNELS[name]
    assert CLASSES["mnist"][7] == "7"
    assert CLASSES["fashion_mnist"][9] == "Ankle boot"
    assert CLASSES["cifar10"][3] == "cat"


def test_data_dir_is_reexported_from_config(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()


def test_unknown_dataset_name_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError, match="'mnist', 'fashion_mnist', 'cifar10'"):
        get_datasets("imagenet", download=False)


# --- reading the files -------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_each_split_holds_as_many_images_as_its_files_say(name, data_root):
    train, test = get_datasets(name, root=data_root, download=False, allow_partial=True)
    assert (len(train), len(test)) == count_images(data_root, name)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_batches_are_normalised_float_images_of_the_right_shape(name, data_root):
    train_loader, _ = get_loaders(name, batch_size=256, root=data_root, download=False,
                                  allow_partial=True, num_workers=0)
    images, labels = next(iter(train_loader))
    c, s = IN_CHANNELS[name], IMAGE_SIZE[name]
    assert images.shape == (256, c, s, s) and images.dtype == torch.float32
    assert labels.shape == (256,) and labels.dtype == torch.int64
    assert 0 <= labels.min() and labels.max() <= 9
    per_channel_mean = images.mean(dim=(0, 2, 3))
    per_channel_std = images.std(dim=(0, 2, 3))
    assert per_channel_mean.abs().max() < 0.15, per_channel_mean
    assert ((per_channel_std - 1).abs() < 0.15).all(), per_channel_std


def test_resize_96_gives_fashion_mnist_images_of_1x96x96(fashion_root):
    train, test = get_datasets("fashion_mnist", root=fashion_root, resize=96, download=False)
    assert train[0][0].shape == (1, 96, 96)
    assert test[0][0].shape == (1, 96, 96)


def test_augment_changes_train_images_between_reads_but_not_test_images_or_labels(cifar_root):
    plain_train, _ = get_datasets("cifar10", root=cifar_root, download=False, allow_partial=True)
    train, test = get_datasets("cifar10", root=cifar_root, augment=True, download=False,
                               allow_partial=True)
    torch.manual_seed(0)
    changed = [not torch.equal(train[i][0], train[i][0]) for i in range(8)]
    assert sum(changed) >= 6, "random crops and flips should change most re-reads"
    assert all(torch.equal(test[i][0], test[i][0]) for i in range(8))
    assert [train[i][1] for i in range(8)] == [plain_train[i][1] for i in range(8)]


@pytest.mark.parametrize("name,flips", [("mnist", False), ("fashion_mnist", True), ("cifar10", True)])
def test_augment_crops_with_one_eighth_padding_and_flips_only_where_mirrors_keep_the_class(name, flips):
    steps = get_transforms(name, train=True, augment=True).transforms
    kinds = [type(step) for step in steps]
    crop = next(step for step in steps if isinstance(step, transforms.RandomCrop))
    assert crop.padding == IMAGE_SIZE[name] // 8
    assert (transforms.RandomHorizontalFlip in kinds) is flips
    test_kinds = [type(s) for s in get_transforms(name, train=False, augment=True).transforms]
    assert test_kinds == [transforms.ToTensor, transforms.Normalize]


def test_mnist_training_set_with_augment_uses_crop_but_no_flip(mnist_root):
    train, test = get_datasets("mnist", root=mnist_root, augment=True, download=False)
    kinds = [type(step) for step in train.transform.transforms]
    assert transforms.RandomCrop in kinds and transforms.RandomHorizontalFlip not in kinds
    assert transforms.RandomCrop not in [type(step) for step in test.transform.transforms]


def test_resize_and_augment_crop_at_the_new_size():
    steps = get_transforms("fashion_mnist", train=True, resize=96, augment=True).transforms
    crop = next(step for step in steps if isinstance(step, transforms.RandomCrop))
    assert isinstance(steps[0], transforms.Resize)
    assert crop.size == (96, 96) and crop.padding == 12


# --- loaders -----------------------------------------------------------------------

def first_labels(loader) -> list[int]:
    return next(iter(loader))[1].tolist()


def test_same_seed_gives_the_same_batch_order_and_another_seed_a_different_one(mnist_root):
    def loader(seed):
        return get_loaders("mnist", batch_size=64, root=mnist_root, subset=512, num_workers=0,
                           download=False, seed=seed)[0]
    assert first_labels(loader(0)) == first_labels(loader(0))
    assert first_labels(loader(0)) != first_labels(loader(1))


def test_batch_order_over_epochs_does_not_depend_on_the_number_of_workers(mnist_root):
    # Worker processes draw their seeds from the loader's generator; with
    # persistent workers they draw once, without them every epoch. The order
    # of the images must not follow those draws.
    def epochs(workers):
        loader = get_loaders("mnist", batch_size=64, root=mnist_root, subset=256,
                             num_workers=workers, download=False, seed=3)[0]
        return [[labels.tolist() for _, labels in loader] for _ in range(3)]
    without_workers = epochs(0)
    assert without_workers[0] != without_workers[1]  # reshuffled every epoch
    assert epochs(2) == without_workers


def test_train_loader_is_shuffled_and_test_loader_keeps_file_order(mnist_root):
    train_loader, test_loader = get_loaders("mnist", batch_size=64, root=mnist_root,
                                            num_workers=0, download=False)
    train_targets = train_loader.dataset.targets[:64].tolist()
    test_targets = test_loader.dataset.targets[:64].tolist()
    assert first_labels(train_loader) != train_targets
    assert first_labels(test_loader) == test_targets


def test_subset_keeps_the_first_n_examples_of_each_split(mnist_root):
    train_loader, test_loader = get_loaders("mnist", batch_size=50, root=mnist_root, subset=100,
                                            num_workers=0, download=False)
    assert len(train_loader.dataset) == len(test_loader.dataset) == 100
    assert list(train_loader.dataset.indices) == list(range(100))
    _, full_test = get_datasets("mnist", root=mnist_root, download=False)
    assert first_labels(test_loader) == full_test.targets[:50].tolist()


def test_subset_must_be_positive(mnist_root):
    with pytest.raises(ValueError, match="subset"):
        get_loaders("mnist", root=mnist_root, subset=0, download=False)


def test_pin_memory_only_with_cuda_and_persistent_workers_only_with_workers(mnist_root, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    train_loader, _ = get_loaders("mnist", root=mnist_root, subset=64, num_workers=0, download=False)
    assert not train_loader.pin_memory and not train_loader.persistent_workers
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    train_loader, test_loader = get_loaders("mnist", root=mnist_root, subset=64, num_workers=2,
                                            download=False)
    assert train_loader.pin_memory and train_loader.persistent_workers
    assert test_loader.num_workers == 2


@pytest.mark.parametrize("cores,workers", [(1, 0), (2, 0), (3, 2), (8, 4), (64, 4)])
def test_default_num_workers_is_zero_on_small_machines_else_up_to_four(monkeypatch, cores, workers):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert data.default_num_workers() == workers


# --- the validation split --------------------------------------------------------

def test_val_indices_are_disjoint_complete_and_the_same_every_time():
    train, val = datasets.val_indices(1000, 100)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val) and sorted(train + val) == list(range(1000))
    assert datasets.val_indices(1000, 100) == (train, val)
    assert val != list(range(100))  # drawn at random, not the first images (files may be sorted)
    assert datasets.val_indices(1000, 100, seed=1)[1] != val


@pytest.mark.parametrize("bad", [0, -5, 1000, 2000, 10.5, True, "100"])
def test_val_size_must_leave_training_images_and_be_a_count(bad):
    with pytest.raises(ValueError, match=r"val_size must be a whole number of images between 1 and 999"):
        datasets.val_indices(1000, bad)


def test_get_loaders_holds_out_a_validation_split_read_like_the_test_set(cifar_root):
    train_loader, val_loader, test_loader = get_loaders("cifar10", batch_size=50, root=cifar_root, val_size=300,
                                                        augment=True, num_workers=0, download=False,
                                                        allow_partial=True)
    n_train, n_test = count_images(cifar_root, "cifar10")
    assert (len(train_loader.dataset), len(val_loader.dataset)) == (n_train - 300, 300)
    assert len(test_loader.dataset) == n_test
    train_idx, val_idx = set(train_loader.dataset.indices), set(val_loader.dataset.indices)
    assert not train_idx & val_idx and len(train_idx | val_idx) == n_train
    # validation images are not augmented (two reads agree), training images are
    val_set, train_set = val_loader.dataset, train_loader.dataset
    assert torch.equal(val_set[0][0], val_set[0][0])
    assert any(not torch.equal(train_set[i][0], train_set[i][0]) for i in range(5))
    # and they are exactly the test transform applied to the held-out training images
    plain, _ = get_datasets("cifar10", root=cifar_root, download=False, allow_partial=True)
    i = val_loader.dataset.indices[0]
    assert torch.equal(val_set[0][0], plain[i][0]) and val_set[0][1] == plain[i][1]


def test_validation_split_does_not_depend_on_the_shuffle_seed(mnist_root):
    a = get_loaders("mnist", root=mnist_root, val_size=200, seed=0, num_workers=0, download=False)
    b = get_loaders("mnist", root=mnist_root, val_size=200, seed=7, num_workers=0, download=False)
    assert list(a[1].dataset.indices) == list(b[1].dataset.indices)
    assert first_labels(a[0]) != first_labels(b[0])  # the seed still changes the batch order


def test_without_val_size_get_loaders_still_returns_two_loaders(mnist_root):
    assert len(get_loaders("mnist", root=mnist_root, subset=64, num_workers=0, download=False)) == 2


def test_smoke_mode_keeps_a_small_validation_split_too(mnist_root, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    # 5,000 is more than the 3,000-image sample holds: smoke mode shrinks the request first
    train_loader, val_loader, test_loader = get_loaders("mnist", root=mnist_root, val_size=5000,
                                                        num_workers=0, download=False)
    sizes = len(train_loader.dataset), len(val_loader.dataset), len(test_loader.dataset)
    assert sizes == (SMOKE_TRAIN_SIZE, data.SMOKE_VAL_SIZE, SMOKE_TEST_SIZE) == (512, 128, 256)
    assert not set(train_loader.dataset.dataset.indices[:512]) & set(val_loader.dataset.dataset.indices[:128])
    assert capsys.readouterr().out == ""  # the library prints nothing


# --- smoke mode --------------------------------------------------------------------

def test_smoke_mode_caps_both_splits_and_prints_nothing(mnist_root, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    train_loader, test_loader = get_loaders("mnist", root=mnist_root, num_workers=0, download=False)
    assert len(train_loader.dataset) == SMOKE_TRAIN_SIZE == 512
    assert len(test_loader.dataset) == SMOKE_TEST_SIZE == 256
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("on_device", [False, True])
def test_the_smoke_argument_overrides_course_smoke_either_way(mnist_root, monkeypatch, on_device):
    options = dict(root=mnist_root, num_workers=0, on_device=on_device, device="cpu")
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    train, test = get_loaders("mnist", smoke=True, **options)
    assert (len(train.dataset), len(test.dataset)) == (SMOKE_TRAIN_SIZE, SMOKE_TEST_SIZE)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    train, test = get_loaders("mnist", smoke=False, **options)
    assert len(train.dataset) > SMOKE_TRAIN_SIZE and len(test.dataset) > SMOKE_TEST_SIZE


def test_smoke_mode_keeps_a_smaller_explicit_subset(mnist_root, monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    train_loader, test_loader = get_loaders("mnist", root=mnist_root, subset=100, num_workers=0,
                                            download=False)
    assert len(train_loader.dataset) == len(test_loader.dataset) == 100


def test_no_notice_and_full_sizes_outside_smoke_mode(mnist_root, capsys):
    train_loader, test_loader = get_loaders("mnist", root=mnist_root, num_workers=0, download=False)
    assert (len(train_loader.dataset), len(test_loader.dataset)) == count_images(mnist_root, "mnist")
    assert capsys.readouterr().out == ""


def test_smoke_mode_reads_the_partial_cifar_copy_from_course_data_dir(synthetic_root, monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(synthetic_root))
    n_train, n_test = count_images(synthetic_root, "cifar10")
    with pytest.warns(datasets.PartialDatasetWarning, match=f"partial copy of CIFAR-10.*{n_train:,} training"):
        train_loader, test_loader = get_loaders("cifar10", batch_size=64, num_workers=0, download=False)
    assert len(train_loader.dataset) == SMOKE_TRAIN_SIZE and len(test_loader.dataset) == min(n_test, SMOKE_TEST_SIZE)
    assert next(iter(train_loader))[0].shape == (64, 3, 32, 32)


# --- missing, offline, partial and damaged data ------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
    ("fashion_mnist", "FashionMNIST/raw/t10k-labels-idx1-ubyte"),
    ("cifar10", "cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta"),
])
def test_missing_dataset_without_download_names_folder_files_and_how_to_stage(tmp_path, name, expected):
    with pytest.raises(DatasetNotFoundError) as info:
        get_datasets(name, root=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path) in message and expected in message
    assert "COURSE_DATA_DIR" in message and "download=True" in message
    assert f"python -m course_utils fetch-data {name}" in message


def test_missing_dataset_default_root_is_course_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path.resolve())):
        get_loaders("mnist", download=False)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_download_failing_offline_gives_the_same_clear_error(tmp_path, offline, name):
    with pytest.raises(DatasetNotFoundError) as info:
        get_datasets(name, root=tmp_path, download=True)
    assert offline, "torchvision's download should have been tried"
    message = str(info.value)
    assert str(tmp_path) in message and "COURSE_DATA_DIR" in message
    assert "downloading failed" in message
    assert info.value.__cause__ is not None


def test_missing_cifar_batch_is_named_in_the_error(synthetic_root, tmp_path):
    root = copy_cifar(synthetic_root, tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing: cifar-10-batches-py/data_batch_5"):
        get_datasets("cifar10", root=root, download=False, allow_partial=True)


def test_present_files_are_never_downloaded_again(mnist_root, offline):
    train, _ = get_datasets("mnist", root=mnist_root, download=True)
    assert len(train) == count_images(mnist_root, "mnist")[0] and offline == []


def test_partial_cifar_copy_without_allow_partial_says_incomplete_or_corrupt(synthetic_root):
    with pytest.raises(DatasetCorruptError) as info:
        get_datasets("cifar10", root=synthetic_root, download=False)
    message = str(info.value)
    assert "incomplete or corrupt" in message and "allow_partial=True" in message
    assert str(synthetic_root / "cifar-10-batches-py") in message and "Delete" in message


def test_partial_cifar_copy_offline_with_download_gives_the_corrupt_message_not_a_network_error(
        synthetic_root, offline):
    with pytest.raises(DatasetCorruptError, match="incomplete or corrupt"):
        get_datasets("cifar10", root=synthetic_root, download=True)
    assert offline == [], "a partial copy must not trigger a download"


def test_partial_cifar_copy_with_allow_partial_warns_once_and_prints_nothing(synthetic_root, capsys):
    with pytest.warns(datasets.PartialDatasetWarning) as caught:
        get_datasets("cifar10", root=synthetic_root, download=False, allow_partial=True)
    assert len(caught) == 1
    message = str(caught[0].message)
    n_train, _ = count_images(synthetic_root, "cifar10")
    assert "partial copy of CIFAR-10" in message and f"{n_train:,} training" in message
    assert "checksums not checked" in message and caught[0].filename == __file__  # points at the call
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cifar_batch_gives_a_clear_error_not_an_unpickling_traceback(synthetic_root, tmp_path, damage):
    root = copy_cifar(synthetic_root, tmp_path)
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    if damage == "garbage":
        batch.write_bytes(b"this is not a pickle" * 100)
    else:
        batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(DatasetCorruptError) as info:
        get_datasets("cifar10", root=root, download=False, allow_partial=True)
    message = str(info.value)
    assert str(root / "cifar-10-batches-py") in message and "incomplete or corrupt" in message
    assert info.value.__cause__ is not None
    with pytest.raises(DatasetCorruptError, match="incomplete or corrupt"):
        get_datasets("cifar10", root=root, download=False)


def test_truncated_mnist_file_gives_a_clear_error(synthetic_root, tmp_path):
    shutil.copytree(synthetic_root / "MNIST", tmp_path / "MNIST")
    images = tmp_path / "MNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DatasetCorruptError, match="incomplete or corrupt"):
        get_datasets("mnist", root=tmp_path, download=False)


# --- helpers -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_denormalize_undoes_normalize_and_clamps_to_unit_range(name):
    images = torch.rand(4, IN_CHANNELS[name], 8, 8)
    normalized = transforms.Normalize(MEAN[name], STD[name])(images)
    assert torch.allclose(denormalize(normalized, name), images, atol=1e-6)
    assert torch.allclose(denormalize(normalized[0], name), images[0], atol=1e-6)
    extreme = denormalize(torch.full((IN_CHANNELS[name], 2, 2), 100.0), name)
    assert extreme.max() == 1.0 and denormalize(-extreme * 100, name).min() == 0.0


def test_load_tensors_returns_uint8_nchw_images_matching_the_dataset(synthetic_root):
    n_train, _ = count_images(synthetic_root, "cifar10")
    with pytest.warns(datasets.PartialDatasetWarning, match="partial copy"):
        images, labels = load_tensors("cifar10", root=synthetic_root, allow_partial=True)
    assert images.shape == (n_train, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (n_train,) and labels.dtype == torch.int64
    train, _ = get_datasets("cifar10", root=synthetic_root, download=False, allow_partial=True)
    expected_image, expected_label = train[7]
    by_hand = transforms.Normalize(MEAN["cifar10"], STD["cifar10"])(images[7].float() / 255)
    assert torch.allclose(by_hand, expected_image, atol=1e-5)
    assert labels[7] == expected_label


def test_load_tensors_adds_a_channel_axis_to_grey_images(mnist_root):
    images, labels = load_tensors("mnist", train=False, root=mnist_root)
    assert images.shape == (count_images(mnist_root, "mnist")[1], 1, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and int(images.max()) == 255


def test_load_tensors_never_downloads_by_default(tmp_path, offline):
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_tensors("fashion_mnist", root=tmp_path)
    assert offline == []


# --- bad arguments: the course's own message, at the public boundary ----------------

@pytest.mark.parametrize("call, given", [
    (lambda root: get_loaders("mnist", root=root, download=False, subset=2.5), ("subset", "2.5")),
    (lambda root: get_loaders("mnist", root=root, download=False, subset=0), ("subset", "0")),
    (lambda root: get_loaders("mnist", root=root, download=False, subset=True), ("subset", "True")),
    (lambda root: get_loaders("mnist", 0, root=root, download=False), ("batch_size", "0")),
    (lambda root: get_loaders("mnist", 12.5, root=root, download=False), ("batch_size", "12.5")),
    (lambda root: get_loaders("mnist", root=root, download=False, subset=2.5, on_device=True), ("subset", "2.5")),
    (lambda root: get_datasets("mnist", root=root, download=False, resize=0), ("resize", "0")),
    (lambda root: get_loaders("mnist", root=root, download=False, resize=-32), ("resize", "-32")),
])
def test_bad_sizes_are_refused_at_the_call_saying_what_was_given_and_what_is_expected(mnist_root, call, given):
    name, value = given
    with pytest.raises(ValueError, match=rf"^{name} must be a whole number of at least 1 \(.*\), not {value}\.$"):
        call(mnist_root)


def test_whole_numbers_of_numpy_and_torch_are_accepted(mnist_root):
    train_loader, _ = get_loaders("mnist", torch.tensor(32).item(), root=mnist_root, download=False,
                                  subset=np.int64(64))
    assert len(train_loader.dataset) == 64 and train_loader.batch_size == 32
