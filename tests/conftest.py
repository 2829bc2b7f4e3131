"""Shared fixtures: the datasets every test reads, and a guard on the checkout.

**Data.** A dataset is *staged* when all its files are in ``data_dir()``
(``COURSE_DATA_DIR``, else the checkout's ``data/``); CI points COURSE_DATA_DIR at
real samples. Every dataset that is not staged is written small by the tests
(``tests/fake_datasets.py``: the real file formats, synthetic pixels) into a
temporary folder, so the whole suite runs on a fresh clone:

* ``data_root`` (and its aliases ``mnist_root``, ``fashion_root``, ``cifar_root``,
  which say what a test reads): one folder holding all three datasets, staged or
  synthetic. COURSE_DATA_DIR points at it for the test, so commands, ``torchrun``
  and notebook kernels started by the test read the same files.
* ``synthetic_root``: the synthetic datasets alone, always. Tests of partial copies
  (doctor, fetch-data, damaged and hostile files) use it: it is partial everywhere,
  small enough to copy, and of known sizes.
* ``real_mnist_root``: only for tests that need the real images (accuracy
  thresholds); they skip, saying how to run them, when MNIST is not staged.

**Weights.** torchvision's ImageNet weights for ResNet-18 cannot be downloaded in
a test. Every test gets an empty ``TORCH_HOME`` of its session (nothing is read
from, or written to, the user's cache) and no ``COURSE_RESNET18_WEIGHTS``;
``data_root`` also points ``COURSE_RESNET18_WEIGHTS`` at a state dict the tests
write (``tests/fake_weights.py``), so that notebook 11 runs offline.

**The checkout.** No test may leave files in the checkout (``runs/``,
``notebooks/figures/``, ``student/``, ``build/``...): later runs would read them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from course_utils.config import REPO_ROOT, data_dir
from course_utils.datasets import NAMES, ON_DISK
from fake_weights import write_resnet18_weights

from checkout_guard import ignored_files
from fake_datasets import write_all

#: What a test that needs real pixels says when it skips: how to run it (no path of ours in it).
REAL_DATA_SKIP = (
    "needs the real {label} images (it checks an accuracy that the synthetic stand-ins the tests write "
    "cannot show), and {label} is not staged in {root}. To run it, download {label} (python -m "
    "course_utils fetch-data {name}: into data/, or into COURSE_DATA_DIR when it is set), or point "
    "COURSE_DATA_DIR at a folder that holds {folder}/: COURSE_DATA_DIR=/path/to/data python -m pytest {test}")


@dataclass(frozen=True)
class CourseData:
    """The folder the tests read datasets from, and which of them are staged (real) rather than synthetic."""

    root: Path
    staged: frozenset[str]
    looked_in: Path  #: where staged datasets were looked for: ``data_dir()`` when the session started


def is_staged(root: Path, name: str) -> bool:
    """True when every file the loaders read for ``name`` is in ``root``."""
    return all((root / path).is_file() for path in ON_DISK[name].paths())


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A folder holding small synthetic MNIST, Fashion-MNIST and CIFAR-10 in their real formats."""
    return write_all(tmp_path_factory.mktemp("synthetic-data"))


@pytest.fixture(scope="session")
def course_data(request, tmp_path_factory) -> CourseData:
    """``data_dir()`` when it stages all three datasets; else a folder that links each staged
    dataset from there and takes the others from ``synthetic_root``."""
    staged_root = data_dir()
    staged = frozenset(name for name in NAMES if is_staged(staged_root, name))
    if staged == set(NAMES):
        return CourseData(staged_root, staged, staged_root)
    synthetic = request.getfixturevalue("synthetic_root")
    if not staged:
        return CourseData(synthetic, staged, staged_root)
    mixed = tmp_path_factory.mktemp("data")
    for name in NAMES:
        folder = ON_DISK[name].folder
        (mixed / folder).symlink_to((staged_root if name in staged else synthetic) / folder, target_is_directory=True)
    return CourseData(mixed, staged, staged_root)


@pytest.fixture(scope="session")
def stand_in_weights(tmp_path_factory) -> Path:
    """A ResNet-18 state dict in torchvision's format, written by the tests (not ImageNet's)."""
    return write_resnet18_weights(tmp_path_factory.mktemp("weights") / "resnet18-stand-in.pth")


@pytest.fixture(scope="session")
def _empty_torch_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torch-home")


@pytest.fixture(autouse=True)
def _own_torch_home(_empty_torch_home, monkeypatch):
    """torch.hub's cache is the session's own, empty folder; COURSE_RESNET18_WEIGHTS is unset."""
    monkeypatch.setenv("TORCH_HOME", str(_empty_torch_home))
    monkeypatch.delenv("COURSE_RESNET18_WEIGHTS", raising=False)


@pytest.fixture
def data_root(course_data, stand_in_weights, monkeypatch) -> Path:
    """The folder holding all three datasets; COURSE_DATA_DIR points at it during the test,
    and COURSE_RESNET18_WEIGHTS at the tests' stand-in for ResNet-18's ImageNet weights."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(course_data.root))
    monkeypatch.setenv("COURSE_RESNET18_WEIGHTS", str(stand_in_weights))
    return course_data.root


@pytest.fixture
def mnist_root(data_root) -> Path:
    return data_root


@pytest.fixture
def fashion_root(data_root) -> Path:
    return data_root


@pytest.fixture
def cifar_root(data_root) -> Path:
    return data_root


@pytest.fixture
def real_mnist_root(request, course_data, data_root) -> Path:
    """``data_root``, for a test that needs the real MNIST images; skips with how to run it otherwise."""
    if "mnist" not in course_data.staged:
        pytest.skip(REAL_DATA_SKIP.format(label="MNIST", name="mnist", folder="MNIST/raw", root=course_data.looked_in,
                                          test=request.node.nodeid))
    return data_root


@pytest.fixture(autouse=True)
def _no_smoke(monkeypatch):
    """Tests choose their own sizes; a COURSE_SMOKE in the caller's shell must not shrink them."""
    monkeypatch.delenv("COURSE_SMOKE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched():
    """Fail the run when its tests left files in the checkout: write under tmp_path instead."""
    before = ignored_files(REPO_ROOT)
    yield
    after = ignored_files(REPO_ROOT)
    if before is not None and after is not None and after - before:
        left = sorted(after - before)
        pytest.fail(f"the tests left {len(left)} file(s) in the checkout {REPO_ROOT}, which later runs "
                    f"would read: {', '.join(left[:10])}{' ...' if len(left) > 10 else ''}", pytrace=False)
