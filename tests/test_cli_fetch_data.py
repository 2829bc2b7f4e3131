"""``python -m course_utils fetch-data``: install staged copies safely; download without surprises.

Staged copies are the tests' synthetic datasets (real file formats, fewer
images: a partial copy, as the course's samples are), copied, archived and
damaged in tmp_path. No test touches the network: the download
tests replace torchvision's download with one that fails, or one that writes
small files.
"""
from __future__ import annotations

import shutil
import struct
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import torchvision.datasets
import torchvision.datasets.utils

from course_utils import staging
from course_utils.cli import main
from course_utils.datasets import ON_DISK, get_datasets
from course_utils.staging import check_dataset

from fake_datasets import count_images

FOLDER = {name: disk.folder for name, disk in ON_DISK.items()}

ALL = ("mnist", "fashion_mnist", "cifar10")


@pytest.fixture
def sample(synthetic_root) -> Path:
    """A partial copy of all three datasets, as an instructor's sample would be (the same everywhere)."""
    return synthetic_root


def stage(sample: Path, folder: Path, names=ALL) -> Path:
    """A staged copy, as an instructor would put it on a USB stick."""
    for name in names:
        shutil.copytree(sample / FOLDER[name], folder / FOLDER[name])
    return folder


def fetch(capsys, *args: str) -> tuple[int, str]:
    status = main(["fetch-data", *args])
    return status, capsys.readouterr().out


def line_of(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(name + " "))


def installed(dest: Path) -> list[str]:
    """What is in dest: dataset folders, and any temporary folder left behind."""
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def same_files(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


# ---------------------------------------------------------------------------
# --from a staged folder or archive
# ---------------------------------------------------------------------------

def test_from_staged_folder_installs_every_dataset_and_they_load(sample, tmp_path, capsys):
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(sample), "--to", str(dest))
    assert status == 0
    for name in ALL:
        assert "fetched" in line_of(out, name) and "partial sample" in line_of(out, name)
        assert same_files(sample / FOLDER[name], dest / FOLDER[name])
    assert installed(dest) == sorted(FOLDER.values())  # no temporary folder left
    train, test = get_datasets("mnist", root=dest, download=False)
    assert (len(train), len(test)) == count_images(sample, "mnist")


def test_second_run_reports_present_and_copies_nothing(sample, tmp_path, capsys):
    dest = tmp_path / "data"
    fetch(capsys, "--from", str(sample), "--to", str(dest), "mnist")
    stamp = (dest / "MNIST/raw/train-images-idx3-ubyte").stat().st_mtime_ns
    status, out = fetch(capsys, "--from", str(sample), "--to", str(dest), "mnist")
    assert status == 0 and "present" in line_of(out, "mnist")
    assert (dest / "MNIST/raw/train-images-idx3-ubyte").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_from_archive_with_layout_one_folder_down(sample, tmp_path, capsys, kind):
    staged = stage(sample, tmp_path / "stick" / "course-data", names=("mnist", "fashion_mnist"))
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar" if kind == "tar.gz" else "zip",
                                       root_dir=staged.parent))
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(archive), "--to", str(dest), "mnist", "fashion_mnist")
    assert status == 0, out
    assert "fetched" in line_of(out, "mnist") and "fetched" in line_of(out, "fashion_mnist")
    assert same_files(sample / "FashionMNIST", dest / "FashionMNIST")
    assert installed(dest) == ["FashionMNIST", "MNIST"]


def test_truncated_archive_is_refused_and_installs_nothing(sample, tmp_path, capsys):
    staged = stage(sample, tmp_path / "stick", names=("mnist", "fashion_mnist"))
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar", root_dir=staged))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # a copy cut short
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(cut), "--to", str(dest))
    assert status == 1
    for name in ALL:
        assert "failed" in line_of(out, name) and "not a readable archive" in line_of(out, name)
    assert "nothing was installed" in out
    assert installed(dest) == []


def test_zip_with_a_damaged_member_is_refused_and_installs_nothing(sample, tmp_path, capsys):
    archive = tmp_path / "course-data.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        for path in sorted((sample / "MNIST").rglob("*")):
            z.write(path, path.relative_to(sample))
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the image data
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(archive), "--to", str(dest), "mnist")
    assert status == 1 and "failed" in line_of(out, "mnist") and "CRC" in line_of(out, "mnist")
    assert installed(dest) == []


def test_damaged_dataset_in_staged_copy_is_refused_and_the_good_ones_installed(sample, tmp_path, capsys):
    staged = stage(sample, tmp_path / "stick")
    images = staged / "MNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100_000])  # cut short
    with open(staged / "cifar-10-batches-py/data_batch_3", "r+b") as f:
        f.truncate(5_000)
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(staged), "--to", str(dest))
    assert status == 1
    assert "failed" in line_of(out, "mnist") and "train-images-idx3-ubyte is damaged" in line_of(out, "mnist")
    assert "failed" in line_of(out, "cifar10") and "data_batch_3 is damaged" in line_of(out, "cifar10")
    assert "fetched" in line_of(out, "fashion_mnist")
    assert installed(dest) == ["FashionMNIST"]  # nothing half-installed, no temporary folder
    assert "2 of 3 failed: mnist, cifar10" in out


def test_a_good_copy_replaces_a_corrupt_one(sample, tmp_path, capsys):
    dest = stage(sample, tmp_path / "data", names=("mnist",))
    (dest / "MNIST/raw/t10k-labels-idx1-ubyte").write_bytes(b"garbage")
    assert check_dataset("mnist", dest).state == "corrupt"
    status, out = fetch(capsys, "--from", str(sample), "--to", str(dest), "mnist")
    assert status == 0 and "fetched" in line_of(out, "mnist")
    assert check_dataset("mnist", dest).state == "partial"
    assert installed(dest) == ["MNIST"]


def test_several_corrupt_copies_are_replaced_in_one_run(sample, tmp_path, capsys):
    dest = stage(sample, tmp_path / "data", names=("mnist", "fashion_mnist"))
    for folder in ("MNIST", "FashionMNIST"):
        (dest / folder / "raw/train-labels-idx1-ubyte").write_bytes(b"garbage")
    status, out = fetch(capsys, "--from", str(sample), "--to", str(dest), "mnist", "fashion_mnist")
    assert status == 0, out
    assert [check_dataset(n, dest).state for n in ("mnist", "fashion_mnist")] == ["partial", "partial"]
    assert installed(dest) == ["FashionMNIST", "MNIST"]


def test_from_a_folder_without_datasets_says_what_it_looked_for(tmp_path, capsys):
    (tmp_path / "stick" / "holiday-photos").mkdir(parents=True)
    status, out = fetch(capsys, "--from", str(tmp_path / "stick"), "--to", str(tmp_path / "data"), "mnist")
    assert status == 1 and "holds none of MNIST/" in line_of(out, "mnist")


def test_unknown_dataset_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["fetch-data", "imagenet"])
    assert exit.value.code == 2 and "unknown dataset 'imagenet'" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Downloading (faked: no test uses the network)
# ---------------------------------------------------------------------------

def write_idx(folder: Path, n_train: int, n_test: int) -> None:
    """MNIST-format files; all-zero images, written sparse so that 60,000 cost nothing.

    No ``.gz`` archives beside them: a real download keeps them, but only the official
    files match their MD5 sums (tests/test_cli_doctor.py checks a damaged one).
    """
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        with open(raw / f"{split}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">4i", 2051, n, 28, 28))
            f.truncate(16 + n * 28 * 28)
        with open(raw / f"{split}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">2i", 2049, n))
            f.truncate(8 + n)


@pytest.fixture
def fake_download(monkeypatch):
    """torchvision's MNIST download writes a full-size (all-zero) copy; records each call."""
    calls = []

    def download(self):
        calls.append(type(self).__name__)
        write_idx(Path(self.raw_folder).parent, 60_000, 10_000)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", download)
    return calls


@pytest.fixture
def offline(monkeypatch):
    """Every download fails as it does without a network."""
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_download_installs_the_dataset_then_reports_it_present(fake_download, tmp_path, capsys):
    dest = tmp_path / "data"
    status, out = fetch(capsys, "mnist", "--to", str(dest))
    assert status == 0 and fake_download == ["MNIST"]
    assert "fetched" in line_of(out, "mnist") and "downloaded, complete" in line_of(out, "mnist")
    assert check_dataset("mnist", dest).state == "complete"
    assert installed(dest) == ["MNIST"]
    status, out = fetch(capsys, "mnist", "--to", str(dest))
    assert status == 0 and "present" in line_of(out, "mnist") and len(fake_download) == 1


def test_download_replaces_a_partial_sample_with_the_full_set(sample, fake_download, tmp_path, capsys):
    dest = stage(sample, tmp_path / "data", names=("fashion_mnist",))
    status, out = fetch(capsys, "fashion_mnist", "--to", str(dest))
    assert status == 0 and "fetched" in line_of(out, "fashion_mnist")
    assert check_dataset("fashion_mnist", dest).state == "complete"
    assert installed(dest) == ["FashionMNIST"]


def test_download_without_network_fails_with_the_reason_and_leaves_nothing(offline, tmp_path, capsys):
    dest = tmp_path / "data"
    status, out = fetch(capsys, "mnist", "cifar10", "--to", str(dest))
    assert status == 1
    for name in ("mnist", "cifar10"):
        line = line_of(out, name)
        assert "failed" in line and "download failed" in line and "name resolution" in line
        assert "--from" in line
    assert installed(dest) == []



# ---------------------------------------------------------------------------
# Nothing of the user's is deleted; archives cannot fill the disk
# ---------------------------------------------------------------------------

def add_users_files(folder: Path) -> dict[Path, bytes]:
    """Files a learner (or torchvision) keeps inside a dataset's folder, beside its data."""
    files = {folder / "notes.txt": b"my notes on MNIST", folder / "raw" / "my-digits.idx": b"\x00\x01",
             folder / "processed" / "training.pt": b"torchvision's old cache"}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_replacing_a_damaged_copy_from_a_staged_one_keeps_every_other_file_of_its_folder(sample, tmp_path, capsys):
    dest = stage(sample, tmp_path / "data", names=("mnist",))
    (dest / "MNIST/raw/t10k-labels-idx1-ubyte").write_bytes(b"garbage")
    keep = add_users_files(dest / "MNIST")
    status, out = fetch(capsys, "--from", str(sample), "--to", str(dest), "mnist")
    assert status == 0 and "fetched" in line_of(out, "mnist")
    assert check_dataset("mnist", dest).state == "partial"
    assert {path: path.read_bytes() for path in keep} == keep
    assert installed(dest) == ["MNIST"]


def test_download_over_a_partial_copy_keeps_every_other_file_of_its_folder(sample, fake_download, tmp_path, capsys):
    dest = stage(sample, tmp_path / "data", names=("mnist",))
    keep = add_users_files(dest / "MNIST")
    status, out = fetch(capsys, "mnist", "--to", str(dest))
    assert status == 0 and "fetched" in line_of(out, "mnist")
    assert check_dataset("mnist", dest).state == "complete"
    assert {path: path.read_bytes() for path in keep} == keep


@pytest.fixture
def unpacking(monkeypatch) -> list[str]:
    """Records every call that would unpack (or decompress to check) an archive's members."""
    calls = []
    for cls, method in ((tarfile.TarFile, "extractall"), (tarfile.TarFile, "extract"),
                        (zipfile.ZipFile, "extractall"), (zipfile.ZipFile, "testzip")):
        original = getattr(cls, method)

        def spy(self, *args, _original=original, _name=f"{cls.__name__}.{method}", **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, method, spy)
    return calls


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archive_bomb_is_refused_before_anything_is_unpacked(sample, tmp_path, capsys, monkeypatch,
                                                            unpacking, kind):
    """A 60 MB file of zeros packs into about 60 kB: with the limit made 50 MB, the archive is a bomb."""
    monkeypatch.setattr(staging, "MAX_UNPACKED_BYTES", 50_000_000)
    staged = stage(sample, tmp_path / "stick", names=("mnist",))
    with open(staged / "MNIST/raw/padding.bin", "wb") as f:
        f.truncate(60_000_000)
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar" if kind == "tar.gz" else "zip",
                                       root_dir=staged))
    assert archive.stat().st_size < 3_000_000  # small on the stick, 60 MB unpacked
    dest = tmp_path / "data"
    status, out = fetch(capsys, "--from", str(archive), "--to", str(dest), "mnist")
    assert status == 1 and "refused" in line_of(out, "mnist") and "GB" in line_of(out, "mnist")
    assert unpacking == [] and installed(dest) == []


def test_archive_of_too_many_files_is_refused_before_anything_is_unpacked(sample, tmp_path, capsys, unpacking):
    staged = stage(sample, tmp_path / "stick", names=("mnist",))
    for i in range(staging.MAX_MEMBERS + 1):
        (staged / "MNIST" / f"empty-{i}").touch()
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar", root_dir=staged))
    status, out = fetch(capsys, "--from", str(archive), "--to", str(tmp_path / "data"), "mnist")
    assert status == 1 and "refused" in line_of(out, "mnist") and "files" in line_of(out, "mnist")
    assert unpacking == []


def test_archive_within_the_limit_still_installs(sample, tmp_path, capsys, unpacking):
    staged = stage(sample, tmp_path / "stick", names=("mnist",))
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "zip", root_dir=staged))
    status, out = fetch(capsys, "--from", str(archive), "--to", str(tmp_path / "data"), "mnist")
    assert status == 0 and "fetched" in line_of(out, "mnist") and unpacking
