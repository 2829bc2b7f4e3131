import pytest
import torch

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
