"""Staging datasets for a classroom: check a copy, install it safely, download it once.

An instructor downloads the course's datasets once (``python -m course_utils
fetch-data --to /media/usb/data``) and installs them on each laptop from that
copy, without the internet (``fetch-data --from /media/usb/data``). This module
does the work behind ``fetch-data`` and ``doctor``:

* ``check_dataset`` says whether a dataset in a folder is *complete* (the full
  official set), a *partial* sample (fine for smoke mode), *corrupt*, or *missing*.
  It reads file headers and checksums (and, for MNIST-style copies that kept
  torchvision's ``.gz`` downloads, their MD5 sums), so it takes a second, not a minute.
* ``install_from`` copies datasets from a folder or a ``.zip``/``.tar.gz``
  archive; ``download`` fetches them with torchvision (which checks MD5 sums).

Both install *atomically*: files go to a temporary folder inside the
destination, are checked there, and only then are renamed into place. A rename
is all-or-nothing, so a broken archive or a pulled USB stick never leaves half
a dataset behind. Replacing a partial or damaged copy replaces its files only:
anything else in that folder is kept. Archives that would unpack to far more
than the datasets (``MAX_UNPACKED_BYTES``) are refused before unpacking.

>>> check_dataset("mnist", Path("data"))  # doctest: +SKIP
DatasetStatus(name='mnist', state='complete', detail='60,000 training + 10,000 test images')
"""
from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets import CIFAR10, MNIST, FashionMNIST
from torchvision.datasets.utils import check_integrity

from course_utils.dataset_files import (
    DatasetCorruptError,
    DatasetNotFoundError,
    check_idx_split,
    read_cifar_batch,
    read_cifar_meta,
)
from course_utils.datasets import NAMES, ON_DISK, get_datasets

__all__ = ["DatasetStatus", "Outcome", "check_dataset", "find_layout",
           "install_from", "download", "ARCHIVES", "PARTIAL_ADVICE"]

#: What to tell someone who has a partial sample, such as ../shared/data.
PARTIAL_ADVICE = "partial sample: fine for smoke mode, download the full set for real runs"
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
#: The most an archive may unpack to, and the most files it may hold. The full three
#: datasets take about 0.4 GB unpacked (0.5 GB with torchvision's downloads kept) in
#: about 40 files: an archive far beyond that is not a copy of them (a "zip bomb" is a
#: small archive that unpacks to fill the disk), and is refused before anything is unpacked.
MAX_UNPACKED_BYTES = 1_000_000_000
MAX_MEMBERS = 1_000


class ArchiveTooLargeError(ValueError):
    """An archive that would unpack to far more than the datasets: refused before unpacking."""


@dataclass(frozen=True)
class DatasetStatus:
    """What ``check_dataset`` found: ``state`` is complete, partial, corrupt or missing."""

    name: str
    state: str
    detail: str

    @property
    def usable(self) -> bool:
        """True when notebooks can read it (complete, or a partial sample in smoke mode)."""
        return self.state in ("complete", "partial")


@dataclass(frozen=True)
class Outcome:
    """What ``fetch-data`` did with one dataset (or weights file): present, fetched or failed, and why."""

    name: str
    result: str
    detail: str


# ---------------------------------------------------------------------------
# Checking a copy
# ---------------------------------------------------------------------------

def check_dataset(name: str, root: Path) -> DatasetStatus:
    """Is dataset ``name`` in ``root`` (torchvision's layout) complete, partial, corrupt, missing or unreadable?

    Every file is read the way the loaders read it (``course_utils.dataset_files``):
    headers and counts for MNIST, the safe unpickler for CIFAR-10. A file or
    folder without read permission gives the state ``unreadable``, not an exception.
    """
    folder = Path(root) / ON_DISK[name].folder
    try:
        if not folder.is_dir():
            return DatasetStatus(name, "missing", f"no {ON_DISK[name].folder}/ folder in {root}")
        if name == "cifar10":
            return _check_cifar10(folder)
        return _check_idx(name, folder)
    except DatasetCorruptError as err:
        return DatasetStatus(name, "corrupt", str(err))
    except PermissionError as err:
        return DatasetStatus(name, "unreadable", f"no permission to read {err.filename or folder}")


def _check_idx(name: str, folder: Path) -> DatasetStatus:
    """MNIST-style IDX files: each header must match its file's size, and images match labels."""
    missing = [file for file in ON_DISK[name].files if not (folder / file).is_file()]
    if missing:
        return DatasetStatus(name, "corrupt", f"{folder.name}/ lacks {', '.join(missing)}")
    counts = tuple(check_idx_split(folder / "raw", split) for split in ("train", "t10k"))
    detail = f"{counts[0]:,} training + {counts[1]:,} test images"
    if counts != ON_DISK[name].sizes:
        return DatasetStatus(name, "partial", f"{detail}; {PARTIAL_ADVICE}")
    problem = _check_idx_archives(name, folder / "raw")
    if problem:
        return DatasetStatus(name, "corrupt", problem)
    return DatasetStatus(name, "complete", detail)


def _check_idx_archives(name: str, raw: Path) -> str | None:
    """The ``.gz`` files torchvision downloaded, beside the IDX files it unpacked: their MD5 sums.

    The IDX files themselves have no published checksum, but torchvision keeps the
    archives it downloaded, whose MD5 sums it knows. When they are there, each must
    match and unpack to the file beside it, byte for byte. Returns what is wrong, or None.
    """
    for archive, md5 in (MNIST if name == "mnist" else FashionMNIST).resources:
        gz = raw / archive
        if not gz.is_file():
            continue  # a copy without its archives: the headers and sizes are all we can check
        unpacked = archive.removesuffix(".gz")
        if not check_integrity(str(gz), md5):
            return f"{ON_DISK[name].folder}/raw/{archive} does not match the MD5 sum of the official download"
        if not _same_bytes(gzip.open(gz), raw / unpacked):
            return f"{ON_DISK[name].folder}/raw/{unpacked} differs from {archive}, which unpacks to it"
    return None


def _same_bytes(stream, path: Path, chunk: int = 1 << 20) -> bool:
    """Does ``stream`` (an open binary file) hold exactly the bytes of the file at ``path``?"""
    with stream, open(path, "rb") as f:
        while True:
            a, b = stream.read(chunk), f.read(chunk)
            if a != b:
                return False
            if not a:
                return True


def _check_cifar10(folder: Path) -> DatasetStatus:
    """CIFAR-10: the official MD5 sums (checked before anything is unpickled), else every batch read safely."""
    files = [(f, md5) for f, md5 in CIFAR10.train_list + CIFAR10.test_list]
    files.append((CIFAR10.meta["filename"], CIFAR10.meta["md5"]))
    missing = [f for f, _ in files if not (folder / f).is_file()]
    if missing:
        return DatasetStatus("cifar10", "corrupt", f"{folder.name}/ lacks {', '.join(missing)}")
    if all(check_integrity(str(folder / f), md5) for f, md5 in files):
        train, test = ON_DISK["cifar10"].sizes
        return DatasetStatus("cifar10", "complete", f"{train:,} training + {test:,} test images (checksums match)")
    read_cifar_meta(folder / CIFAR10.meta["filename"])
    rows = {f: len(read_cifar_batch(folder / f)["labels"]) for f, _ in files[:-1]}
    train = sum(n for f, n in rows.items() if f != "test_batch")
    return DatasetStatus("cifar10", "partial", f"{train:,} training + {rows['test_batch']:,} test images "
                         f"(checksums differ from the official files); {PARTIAL_ADVICE}")


def find_layout(root: Path) -> Path | None:
    """The folder holding torchvision's layout: ``root`` itself or one folder down."""
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    for candidate in candidates:
        if any((candidate / ON_DISK[name].folder).is_dir() for name in NAMES):
            return candidate
    return None


# ---------------------------------------------------------------------------
# Installing: from a staged copy, or downloaded
# ---------------------------------------------------------------------------

def install_from(source: Path, dest: Path, names: tuple[str, ...] = NAMES) -> list[Outcome]:
    """Install ``names`` into ``dest`` from a staged folder or archive, checking every file first.

    A dataset already complete in ``dest`` is left alone ("present"); a
    corrupt or absent one in the copy is reported ("failed") and not installed.
    An archive that cannot be unpacked installs nothing.
    """
    source, dest = Path(source).expanduser(), Path(dest).expanduser()
    if not source.exists():
        return [Outcome(n, "failed", f"{source} does not exist") for n in names]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-data-", dir=dest) as tmp:
        if source.is_file():
            try:
                _unpack(source, Path(tmp) / "unpacked")
            except ArchiveTooLargeError as err:
                return [Outcome(n, "failed", f"{source.name} was refused: {err}; nothing was unpacked or installed")
                        for n in names]
            except (ValueError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
                why = f"{source.name} is not a readable archive ({type(err).__name__}: {err}); nothing was installed"
                return [Outcome(n, "failed", why) for n in names]
            layout = find_layout(Path(tmp) / "unpacked")
        else:
            layout = find_layout(source)
        if layout is None:
            looked = ", ".join(f"{ON_DISK[n].folder}/" for n in names)
            return [Outcome(n, "failed", f"{source} holds none of {looked} (at the top or one folder down)")
                    for n in names]
        outcomes = []
        for name in names:
            if _same_folder(layout / ON_DISK[name].folder, dest / ON_DISK[name].folder):
                status = check_dataset(name, dest)
                result = "present" if status.usable else "failed"
                outcomes.append(Outcome(name, result, f"{status.state}: {status.detail}"))
            else:
                outcomes.append(_install_one(name, layout, dest, Path(tmp), origin=f"from {source}"))
        return outcomes


def download(name: str, dest: Path) -> Outcome:
    """Download ``name`` with torchvision (MD5-checked) into ``dest``, unless it is complete there."""
    dest = Path(dest).expanduser()
    before = check_dataset(name, dest)
    if before.state == "complete":
        return Outcome(name, "present", f"complete: {before.detail}")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-data-", dir=dest) as tmp:
        try:
            get_datasets(name, root=Path(tmp) / "download", download=True)
        except (DatasetNotFoundError, DatasetCorruptError) as err:
            cause = err.__cause__ or err
            lines = [line.strip() for line in str(cause).splitlines() if line.strip()] or [""]
            why = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
            return Outcome(name, "failed", f"download failed ({type(cause).__name__}: {why}); "
                           "check the internet connection, or install from a staged copy with --from")
        return _install_one(name, Path(tmp) / "download", dest, Path(tmp), origin="downloaded")


def _install_one(name: str, layout: Path, dest: Path, tmp: Path, *, origin: str) -> Outcome:
    """Copy one dataset folder into ``tmp``, check it there, then rename it into ``dest``."""
    before = check_dataset(name, dest)
    if before.state == "complete":
        return Outcome(name, "present", f"complete: {before.detail}")
    offered = check_dataset(name, layout)
    if not offered.usable:
        return Outcome(name, "failed", f"the copy {origin} is {offered.state}: {offered.detail}")
    if before.state == "partial" and offered.state == "partial":
        return Outcome(name, "present", f"partial: {before.detail}")
    staged = tmp / "staged" / ON_DISK[name].folder
    if not _is_inside(layout, tmp):  # a folder on a stick: copy it next to its destination first
        shutil.copytree(layout / ON_DISK[name].folder, staged, copy_function=shutil.copyfile)
    else:
        staged.parent.mkdir(parents=True, exist_ok=True)
        os.replace(layout / ON_DISK[name].folder, staged)
    _make_writable(staged)  # a read-only stick or archive must not give read-only data
    copied = check_dataset(name, staged.parent)
    if copied != offered:  # the copy changed on the way (a flaky drive)
        return Outcome(name, "failed", f"the copied files do not check out ({copied.detail}); nothing was installed")
    target = dest / ON_DISK[name].folder
    if not target.exists():  # the usual case: one rename puts the whole dataset in place
        os.replace(staged, target)
    else:  # a partial or corrupt copy: replace its files, keep whatever else the folder holds
        _replace_files(staged, target, tmp / "replaced")
    return Outcome(name, "fetched", f"{origin}, {offered.state}: {offered.detail}")


def _replace_files(new: Path, target: Path, backup: Path) -> None:
    """Move every file of folder ``new`` to the same place in ``target``, all or nothing.

    Only the files the copy brings are touched: each one already in ``target``
    is moved aside into ``backup`` (and put back if a later move fails); files
    of ``target`` that the copy does not have (a learner's notes, torchvision's
    ``processed/`` folder) stay where they are.
    """
    moved: list[Path] = []
    try:
        for file in sorted(p.relative_to(new) for p in new.rglob("*") if not p.is_dir()):
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(target / file):
                (backup / file).parent.mkdir(parents=True, exist_ok=True)
                os.replace(target / file, backup / file)
            moved.append(file)
            os.replace(new / file, target / file)
    except OSError:
        for file in reversed(moved):  # undo: the old files back where they were
            if os.path.lexists(backup / file):
                os.replace(backup / file, target / file)
            elif os.path.lexists(target / file):
                os.remove(target / file)
        raise


def _unpack(archive: Path, out: Path) -> None:
    """Unpack a .zip or .tar(.gz) archive into ``out``, refusing paths that leave it.

    The sizes its members declare are added up first, and an archive that would
    unpack to more than ``MAX_UNPACKED_BYTES`` is refused before anything is
    written. The declared sizes bind: zipfile stops reading a member at its
    declared size, and a tar member's size is the length of its data.
    """
    if not archive.name.endswith(ARCHIVES):
        raise ValueError(f"expected a folder or a {', '.join(ARCHIVES)} archive")
    out.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            _check_unpacked_size(archive, [info.file_size for info in z.infolist()])
            bad = z.testzip()  # reads every member and checks its CRC
            if bad is not None:
                raise zipfile.BadZipFile(f"{bad} is damaged (CRC mismatch)")
            z.extractall(out)  # zipfile strips absolute paths and '..'
        return
    with tarfile.open(archive) as t:
        _check_unpacked_size(archive, [member.size for member in t.getmembers()])
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuses links and paths leaving `out`
            t.extractall(out, filter="data")
        else:
            for member in t.getmembers():
                if not (out / member.name).resolve().is_relative_to(out.resolve()) or member.islnk() or member.issym():
                    raise ValueError(f"{member.name} would be written outside the destination")
            t.extractall(out)


def _check_unpacked_size(archive: Path, sizes: list[int]) -> None:
    """Refuse an archive whose members add up to far more than the datasets can take."""
    total = sum(sizes)
    if total > MAX_UNPACKED_BYTES or len(sizes) > MAX_MEMBERS:
        raise ArchiveTooLargeError(
            f"it would unpack to {total / 1e9:.2f} GB in {len(sizes):,} files, far more than the three "
            f"datasets take (about 0.4 GB in about 40 files; the limit is {MAX_UNPACKED_BYTES / 1e9:.1f} GB "
            f"and {MAX_MEMBERS:,} files), so it is not a copy of them")


def _make_writable(folder: Path) -> None:
    """Give the owner write permission, so the copy can later be replaced or deleted."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _same_folder(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def _is_inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
