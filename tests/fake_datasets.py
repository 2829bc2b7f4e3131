"""Small stand-ins for MNIST, Fashion-MNIST and CIFAR-10, written in the real on-disk formats.

When no staged copy of a dataset is found, ``tests/conftest.py`` writes these into a
temporary folder, so that every loader, command-line, ``torchrun`` and notebook test
runs on a fresh clone. The files are laid out as torchvision lays out its downloads
(``course_utils.datasets.ON_DISK``), in the formats the real files use:

* **MNIST, Fashion-MNIST**: four uncompressed IDX files in ``MNIST/raw/`` and
  ``FashionMNIST/raw/``. Each starts with big-endian 32-bit integers: the magic
  number ``0x0000080N`` (``08``: unsigned bytes; ``N``: the number of dimensions,
  3 for images, 1 for labels), then the size of each dimension; then one byte per
  pixel or label. ``torchvision.datasets.MNIST`` reads them as they are.
* **CIFAR-10**: Python pickles in ``cifar-10-batches-py/``: ``data_batch_1`` to ``5``
  and ``test_batch``, each a dict with the real keys (``data``: uint8 of shape
  (N, 3072), each row the red, then green, then blue 32x32 plane of one image;
  ``labels``; ``filenames``; ``batch_label``), and ``batches.meta`` (``label_names``,
  ``num_cases_per_batch``, ``num_vis``). They hold fewer images than the originals,
  so, like the course's samples, they fail the official MD5 sums.

The pixels come from a seeded generator, the same on every machine, and they are
learnable: each class has its own pattern (a seven-segment digit, a garment-like
shape filling the frame, a colour with stripes of its own width) under varying
brightness and noise, with about the real datasets' mean and spread per channel,
so normalised batches look like real ones and a short training learns. What a
model scores on them says nothing about the real images: tests of accuracy ask
for the real files (the ``real_mnist_root`` fixture).

>>> root = write_all(tmp_path)  # doctest: +SKIP
>>> count_images(root, "mnist")  # doctest: +SKIP
(1200, 400)
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from course_utils.datasets import CLASSES, MEAN, ON_DISK, STD

#: (training, test) images of each stand-in: more than smoke mode keeps (512 + 128 validation, 256 test),
#: fewer than the course's samples, so a test that assumes one or the other size fails on the other.
SIZES = {"mnist": (1200, 400), "fashion_mnist": (1000, 300), "cifar10": (1000, 300)}

#: The seven segments of a digit display (top, upper right, lower right, bottom, lower left,
#: upper left, middle) as (rows, columns) of an 18x10 box, and those each digit lights.
SEGMENTS = {"a": (slice(0, 3), slice(0, 10)), "b": (slice(0, 10), slice(7, 10)),
            "c": (slice(7, 18), slice(7, 10)), "d": (slice(15, 18), slice(0, 10)),
            "e": (slice(7, 18), slice(0, 3)), "f": (slice(0, 10), slice(0, 3)), "g": (slice(7, 10), slice(0, 10))}
DIGITS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]

#: Stripe period in pixels of each CIFAR-10 class (along the rows, so a mirror keeps the class).
PERIODS = [4, 5, 6, 7, 8, 10, 12, 16, 24, 32]


def write_all(root: Path, seed: int = 0) -> Path:
    """Write the three stand-ins into ``root`` in torchvision's layout, the same bytes for the same seed."""
    rng = np.random.default_rng(seed)
    # ink: the strokes' brightness; above 1, their centres saturate at 255, as most of MNIST's do
    for name, patterns, ink in (("mnist", digit_patterns(), 1.1), ("fashion_mnist", garment_patterns(), 0.85)):
        raw = root / ON_DISK[name].folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for split, n in zip(("train", "t10k"), SIZES[name]):
            labels = balanced_labels(n, rng)
            write_idx(raw / f"{split}-images-idx3-ubyte", grey_images(patterns, labels, ink, rng))
            write_idx(raw / f"{split}-labels-idx1-ubyte", labels.astype(np.uint8))
    write_cifar10(root / ON_DISK["cifar10"].folder, *SIZES["cifar10"], rng=rng)
    return root


def count_images(root: Path, name: str) -> tuple[int, int]:
    """How many (training, test) images the files of ``name`` in ``root`` hold, as the files themselves say.

    Read without ``course_utils``: the count in each IDX images header, or the length of
    each CIFAR-10 batch's labels (plain ``pickle``: these are the tests' own trusted files).
    """
    if name == "cifar10":
        def rows(file: str) -> int:
            with open(root / ON_DISK[name].folder / file, "rb") as f:
                return len(pickle.load(f, encoding="latin1")["labels"])
        return sum(rows(f"data_batch_{i}") for i in range(1, 6)), rows("test_batch")
    counts = []
    for split in ("train", "t10k"):
        with open(root / ON_DISK[name].folder / "raw" / f"{split}-images-idx3-ubyte", "rb") as f:
            counts.append(int.from_bytes(f.read(8)[4:], "big"))
    return counts[0], counts[1]


# ---------------------------------------------------------------------------
# The formats
# ---------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    """One IDX file: magic ``0x0800 + dimensions``, each dimension's size, then the bytes."""
    header = [0x0800 + array.ndim, *array.shape]
    path.write_bytes(b"".join(n.to_bytes(4, "big") for n in header) + array.astype(np.uint8).tobytes())


def write_cifar10(folder: Path, n_train: int, n_test: int, rng: np.random.Generator) -> None:
    """Five training batches of ``n_train / 5`` images, a test batch and ``batches.meta``, pickled as the originals."""
    folder.mkdir(parents=True, exist_ok=True)
    per_batch = n_train // 5
    files = [(f"data_batch_{i}", f"training batch {i} of 5", per_batch) for i in range(1, 6)]
    for file, batch_label, n in [*files, ("test_batch", "testing batch 1 of 1", n_test)]:
        labels = balanced_labels(n, rng)
        batch = {"batch_label": batch_label, "labels": labels.tolist(),
                 "data": colour_images(labels, rng).reshape(n, 3 * 32 * 32),
                 "filenames": [f"{CLASSES['cifar10'][label]}_s_{i:06d}.png" for i, label in enumerate(labels)]}
        (folder / file).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"num_cases_per_batch": per_batch, "label_names": list(CLASSES["cifar10"]), "num_vis": 3 * 32 * 32}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


# ---------------------------------------------------------------------------
# The pixels
# ---------------------------------------------------------------------------

def balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels, each class as often as the others (to one), in a random order."""
    return rng.permutation(np.arange(n) % 10)


def digit_patterns() -> np.ndarray:
    """Ten 28x28 seven-segment digits: strokes 3 pixels wide, softened to 20 pixels high, centred
    by mass as MNIST's digits are."""
    patterns = np.zeros((10, 28, 28), dtype=np.float32)
    for digit, lit in enumerate(DIGITS):
        glyph = np.zeros((18, 10), dtype=np.float32)
        for segment in lit:
            glyph[SEGMENTS[segment]] = 1
        cy, cx = np.argwhere(glyph).mean(axis=0)
        top, left = min(max(round(14 - cy), 1), 9), min(max(round(14 - cx), 1), 17)
        patterns[digit, top:top + 18, left:left + 10] = glyph
    return soften(patterns)


def garment_patterns() -> np.ndarray:
    """Ten 28x28 shapes that fill the frame's height, as Fashion-MNIST's products do: a bar of one
    of four widths, solid, striped across or striped down."""
    patterns = np.zeros((10, 28, 28), dtype=np.float32)
    rows, cols = np.mgrid[0:28, 0:28]
    for k in range(10):
        width, texture = (8, 12, 18, 24)[k % 4], k // 4  # 0 solid, 1 striped across, 2 striped down
        left = (28 - width) // 2
        patterns[k, :, left:left + width] = 1
        if texture:
            patterns[k] *= ((rows if texture == 1 else cols) // 4) % 2 == 0
    return soften(patterns)


def soften(patterns: np.ndarray) -> np.ndarray:
    """Blur each pattern's edges over about a pixel ([1, 2, 1] / 4 down, then across): MNIST's strokes are anti-aliased."""
    for axis in (1, 2):
        padded = np.pad(patterns, [(0, 0) if a != axis else (1, 1) for a in range(3)])
        patterns = (np.take(padded, range(0, 28), axis) + 2 * np.take(padded, range(1, 29), axis)
                    + np.take(padded, range(2, 30), axis)) / 4
    return patterns


def grey_images(patterns: np.ndarray, labels: np.ndarray, ink: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 28, 28): each label's pattern, light on black, each image and pixel a little brighter or darker."""
    brightness = rng.uniform(ink - 0.25, ink + 0.05, size=(len(labels), 1, 1))
    pixels = patterns[labels] * brightness * rng.normal(1.0, 0.15, size=(len(labels), 28, 28))
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def colour_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 3, 32, 32): each label's colour and stripe width, at a random phase, plus noise,
    scaled to CIFAR-10's mean and standard deviation per channel."""
    colours = np.random.default_rng(10).uniform(-1, 1, size=(10, 3))  # the same colours whatever the seed
    colours -= colours.mean(axis=0)
    n = len(labels)
    rows = np.arange(32)[None, :] + rng.uniform(0, 32, size=(n, 1))
    stripes = np.sin(2 * np.pi * rows / np.array(PERIODS)[labels][:, None])  # (N, 32): one value per row
    z = (0.75 * colours[labels][:, :, None, None] + 1.2 * stripes[:, None, :, None]
         + 0.35 * rng.standard_normal((n, 3, 32, 32)))
    mean, std = np.array(MEAN["cifar10"])[:, None, None], np.array(STD["cifar10"])[:, None, None]
    return np.round(np.clip(mean + std * z, 0, 1) * 255).astype(np.uint8)
