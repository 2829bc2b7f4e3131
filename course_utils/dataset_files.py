"""Reading the datasets' files without trusting them.

A classroom passes datasets around on USB sticks and shared drives, so a file
in the data folder may not be what its name says. Two formats, two dangers:

* **CIFAR-10 batches are Python pickles.** ``pickle.load`` rebuilds whatever
  the file describes, and a pickle can describe a call to *any* function: a
  batch file swapped for a hostile one runs code the moment it is opened
  (``torchvision.datasets.CIFAR10`` itself uses plain ``pickle``).
  ``read_cifar_batch`` unpickles through ``BatchUnpickler``, which builds only
  what a real batch holds (dicts, lists, strings, bytes, numbers and a numpy
  array of bytes) and refuses everything else before it is called.
* **MNIST's IDX files carry their sizes in a header.** A copy with more images
  than labels reads fine at first and fails halfway through an epoch.
  ``idx_count`` checks each header against the file's size, and
  ``check_idx_split`` checks that the images and labels agree.

Both raise ``DatasetCorruptError`` saying which file is wrong and how, so every
entry point (the loaders, ``load_tensors``, ``doctor``, ``fetch-data``) notices
a damaged copy when it is opened, and words its own advice.

>>> batch = read_cifar_batch(Path("data/cifar-10-batches-py/test_batch"))  # doctest: +SKIP
>>> batch["data"].shape, len(batch["labels"])  # doctest: +SKIP
((10000, 3072), 10000)
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any, Sequence

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
except ImportError:
    from numpy.core.multiarray import _reconstruct

__all__ = ["DatasetNotFoundError", "DatasetCorruptError", "BatchUnpickler",
           "read_cifar_batch", "read_cifar_meta", "idx_count", "check_idx_split"]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not in the data folder and could not be downloaded.

    Besides its message (advice for Python callers) it carries the facts, so that each
    front end (the command line, ``doctor``) can word its own advice: ``name`` (the
    dataset), ``root`` (the data folder), ``missing`` (the files not found, relative to
    ``root``) and ``cause`` (why downloading failed; None when no download was asked for).
    """

    def __init__(self, message: str, *, name: str | None = None, root: Path | None = None,
                 missing: Sequence[str] = (), cause: str | None = None) -> None:
        super().__init__(message)
        self.name, self.root, self.missing, self.cause = name, root, list(missing), cause

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetCorruptError(RuntimeError):
    """The dataset's files are there but cannot be trusted or read (partial copy, damaged file).

    Carries ``name``, ``root`` and ``cause`` (what is wrong) where they are known.
    """

    def __init__(self, message: str, *, name: str | None = None, root: Path | None = None,
                 cause: str | None = None) -> None:
        super().__init__(message)
        self.name, self.root, self.cause = name, root, cause


# ---------------------------------------------------------------------------
# CIFAR-10: pickles, read through an allow-list
# ---------------------------------------------------------------------------

def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as a pickle of ``bytes`` uses it, and nothing more."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"encoding {encoding!r} (a CIFAR-10 batch uses only latin-1)")
    return text.encode("latin1")


#: Every global a CIFAR-10 batch names: numpy's array reconstruction (its
#: module is ``numpy.core`` in the official files, ``numpy._core`` since numpy 2)
#: and the bytes encoder of protocol-2 pickles written by Python 3.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("_codecs", "encode"): _latin1_encode,
}


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR-10 batch holds.

    Plain data (dicts, lists, strings, bytes, numbers) needs no lookup; any
    other object is made by calling a function the pickle *names*, and
    ``find_class`` is where that name is turned into the function. Here it
    answers only for the few names in ``_ALLOWED``, so ``os.system`` or any
    other callable is refused before it can run.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it asks to call {module}.{name}, which no CIFAR-10 batch needs") from None


def _unpickle(path: Path) -> Any:
    """The object in the pickle at ``path``, built by ``BatchUnpickler`` (latin-1 text, as the originals)."""
    data = Path(path).read_bytes()
    try:
        return BatchUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as err:  # a refused name, a truncated file, garbage bytes
        raise DatasetCorruptError(f"{path} is damaged or not a CIFAR-10 batch "
                                  f"({type(err).__name__}: {err}); nothing in it was run") from err


def read_cifar_batch(path: str | Path) -> dict[str, Any]:
    """One CIFAR-10 batch file, checked: ``{"data": uint8 (N, 3072), "labels": [N ints in 0..9], ...}``.

    Each row of ``data`` is one 32x32 image, its 1,024 red values, then green,
    then blue. Raises ``DatasetCorruptError`` for anything else.
    """
    path = Path(path)
    batch = _unpickle(path)

    def bad(why: str) -> DatasetCorruptError:
        return DatasetCorruptError(f"{path} is not a CIFAR-10 batch: {why}")

    if not isinstance(batch, dict) or not {"data", "labels"} <= batch.keys():
        raise bad("it does not hold a dict with 'data' and 'labels'")
    data, labels = batch["data"], batch["labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise bad(f"'data' should be a uint8 array of shape (N, 3072), not {_describe(data)}")
    if not isinstance(labels, list) or len(labels) != len(data):
        raise bad(f"it has {len(data):,} images but {_describe(labels)} as labels")
    if not all(type(label) is int and 0 <= label <= 9 for label in labels):
        raise bad("its labels should be whole numbers from 0 to 9")
    return batch


def read_cifar_meta(path: str | Path) -> list[str]:
    """The ten class names of ``batches.meta``, read as safely as the batches."""
    path = Path(path)
    meta = _unpickle(path)
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not (isinstance(names, list) and len(names) == 10 and all(isinstance(n, str) for n in names)):
        raise DatasetCorruptError(f"{path} is not CIFAR-10's batches.meta: it should hold "
                                  "ten class names under 'label_names'")
    return names


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} and shape {value.shape}"
    if isinstance(value, list):
        return f"{len(value):,}"
    return type(value).__name__


# ---------------------------------------------------------------------------
# MNIST and Fashion-MNIST: IDX headers
# ---------------------------------------------------------------------------

#: The IDX magic numbers: 2051 for images (header 16 bytes), 2049 for labels (8 bytes).
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def idx_count(path: str | Path, *, magic: int, item_bytes: int) -> int:
    """How many items the IDX file at ``path`` holds, after checking its header against its size.

    An IDX file starts with a magic number, then the item count (and, for
    images, the height and width), all big-endian 32-bit integers; then come
    ``count * item_bytes`` bytes of data. Raises ``DatasetCorruptError`` when
    the file is too short, is not IDX, or is longer or shorter than its header says.
    """
    path = Path(path)
    header = 16 if magic == IMAGES_MAGIC else 8
    with open(path, "rb") as f:
        head = f.read(header)
    size = path.stat().st_size
    if len(head) < header or int.from_bytes(head[:4], "big") != magic:
        raise DatasetCorruptError(f"{path} is damaged: it does not start with an IDX header")
    count = int.from_bytes(head[4:8], "big")
    expected = header + count * item_bytes
    if size != expected:
        raise DatasetCorruptError(f"{path} is damaged: its header promises {count:,} items "
                                  f"({expected:,} bytes) but it holds {size:,} bytes")
    return count


def check_idx_split(raw: str | Path, split: str) -> int:
    """Check one split (``"train"`` or ``"t10k"``) of an MNIST-style ``raw/`` folder; return its size.

    The images' and the labels' files must each be sound and hold the same
    number of items: one label per image.
    """
    raw = Path(raw)
    images = idx_count(raw / f"{split}-images-idx3-ubyte", magic=IMAGES_MAGIC, item_bytes=28 * 28)
    labels = idx_count(raw / f"{split}-labels-idx1-ubyte", magic=LABELS_MAGIC, item_bytes=1)
    if images != labels:
        raise DatasetCorruptError(
            f"{raw} holds {images:,} {split} images but {labels:,} labels: one of the "
            "two files is from another copy, or was cut short")
    return images
