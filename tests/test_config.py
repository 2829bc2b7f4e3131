import tempfile
from pathlib import Path

import pytest
import torch

from course_utils import config
from course_utils.config import REPO_ROOT, data_dir, get_device, is_smoke


def test_data_dir_defaults_to_repository_data_folder(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data_dir() == REPO_ROOT / "data"
    assert (REPO_ROOT / "data" / "README.md").is_file()


def test_data_dir_follows_course_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_is_smoke_reads_course_smoke(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_SMOKE", value)
    assert is_smoke() is expected


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_course_device_overrides_and_missing_gpu_is_an_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU.*Runtime"):
        get_device("cuda")


def test_pick_chooses_smoke_then_short_then_full(monkeypatch):
    from course_utils.config import pick
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert pick(full=30, short=5, smoke=1, run="short") == 1
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert pick(full=30, short=5, smoke=1, run="short") == 5
    assert pick(full=30, short=5, smoke=1) == 30
    assert pick(full=30, smoke=1, run="short") == 30
    with pytest.raises(ValueError, match="'full' or 'short'"):
        pick(full=1, smoke=1, run="long")


# --- run folders and run lengths ------------------------------------------------------------

def test_run_dir_is_named_by_the_settings_outside_smoke_mode(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    path = config.run_dir("08_mnist_resnet", epochs=10, lr=1e-3, batch=64)
    assert path.as_posix() == "runs/08_mnist_resnet/epochs10-lr0.001-batch64"
    assert config.run_dir("08_mnist_resnet", epochs=10, lr=1e-2, batch=64) != path
    assert not path.exists()  # named, not made: fit makes it when it saves


def test_run_dir_in_smoke_mode_is_a_new_empty_temporary_folder_each_time(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    a, b = config.run_dir("08_mnist_resnet", epochs=1), config.run_dir("08_mnist_resnet", epochs=1)
    try:
        assert a != b and a.is_dir() and not any(a.iterdir())
        assert Path(tempfile.gettempdir()) in a.parents and "runs" not in a.parts
    finally:
        a.rmdir(), b.rmdir()


MINUTES = {"full": {"cpu": 40, "gpu": 5}, "short": {"cpu": 10, "gpu": 2}}


def test_describe_run_warns_on_a_long_cpu_run_and_names_the_shorter_choices(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    text = config.describe_run("full", "cpu", MINUTES)
    assert text.startswith("RUN = 'full' on cpu: expect about 40 minutes.")
    assert "RUN = 'short' (about 10 minutes)" in text and "COURSE_SMOKE=1" in text
    assert "On a GPU" in text and "about 5 minutes" in text


def test_describe_run_is_one_line_when_the_run_is_short_enough(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    assert config.describe_run("short", "cpu", MINUTES) == "RUN = 'short' on cpu: expect about 10 minutes."
    assert config.describe_run("full", torch.device("cuda", 0), MINUTES) == \
        "RUN = 'full' on cuda: expect about 5 minutes."
    assert config.describe_run("full", "cpu", {"full": {"cpu": 300, "gpu": 20}, "short": {"cpu": 100, "gpu": 5}}) \
        .startswith("RUN = 'full' on cpu: expect about 5 hours.")


def test_describe_run_gives_no_cpu_figure_for_an_apple_gpu(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    text = config.describe_run("full", torch.device("mps"), MINUTES)
    assert text.startswith("RUN = 'full' on mps: not timed on Apple GPUs.")
    assert "a CPU about 40 minutes" in text and "a CUDA GPU about 5 minutes" in text
    assert "expect about 40" not in text


def test_describe_run_in_smoke_mode_says_a_minute_and_refuses_an_unknown_run(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert config.describe_run("full", "cpu", MINUTES) == "Smoke mode (COURSE_SMOKE=1) on cpu: about a minute."
    with pytest.raises(ValueError, match="run must be 'full' or 'short'"):
        config.describe_run("long", "cpu", MINUTES)
