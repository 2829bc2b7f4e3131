"""Colab, simulated: a fake ``google.colab`` whose ``drive.mount`` makes a "My Drive" folder.

A real Colab runtime cannot be reached from the test machines. What Colab gives a
notebook is the ``google.colab`` package and, after ``drive.mount``, a folder at
/content/drive/MyDrive; the fake gives the same two things under tmp_path.
"""
import importlib.metadata
import re
import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import colab
from course_utils.colab import (
    checkpoint_path,
    course_requirement,
    drive_folder,
    env_fix,
    mount_drive,
    on_colab,
    pip_fix,
    shell_fix,
)
from course_utils.config import REPO_ROOT
from course_utils.train import fit


@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """A Colab runtime whose Drive mounts under tmp_path/drive; returns the list of mount calls."""
    calls = []

    def mount(where):
        calls.append(where)
        (tmp_path / "drive" / "MyDrive").mkdir(parents=True, exist_ok=True)

    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    drive.mount = mount
    colab.drive, google.colab = drive, colab
    for name, module in [("google", google), ("google.colab", colab), ("google.colab.drive", drive)]:
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_outside_colab_nothing_changes(tmp_path):
    assert not on_colab()
    assert mount_drive(tmp_path / "drive") is None
    assert drive_folder(tmp_path / "drive") is None
    assert checkpoint_path("runs/04/best.pt", mount=tmp_path / "drive") == type(tmp_path)("runs/04/best.pt")


def test_on_colab_drive_is_mounted_once_and_checkpoints_go_there(fake_colab, tmp_path):
    mount = tmp_path / "drive"
    assert on_colab()
    folder = mount_drive(mount)
    assert folder == mount / "MyDrive" / "resnet-hands-on"
    assert mount_drive(mount) == folder  # already mounted: not asked again
    assert fake_colab == [str(mount)]
    assert checkpoint_path("runs/04/best.pt", mount=mount) == folder / "runs" / "04" / "best.pt"


def test_absolute_checkpoint_paths_are_kept(fake_colab, tmp_path):
    mount_drive(tmp_path / "drive")
    assert checkpoint_path(tmp_path / "mine.pt", mount=tmp_path / "drive") == tmp_path / "mine.pt"


def test_a_disconnect_on_colab_resumes_from_drive(fake_colab, tmp_path):
    """Train 1 epoch into Drive, lose the 'runtime' (fresh model and loader), resume to 3 epochs:
    the same history and weights as 3 epochs in one go."""
    def run(epochs, checkpoint):
        torch.manual_seed(0)
        x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                            generator=torch.Generator().manual_seed(0))
        model = nn.Linear(5, 3)
        h = fit(model, loader, epochs=epochs, lr=0.05, device="cpu", progress=False,
                checkpoint=checkpoint, resume=True)
        return h, model.weight.detach().clone()

    mount_drive(tmp_path / "drive")
    on_drive = checkpoint_path("runs/toy/best.pt", mount=tmp_path / "drive")
    run(1, on_drive)
    assert on_drive.is_file()
    resumed, w_resumed = run(3, on_drive)
    straight, w_straight = run(3, tmp_path / "local.pt")
    assert resumed.train_loss == straight.train_loss
    assert torch.equal(w_resumed, w_straight)


def test_fixes_are_typed_into_a_cell_on_colab():
    assert shell_fix("python -m course_utils fetch-data mnist", colab=True) == (
        "!python -m course_utils fetch-data mnist")
    assert pip_fix("tqdm", colab=True) == "%pip install tqdm   (then Runtime > Restart session)"
    assert env_fix("COURSE_DATA_DIR", "/content/drive/MyDrive/data", colab=True) == (
        "%env COURSE_DATA_DIR=/content/drive/MyDrive/data")
    assert env_fix("COURSE_DEVICE", None, colab=True) == "%env COURSE_DEVICE="  # empty reads as unset


def test_fixes_are_typed_into_a_terminal_elsewhere():
    assert shell_fix("python -m course_utils fetch-data mnist", colab=False) == (
        "python -m course_utils fetch-data mnist")
    assert pip_fix("tqdm", colab=False) == "python -m pip install tqdm"
    assert env_fix("COURSE_DATA_DIR", "/big/data", colab=False) == "export COURSE_DATA_DIR=/big/data"
    assert env_fix("COURSE_DEVICE", None, colab=False) == "unset COURSE_DEVICE"


def test_fixes_follow_the_runtime_when_not_told(fake_colab):
    assert shell_fix("ls").startswith("!") and pip_fix("x").startswith("%pip")
    assert env_fix("A", "b").startswith("%env")


def test_an_empty_variable_set_by_percent_env_counts_as_unset(monkeypatch):
    from course_utils.config import data_dir, get_device, is_smoke
    for name in ("COURSE_DEVICE", "COURSE_DATA_DIR", "COURSE_SMOKE"):
        monkeypatch.setenv(name, "")
    assert get_device().type in ("cuda", "mps", "cpu") and not is_smoke()  # no error: unset
    assert data_dir().name == "data"


def test_the_course_installs_from_the_repository_its_pyproject_names():
    url = re.search(r'^Repository = "(.+)"$', (REPO_ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert course_requirement() == f'"course_utils @ git+{url}"'
    assert colab.REPOSITORY == url  # the fallback, for when the metadata does not say


def test_the_course_requirement_falls_back_to_the_constant_without_metadata(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "metadata", not_installed)
    assert course_requirement() == f'"course_utils @ git+{colab.REPOSITORY}"'
