"""Shared fixtures. Tests that need real data read COURSE_DATA_DIR (CI points it at ../shared/data)."""
from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.config import data_dir
from course_utils.datasets import ON_DISK

#: The first file each dataset's loaders read: where a staged copy is looked for.
EXPECTED = {name: disk.paths()[0] for name, disk in ON_DISK.items()}


def require_data(name: str) -> Path:
    """The data folder, or skip the test with the reason when the dataset is not staged."""
    root = data_dir()
    if not (root / EXPECTED[name]).is_file():
        pytest.skip(f"{name} is not staged in {root} (expected {EXPECTED[name]}): point "
                    "COURSE_DATA_DIR at a folder holding it, e.g. COURSE_DATA_DIR=../shared/data")
    return root


@pytest.fixture
def mnist_root() -> Path:
    return require_data("mnist")


@pytest.fixture
def cifar_root() -> Path:
    return require_data("cifar10")


@pytest.fixture
def fashion_root() -> Path:
    return require_data("fashion_mnist")


@pytest.fixture(autouse=True)
def _no_smoke(monkeypatch):
    """Tests choose their own sizes; a COURSE_SMOKE in the caller's shell must not shrink them."""
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
