"""No dataset file a learner is handed can run code, and a damaged one is caught when it is opened.

A CIFAR-10 batch is a pickle, and a pickle can call any function. Each test
here swaps one batch of a partial CIFAR-10 copy (the tests' synthetic one, in
the real format) for a pickle whose payload creates a marker file, then opens
the copy through one of the course's entry points. The marker must never appear,
and the error must name the file. The same copies, truncated or mismatched,
check that damage is reported at open time rather than halfway through an epoch.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from course_utils.cli import main
from course_utils.data import get_loaders
from course_utils.dataset_files import read_cifar_batch
from course_utils.datasets import ON_DISK, DatasetCorruptError, get_datasets, load_tensors
from course_utils.staging import check_dataset

from fake_datasets import SIZES

FOLDER = {name: disk.folder for name, disk in ON_DISK.items()}

REPO = Path(__file__).resolve().parents[1]
#: Training images (and labels) of the synthetic MNIST; the mismatched copy has 100 fewer of one of them.
N_TRAIN = SIZES["mnist"][0]


class Payload:
    """Unpickling this runs ``touch MARKER``: what a hostile batch file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_bytes(marker: Path, real_batch: bytes | None) -> bytes:
    """A pickle that runs the payload; with ``real_batch``, it then returns that real batch.

    The second kind is the dangerous one: plain ``pickle.load`` runs the payload,
    throws its result away (the POP opcode ``0``) and hands back a perfectly good batch.
    """
    payload = pickle.dumps(Payload(marker), protocol=2)
    if real_batch is None:
        return payload
    return payload[:-1] + b"0" + real_batch[2:]  # drop STOP, pop the result, skip the PROTO header


@pytest.fixture(params=["payload only", "payload, then a real batch"])
def hostile(request, synthetic_root, tmp_path) -> tuple[Path, Path]:
    """(data folder with one hostile CIFAR-10 batch, marker path that must never appear)."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_root / FOLDER["cifar10"], root / FOLDER["cifar10"])
    batch = root / FOLDER["cifar10"] / "data_batch_2"
    marker = tmp_path / "PWNED"
    real = batch.read_bytes() if request.param.startswith("payload, then") else None
    batch.write_bytes(hostile_bytes(marker, real))
    return root, marker


def test_the_hostile_batch_really_runs_code_under_plain_pickle(synthetic_root, tmp_path):
    """The threat is real: plain pickle (what torchvision uses) runs it and returns a good batch."""
    marker = tmp_path / "PWNED"
    real = (synthetic_root / FOLDER["cifar10"] / "data_batch_2").read_bytes()
    batch = pickle.loads(hostile_bytes(marker, real), encoding="latin1")
    assert marker.exists() and batch["data"].shape[1] == 3072


def test_read_cifar_batch_refuses_the_payload_and_names_the_file_and_the_call(hostile):
    root, marker = hostile
    path = root / FOLDER["cifar10"] / "data_batch_2"
    with pytest.raises(DatasetCorruptError) as info:
        read_cifar_batch(path)
    assert not marker.exists()
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert "nothing in it was run" in str(info.value)


def test_sound_batches_still_read_as_plain_pickle_reads_them(cifar_root):
    """The staged batches (the originals, the samples, or the synthetic ones) all pass the allow-list."""
    for file in ("data_batch_1", "test_batch"):
        batch = read_cifar_batch(cifar_root / FOLDER["cifar10"] / file)
        with open(cifar_root / FOLDER["cifar10"] / file, "rb") as f:
            plain = pickle.load(f, encoding="latin1")  # trusted files: what torchvision does
        assert np.array_equal(batch["data"], plain["data"]) and batch["labels"] == plain["labels"]
        assert batch["data"].shape == (len(plain["labels"]), 3072)


@pytest.mark.parametrize("entry", ["get_datasets", "get_datasets without allow_partial",
                                   "get_loaders", "get_loaders fast", "load_tensors",
                                   "check_dataset"])
def test_library_entry_points_never_run_a_hostile_batch(hostile, entry):
    root, marker = hostile
    calls = {
        "get_datasets": lambda: get_datasets("cifar10", root=root, download=False, allow_partial=True),
        "get_datasets without allow_partial": lambda: get_datasets("cifar10", root=root, download=False),
        "get_loaders": lambda: get_loaders("cifar10", root=root, download=False, allow_partial=True),
        "get_loaders fast": lambda: get_loaders("cifar10", root=root, download=False,
                                                allow_partial=True, on_device=True),
        "load_tensors": lambda: load_tensors("cifar10", root=root, allow_partial=True),
        "check_dataset": lambda: check_dataset("cifar10", root),
    }
    if entry == "check_dataset":
        status = calls[entry]()
        assert status.state == "corrupt" and "data_batch_2" in status.detail
    else:
        with pytest.raises(DatasetCorruptError, match="data_batch_2|MD5"):
            calls[entry]()
    assert not marker.exists()


def test_doctor_reports_a_hostile_batch_as_corrupt_without_running_it(hostile, capsys):
    root, marker = hostile
    status = main(["doctor", "--data-dir", str(root)])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "cifar10:" in line)
    assert status == 1 and "FAIL" in line and "data_batch_2" in line
    assert not marker.exists()


@pytest.mark.parametrize("form", ["folder", "tar.gz", "zip"])
def test_fetch_data_from_a_hostile_copy_installs_nothing_and_runs_nothing(hostile, tmp_path, capsys, form):
    root, marker = hostile
    source = root
    if form == "tar.gz":
        source = tmp_path / "course-data.tar.gz"
        with tarfile.open(source, "w:gz") as t:
            t.add(root / FOLDER["cifar10"], arcname=FOLDER["cifar10"])
    elif form == "zip":
        source = tmp_path / "course-data.zip"
        with zipfile.ZipFile(source, "w") as z:
            for file in (root / FOLDER["cifar10"]).iterdir():
                z.write(file, f"{FOLDER['cifar10']}/{file.name}")
    dest = tmp_path / "installed"
    status = main(["fetch-data", "cifar10", "--from", str(source), "--to", str(dest)])
    out = capsys.readouterr().out
    assert status == 1 and "failed" in out and "data_batch_2" in out
    assert not (dest / FOLDER["cifar10"]).exists()
    assert not marker.exists()


@pytest.mark.parametrize("command", ["train", "bench"])
def test_training_commands_never_run_a_hostile_batch(hostile, tmp_path, command):
    root, marker = hostile
    env = {**os.environ, "COURSE_DATA_DIR": str(root), "COURSE_SMOKE": "1"}
    if command == "train":
        args = [sys.executable, "-m", "course_utils", "train", "--model", "sequential_cnn",
                "--data", "cifar10", "--epochs", "1", "--out", str(tmp_path / "run")]
    else:
        args = [sys.executable, str(REPO / "bench" / "sample_accuracy.py"), "--epochs", "1",
                "--allow-partial", "--no-download", "--no-progress"]
    result = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "data_batch_2" in result.stdout + result.stderr
    assert not marker.exists()


# --- damaged MNIST: caught when opened, by every entry point ------------------------

@pytest.fixture(params=["more images than labels", "more labels than images"])
def mismatched_mnist(request, synthetic_root, tmp_path) -> Path:
    """An MNIST copy whose training images and labels disagree in number (both files sound)."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_root / "MNIST", root / "MNIST")
    raw = root / "MNIST" / "raw"
    cut = raw / ("train-labels-idx1-ubyte" if request.param.startswith("more images")
                 else "train-images-idx3-ubyte")
    data = cut.read_bytes()
    header, item = (8, 1) if "labels" in cut.name else (16, 28 * 28)
    count = int.from_bytes(data[4:8], "big") - 100  # a sound file, just 100 items shorter
    cut.write_bytes(data[:4] + count.to_bytes(4, "big") + data[8:header] + data[header:header + count * item])
    return root


@pytest.mark.parametrize("entry", ["get_datasets", "get_loaders", "load_tensors"])
def test_mnist_with_images_and_labels_of_different_counts_fails_when_opened(mismatched_mnist, entry):
    calls = {
        "get_datasets": lambda: get_datasets("mnist", root=mismatched_mnist, download=False),
        "get_loaders": lambda: get_loaders("mnist", root=mismatched_mnist, download=False),
        "load_tensors": lambda: load_tensors("mnist", root=mismatched_mnist),
    }
    with pytest.raises(DatasetCorruptError) as info:
        calls[entry]()
    message = str(info.value)
    assert f"{N_TRAIN - 100:,}" in message and f"{N_TRAIN:,}" in message and "labels" in message
    assert "incomplete or corrupt" in message


def test_doctor_and_fetch_data_report_the_mismatch_too(mismatched_mnist, tmp_path, capsys):
    assert main(["doctor", "--data-dir", str(mismatched_mnist)]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if "mnist:" in line)
    assert "FAIL" in line and f"{N_TRAIN - 100:,}" in line and f"{N_TRAIN:,}" in line
    assert main(["fetch-data", "mnist", "--from", str(mismatched_mnist), "--to", str(tmp_path / "d")]) == 1
    assert "failed" in capsys.readouterr().out and not (tmp_path / "d" / "MNIST").exists()
