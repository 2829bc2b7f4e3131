"""course_utils.pretrained: ResNet-18's ImageNet weights checked, staged and read without running code.

The real file cannot be downloaded here: the tests write a stand-in state dict in
torchvision's format (``tests/fake_weights.py``) and, where a check compares the
published SHA-256, make the stand-in the "published" file with ``official_as``.
Every test has its own TORCH_HOME (the cache torchvision reads).
"""
from __future__ import annotations

import os
import pickle
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from course_utils import pretrained
from course_utils.cli import main
from course_utils.commands.doctor import check_imagenet_weights
from course_utils.pretrained import (
    FILE_NAME,
    WeightsFileError,
    check_weights,
    download_weights,
    read_state_dict,
    resnet18_imagenet,
    stage_weights,
    weights_path,
)
from fake_weights import official_as


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def official(tmp_path, monkeypatch, stand_in_weights) -> Path:
    """A stick holding the file under torchvision's name, taken for the published one."""
    stick = tmp_path / "stick" / "course-data"
    stick.mkdir(parents=True)
    path = stick / FILE_NAME
    shutil.copyfile(stand_in_weights, path)
    official_as(monkeypatch, path)
    return path


def evil_file(path: Path, marker: Path) -> Path:
    """A .pth whose unpickling would run a shell command that creates ``marker``."""
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"conv1.weight": Evil()}, path)
    return path


# --- reading a weights file -------------------------------------------------------------

def test_a_state_dict_in_torchvisions_format_loads_and_the_new_head_has_num_classes(stand_in_weights):
    model = resnet18_imagenet(num_classes=10, weights_file=stand_in_weights)
    saved = torch.load(stand_in_weights, weights_only=True)
    assert torch.equal(model.layer3[1].conv2.weight, saved["layer3.1.conv2.weight"])
    assert torch.equal(model.bn1.running_var, saved["bn1.running_var"])
    assert model.fc.out_features == 10 and model.fc.in_features == 512
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert resnet18_imagenet(weights_file=stand_in_weights).fc.out_features == 1000


def test_course_resnet18_weights_names_the_file_when_none_is_given(stand_in_weights, monkeypatch, torch_home):
    monkeypatch.setenv("COURSE_RESNET18_WEIGHTS", str(stand_in_weights))
    model = resnet18_imagenet(num_classes=3)
    assert torch.equal(model.conv1.weight, torch.load(stand_in_weights, weights_only=True)["conv1.weight"])
    assert not torch_home.exists()  # nothing downloaded, nothing looked for in the cache


def test_a_file_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = evil_file(tmp_path / "weights.pth", marker)
    with pytest.raises(WeightsFileError, match="cannot be read as plain tensors.*fetch-data resnet18-imagenet"):
        read_state_dict(path)
    assert not marker.exists()


def test_torchvisions_own_loader_would_run_that_code_from_its_cache(tmp_path, torch_home):
    """Why the course does not call resnet18(weights=...) on a staged file: torchvision unpickles it in full."""
    marker = tmp_path / "PWNED"
    evil_file(torch_home / "hub" / "checkpoints" / FILE_NAME, marker)
    with pytest.raises((RuntimeError, pickle.UnpicklingError)):  # torch 2.14: "Missing key", after the payload ran
        torchvision.models.resnet18(weights="IMAGENET1K_V1")
    if not marker.exists():
        pytest.skip("this torchvision reads cached weights with weights_only=True: the risk is gone")
    marker.unlink()
    status = check_weights()
    assert status.state == "corrupt"
    with pytest.raises(WeightsFileError, match="fetch-data resnet18-imagenet"):
        resnet18_imagenet()
    assert not marker.exists()  # the course checks the hash before reading, and reads tensors only


@pytest.mark.parametrize("make, message", [
    (lambda: torchvision.models.resnet34().state_dict(), r"unexpected \(e.g. layer1.2"),
    (lambda: torchvision.models.resnet18(num_classes=10).state_dict(), r"wrong shape \(e.g. fc\.(weight|bias)"),
    (lambda: {k: v for k, v in torchvision.models.resnet18().state_dict().items() if k != "fc.bias"},
     r"1 missing \(e.g. fc.bias\)"),
    (lambda: torch.zeros(3), "not a state dict"),
])
def test_a_file_of_other_shapes_is_refused_with_the_first_key_that_differs(tmp_path, make, message):
    path = tmp_path / "other.pth"
    torch.save(make(), path)
    with pytest.raises(WeightsFileError, match=message):
        read_state_dict(path)


def test_a_missing_file_says_how_to_stage_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch-data resnet18-imagenet"):
        read_state_dict(tmp_path / "nowhere.pth")


# --- checking torchvision's file ---------------------------------------------------------

def test_check_weights_tells_complete_missing_short_and_altered_files_apart(official, tmp_path):
    assert check_weights(official).state == "complete"
    assert check_weights(tmp_path / "none.pth").state == "missing"
    short = tmp_path / "short" / FILE_NAME
    short.parent.mkdir()
    short.write_bytes(official.read_bytes()[:1000])
    status = check_weights(short)
    assert status.state == "corrupt" and "1,000 bytes" in status.detail and "interrupted" in status.detail
    altered = tmp_path / "altered.pth"
    data = bytearray(official.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed, same size
    altered.write_bytes(bytes(data))
    status = check_weights(altered)
    assert status.state == "corrupt" and "SHA-256 differs" in status.detail
    assert check_weights(tmp_path).state == "corrupt"  # a folder


def test_the_default_place_is_torch_homes_hub_checkpoints(torch_home):
    assert weights_path() == torch_home / "hub" / "checkpoints" / FILE_NAME


def test_resnet18_imagenet_reads_the_checked_file_from_the_cache(official, torch_home):
    weights_path().parent.mkdir(parents=True)
    shutil.copyfile(official, weights_path())
    model = resnet18_imagenet(num_classes=10)
    assert torch.equal(model.layer4[0].conv1.weight, torch.load(official, weights_only=True)["layer4.0.conv1.weight"])


def test_without_the_file_and_without_internet_the_error_says_how_to_stage_it(torch_home, monkeypatch):
    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FileNotFoundError, match="download=True.*fetch-data resnet18-imagenet"):
        resnet18_imagenet(num_classes=10)  # nothing is downloaded unless asked
    with pytest.raises(FileNotFoundError, match="name resolution.*--from"):
        resnet18_imagenet(num_classes=10, download=True)
    assert not weights_path().exists()
    assert [p.name for p in weights_path().parent.iterdir()] == []  # no half-written file left


def test_download_checks_what_arrives_before_putting_it_in_place(official, torch_home, monkeypatch):
    def good(url, dst, hash_prefix=None, progress=True):
        assert url == pretrained.URL
        shutil.copyfile(official, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", good)
    outcome = download_weights()
    assert outcome.result == "fetched" and check_weights().state == "complete"
    assert download_weights().result == "present"

    weights_path().unlink()

    def truncated(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(b"half a file")

    monkeypatch.setattr(torch.hub, "download_url_to_file", truncated)
    outcome = download_weights()
    assert outcome.result == "failed" and "does not check out" in outcome.detail
    assert list(weights_path().parent.iterdir()) == []


# --- staging from a copy -----------------------------------------------------------------

@pytest.mark.parametrize("layout", ["file", "folder", "one-down", "torch-home", "tar.gz", "zip"])
def test_stage_weights_finds_the_file_in_every_usual_layout(official, torch_home, tmp_path, layout):
    stick = official.parent.parent  # stick/ holding course-data/resnet18-....pth
    if layout == "torch-home":
        home = tmp_path / "old-home"
        (home / "hub" / "checkpoints").mkdir(parents=True)
        shutil.copyfile(official, home / "hub" / "checkpoints" / FILE_NAME)
    source = {"file": official, "folder": official.parent, "one-down": stick, "torch-home": tmp_path / "old-home",
              "tar.gz": None, "zip": None}[layout]
    if source is None:
        source = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar" if layout == "tar.gz" else "zip",
                                          root_dir=stick))
    outcome = stage_weights(source)
    assert outcome.result == "fetched", outcome.detail
    assert check_weights().state == "complete"
    assert sorted(p.name for p in weights_path().parent.iterdir()) == [FILE_NAME]  # no temporary file left


def test_a_good_file_already_in_place_is_left_alone(official, torch_home):
    assert stage_weights(official).result == "fetched"
    stamp = weights_path().stat().st_mtime_ns
    assert stage_weights(official).result == "present"
    assert weights_path().stat().st_mtime_ns == stamp


def test_a_damaged_copy_installs_nothing_and_a_good_one_replaces_a_damaged_cache(official, torch_home, tmp_path):
    bad = tmp_path / "bad" / FILE_NAME
    bad.parent.mkdir()
    bad.write_bytes(official.read_bytes()[:-10])
    outcome = stage_weights(bad.parent)
    assert outcome.result == "failed" and "corrupt" in outcome.detail
    assert not weights_path().exists()
    weights_path().parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bad, weights_path())  # an interrupted download in the cache
    assert stage_weights(official).result == "fetched" and check_weights().state == "complete"


def test_a_copy_without_the_file_fails_when_asked_for_and_is_skipped_otherwise(tmp_path, torch_home):
    (tmp_path / "datasets-only").mkdir()
    assert stage_weights(tmp_path / "datasets-only").result == "failed"
    skipped = stage_weights(tmp_path / "datasets-only", required=False)
    assert skipped.result == "skipped" and "notebook 11 downloads it" in skipped.detail
    assert stage_weights(tmp_path / "nowhere").result == "failed"


def test_a_damaged_archive_installs_nothing(official, torch_home, tmp_path):
    archive = Path(shutil.make_archive(str(tmp_path / "course-data"), "gztar", root_dir=official.parent))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    outcome = stage_weights(cut)
    assert outcome.result == "failed" and "not a readable archive" in outcome.detail
    assert not weights_path().exists() and list(weights_path().parent.iterdir()) == []


# --- fetch-data and doctor ---------------------------------------------------------------

def test_fetch_data_installs_the_weights_from_a_stick_into_torchs_cache(official, torch_home, tmp_path, capsys):
    status = main(["fetch-data", "resnet18-imagenet", "--from", str(official.parent.parent),
                   "--to", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "resnet18_imagenet fetched" in " ".join(out.split()) and str(weights_path().parent) in out
    assert check_weights().state == "complete" and not (tmp_path / "data").exists()


def test_fetch_data_everything_from_a_copy_without_weights_skips_them_and_succeeds(synthetic_root, torch_home,
                                                                                   tmp_path, capsys):
    status = main(["fetch-data", "--from", str(synthetic_root), "--to", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "resnet18_imagenet skipped" in " ".join(out.split())


def test_fetch_data_downloads_the_weights_beside_the_datasets_being_staged(official, torch_home, tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, *a, **k: shutil.copyfile(official, dst))
    stick = tmp_path / "usb"
    assert main(["fetch-data", "resnet18-imagenet", "--to", str(stick)]) == 0
    assert check_weights(stick / FILE_NAME).state == "complete" and not weights_path().exists()
    capsys.readouterr()


def test_doctor_reports_the_weights_missing_present_and_damaged(official, torch_home, monkeypatch,
                                                                stand_in_weights, tmp_path):
    missing = check_imagenet_weights()
    assert missing.status == "warn" and "fetch-data resnet18-imagenet" in missing.fix
    stage_weights(official)
    assert check_imagenet_weights().status == "ok"
    weights_path().write_bytes(b"not weights")
    damaged = check_imagenet_weights()
    assert damaged.status == "FAIL" and "corrupt" in damaged.what and "--from" in damaged.fix
    monkeypatch.setenv("COURSE_RESNET18_WEIGHTS", str(stand_in_weights))
    assert check_imagenet_weights().status == "ok"
    monkeypatch.setenv("COURSE_RESNET18_WEIGHTS", str(evil_file(tmp_path / "evil.pth", tmp_path / "PWNED")))
    bad = check_imagenet_weights()
    assert bad.status == "FAIL" and "unset COURSE_RESNET18_WEIGHTS" in bad.fix
    assert not (tmp_path / "PWNED").exists()


def test_an_oversized_file_in_an_archive_is_refused_without_unpacking_the_rest(official, torch_home, tmp_path):
    import zipfile

    archive = tmp_path / "course-data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("course-data/notes.txt", "not the weights")
        z.writestr(f"course-data/{FILE_NAME}", official.read_bytes() + b"\0" * 3_000_000)  # padded past its size
    outcome = stage_weights(archive)
    assert outcome.result == "failed" and "does not check out" in outcome.detail
    assert list(weights_path().parent.iterdir()) == []  # no temporary file, nothing of the archive unpacked
