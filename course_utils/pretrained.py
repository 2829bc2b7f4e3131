"""ResNet-18 trained on ImageNet: torchvision's weights file, checked, staged and read safely.

torchvision publishes the weights of its ImageNet ResNet-18 as one 47 MB file,
``resnet18-f37072fd.pth``. ``torchvision.models.resnet18(weights="IMAGENET1K_V1")``
downloads it once into ``$TORCH_HOME/hub/checkpoints/`` (``~/.cache/torch/hub/checkpoints``
when ``TORCH_HOME`` is not set) and reads it from there afterwards. Two things it
does not do: it checks the file's SHA-256 only while downloading, and it reads the
cached file with ``torch.load(weights_only=False)``, which runs any code a pickle
asks for. A file copied into that folder from a USB stick is trusted blindly.

This module does both: ``check_weights`` compares the whole file with the published
SHA-256, and ``read_state_dict`` opens any weights file with ``weights_only=True``
(tensors only: nothing in the file can run) and checks that it fits ResNet-18.
``fetch-data`` stages the file with ``stage_weights`` and ``download_weights``;
``doctor`` reports it with ``check_weights``.

>>> model = resnet18_imagenet(num_classes=10, download=True)  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

import torch
import torchvision
from torch import nn

from course_utils.config import resnet18_weights_file
from course_utils.staging import ARCHIVES, Outcome

__all__ = ["FILE_NAME", "SHA256", "SIZE_BYTES", "URL", "IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_SIZE", "NAME",
           "WeightsFileError", "WeightsStatus", "weights_path", "check_weights", "read_state_dict",
           "resnet18_imagenet", "stage_weights", "download_weights", "find_weights"]

#: torchvision's ImageNet weights for ResNet-18 (``ResNet18_Weights.IMAGENET1K_V1``): the file
#: name carries the first 8 hex digits of its SHA-256, as torch.hub's naming rule asks.
FILE_NAME = "resnet18-f37072fd.pth"
SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
SIZE_BYTES = 46_830_571
URL = "https://download.pytorch.org/models/" + FILE_NAME
#: How the ImageNet training images were prepared: pixels in [0, 1], then ``(x - mean) / std``
#: per channel, at 224x224. A network only understands inputs prepared the way it was trained.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_SIZE = 224
#: How ``fetch-data`` and ``doctor`` name the file, beside the datasets.
NAME = "resnet18_imagenet"


class WeightsFileError(ValueError):
    """A weights file that is not torchvision's, or not a ResNet-18 state dict at all."""


@dataclass(frozen=True)
class WeightsStatus:
    """What ``check_weights`` found: ``state`` is complete, missing, corrupt or unreadable."""

    path: Path
    state: str
    detail: str

    @property
    def usable(self) -> bool:
        return self.state == "complete"


def weights_path() -> Path:
    """Where torchvision keeps the file: ``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FILE_NAME


def check_weights(path: str | os.PathLike | None = None) -> WeightsStatus:
    """Is ``path`` (default: ``weights_path()``) torchvision's published file, byte for byte?

    Size first (an interrupted download is short), then the SHA-256 of the whole
    file, about a second for 47 MB. Nothing is unpickled.
    """
    path = Path(path).expanduser() if path is not None else weights_path()
    try:
        if not path.exists():
            return WeightsStatus(path, "missing", f"no file {path}")
        if not path.is_file():
            return WeightsStatus(path, "corrupt", f"{path} is a folder, not the weights file")
        size = path.stat().st_size
        if size != SIZE_BYTES:
            return WeightsStatus(path, "corrupt", f"{path} holds {size:,} bytes, torchvision's file "
                                 f"{SIZE_BYTES:,} (an interrupted download?)")
        if _sha256(path) != SHA256:
            return WeightsStatus(path, "corrupt", f"{path} is not torchvision's file: its SHA-256 differs")
    except PermissionError:
        return WeightsStatus(path, "unreadable", f"no permission to read {path}")
    return WeightsStatus(path, "complete", f"torchvision's ImageNet weights, SHA-256 checked ({path})")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ResNet-18 weights file, read safely and checked against torchvision's model.

    ``torch.load(..., weights_only=True)`` builds tensors and plain containers
    only: a file that would need to run code to load is refused. Every key of
    ``torchvision.models.resnet18()`` must be there with its shape, and nothing else.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No weights file {path}: {_FETCH_ADVICE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError for code, RuntimeError for a damaged zip
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise WeightsFileError(f"{path} cannot be read as plain tensors ({type(err).__name__}: {first_line}). "
                               "A file that needs to run code to load is refused; a damaged one too. "
                               f"{_FETCH_ADVICE}") from None
    with torch.device("meta"):  # names and shapes only: no memory, no initialisation
        expected = torchvision.models.resnet18().state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(f"{path} is not a state dict (a dict of tensors), so not ResNet-18's weights")
    missing, extra = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    wrong = [k for k in expected.keys() & state.keys() if state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        problems = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                    f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else "",
                    f"{len(wrong)} of the wrong shape (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)}, "
                    f"expected {tuple(expected[wrong[0]].shape)})" if wrong else ""]
        raise WeightsFileError(f"{path} does not fit torchvision's ResNet-18: keys "
                               + ", ".join(p for p in problems if p) + ".")
    return state


def resnet18_imagenet(num_classes: int | None = None, *, weights_file: str | os.PathLike | None = None,
                      download: bool = False) -> torchvision.models.ResNet:
    """torchvision's ResNet-18 with its ImageNet weights, and a new last layer for ``num_classes``.

    The weights come from ``weights_file``, else from ``COURSE_RESNET18_WEIGHTS``
    (your own file of the same shapes, such as a checkpoint of a fine-tuned
    ResNet-18), else from torchvision's file in ``weights_path()``, whose SHA-256
    must match. When that file is missing, ``download=True`` downloads it (47 MB,
    checked before it is put in place); otherwise the error says how to stage it.
    ``num_classes`` replaces ``fc`` (1000 ImageNet classes) with a new, randomly
    initialised ``nn.Linear(512, num_classes)``.
    """
    chosen = weights_file if weights_file is not None else resnet18_weights_file()
    if chosen is None:
        status = check_weights()
        if status.state == "missing" and download:
            outcome = download_weights()
            if outcome.result == "failed":
                raise FileNotFoundError(f"ResNet-18's ImageNet weights are not here, and {outcome.detail}")
            status = check_weights()
        if status.state == "missing":
            raise FileNotFoundError(f"ResNet-18's ImageNet weights are not here ({status.detail}): call "
                                    f"resnet18_imagenet(download=True) to download them. {_FETCH_ADVICE}")
        if not status.usable:
            raise WeightsFileError(f"ResNet-18's ImageNet weights: {status.detail}. {_FETCH_ADVICE}")
        chosen = status.path
    model = torchvision.models.resnet18()
    model.load_state_dict(read_state_dict(chosen))
    if num_classes is not None:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def find_weights(source: Path) -> Path | None:
    """The weights file in ``source``: the file itself, or inside it, one or three folders down.

    Three folders down is a copy of a whole ``TORCH_HOME`` (``hub/checkpoints/``).
    """
    source = Path(source)
    if source.is_file():
        return source if source.name == FILE_NAME else None
    for candidate in (source / FILE_NAME, *sorted(source.glob(f"*/{FILE_NAME}")),
                      source / "hub" / "checkpoints" / FILE_NAME,
                      *sorted(source.glob(f"*/hub/checkpoints/{FILE_NAME}"))):
        if candidate.is_file():
            return candidate
    return None


def stage_weights(source: str | os.PathLike, dest_dir: str | os.PathLike | None = None, *,
                  required: bool = True) -> Outcome:
    """Copy torchvision's file from ``source`` into ``dest_dir``, checked before it is put in place.

    ``source`` is the file, a folder holding it (see ``find_weights``), or a
    ``.zip``/``.tar.gz`` archive of such a folder. ``dest_dir`` defaults to
    torchvision's cache folder, where ``resnet18(weights=...)`` and
    ``resnet18_imagenet`` look. The copy's size and SHA-256 are checked before it
    is renamed into place, so a damaged stick never leaves half a file behind; a
    good file already there is left alone. With ``required=False`` a copy without
    the file is "skipped" rather than "failed" (a copy of the datasets only).
    """
    source = Path(source).expanduser()
    dest = Path(dest_dir).expanduser() / FILE_NAME if dest_dir is not None else weights_path()
    if check_weights(dest).usable:
        return Outcome(NAME, "present", f"complete: {dest}")
    if not source.exists():
        return Outcome(NAME, "failed", f"{source} does not exist")
    if source.is_file() and source.name.endswith(ARCHIVES):
        try:  # only the one member is read, at most one byte past its size: no other file is unpacked
            with _archive_member(source) as member:
                if member is None:
                    return _not_found(source, required)
                return _install(dest, lambda tmp: _copy_at_most(member, tmp, SIZE_BYTES + 1),
                                origin=f"from {source}")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
            return Outcome(NAME, "failed", f"{source.name} is not a readable archive "
                                           f"({type(err).__name__}: {err}); nothing was installed")
    found = find_weights(source)
    if found is None:
        return _not_found(source, required)
    offered = check_weights(found)
    if not offered.usable:
        return Outcome(NAME, "failed", f"the copy in {source} is {offered.state}: {offered.detail}")
    return _install(dest, lambda tmp: shutil.copyfile(found, tmp), origin=f"from {source}")


def _not_found(source: Path, required: bool) -> Outcome:
    looked = f"{source} holds no {FILE_NAME} (looked at the top, one folder down and in hub/checkpoints/)"
    if not required:
        return Outcome(NAME, "skipped", f"{looked}: notebook 11 downloads it on first use where there is "
                                        "internet, or stage it later with fetch-data resnet18-imagenet --from")
    return Outcome(NAME, "failed", looked)


@contextlib.contextmanager
def _archive_member(archive: Path) -> Iterator[IO[bytes] | None]:
    """The weights file inside a ``.zip`` or ``.tar(.gz)`` archive (any folder), open for reading; else None."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            info = next((i for i in z.infolist() if not i.is_dir() and PurePosixPath(i.filename).name == FILE_NAME),
                        None)
            with z.open(info) if info is not None else contextlib.nullcontext() as member:
                yield member
        return
    with tarfile.open(archive) as t:
        found = next((m for m in t if m.isfile() and PurePosixPath(m.name).name == FILE_NAME), None)
        yield t.extractfile(found) if found is not None else None


def _copy_at_most(stream: IO[bytes], path: Path, limit: int) -> None:
    """Copy ``stream`` into ``path``, stopping past ``limit`` bytes (the size check then refuses it)."""
    with path.open("wb") as out:
        while out.tell() <= limit and (block := stream.read(1 << 20)):
            out.write(block)


def download_weights(dest_dir: str | os.PathLike | None = None) -> Outcome:
    """Download torchvision's file (SHA-256 checked) into ``dest_dir`` (default: torchvision's cache)."""
    dest = Path(dest_dir).expanduser() / FILE_NAME if dest_dir is not None else weights_path()
    if check_weights(dest).usable:
        return Outcome(NAME, "present", f"complete: {dest}")
    try:
        return _install(dest, lambda tmp: torch.hub.download_url_to_file(URL, str(tmp), SHA256, progress=False),
                        origin=f"downloaded from {URL}")
    except (OSError, RuntimeError) as err:  # no network (URLError is an OSError), or a bad hash
        return Outcome(NAME, "failed", f"the download failed ({type(err).__name__}: {err}); check the internet "
                                       "connection, or stage a copy with --from")


def _install(dest: Path, write, *, origin: str) -> Outcome:
    """Write the file next to ``dest`` with ``write(tmp)``, check it, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".fetch-data-", suffix=".pth", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        copied = check_weights(tmp)
        if not copied.usable:  # the copy changed on the way (a flaky drive)
            return Outcome(NAME, "failed", f"the copied file does not check out ({copied.detail}); "
                                           "nothing was installed")
        os.replace(tmp, dest)  # all or nothing
    finally:
        tmp.unlink(missing_ok=True)
    return Outcome(NAME, "fetched", f"{origin}, SHA-256 checked: {dest}")


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_FETCH_ADVICE = ("Stage torchvision's file with: python -m course_utils fetch-data resnet18-imagenet "
                 "(offline: add --from /path/to/staged/copy)")
