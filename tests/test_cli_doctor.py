"""``python -m course_utils doctor`` on a healthy machine and on broken ones.

Broken machines are made for real: a PATH without ``dot``, an empty data
folder, a damaged copy of a partial dataset folder (the tests' synthetic
datasets, in the real formats) in tmp_path, a broken torchvision package put
first on PYTHONPATH.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import types
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from course_utils.cli import main
from course_utils.commands import doctor
from course_utils.config import REPO_ROOT
from course_utils.datasets import ON_DISK

from fake_datasets import count_images

FOLDER = {name: disk.folder for name, disk in ON_DISK.items()}


@pytest.fixture
def sample(synthetic_root, monkeypatch) -> Path:
    """The data folder (COURSE_DATA_DIR): a partial copy of all three datasets, as the course's samples
    are, whatever is staged here."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(synthetic_root))
    return synthetic_root


@pytest.fixture
def smoke(monkeypatch):
    """Smoke mode, in which the partial sample data is all a notebook needs."""
    monkeypatch.setenv("COURSE_SMOKE", "1")


@pytest.fixture
def needs_dot():
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here (apt-get install graphviz)")


def run_doctor(capsys, *args: str) -> tuple[int, str]:
    status = main(["doctor", *args])
    return status, capsys.readouterr().out


def line_with(out: str, text: str) -> str:
    return next(line for line in out.splitlines() if text in line)


def fix_after(out: str, text: str) -> str:
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if text in line)
    assert lines[i + 1].strip().startswith("fix:"), f"no fix line after {lines[i]!r}"
    return lines[i + 1].strip()


def test_healthy_machine_passes_and_says_what_it_found(sample, smoke, needs_dot, capsys):
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 0, out
    assert "All is well" in out and "FAIL" not in out
    assert line_with(out, "Python").lstrip().startswith("ok")
    assert "torch " in out and "torchvision " in out
    assert line_with(out, "Graphviz").lstrip().startswith("ok")
    assert line_with(out, "packages the notebooks use import").lstrip().startswith("ok")
    for name in ("mnist", "fashion_mnist", "cifar10"):
        line = line_with(out, f"{name}:")
        assert line.lstrip().startswith("warn")
        assert "partial sample: fine for smoke mode, download the full set for real runs" in line
        assert fix_after(out, f"{name}:") == f"fix: python -m course_utils fetch-data {name}"
    if not torch.cuda.is_available():
        assert "CPU only" in out and "smoke mode" in out and "GFLOP/s" in out


def test_entry_point_exit_status_is_zero_when_all_is_well(sample, needs_dot):
    result = subprocess.run([sys.executable, "-m", "course_utils", "doctor", "--data-dir", str(sample)],
                            capture_output=True, text=True, timeout=180, cwd=REPO_ROOT,
                            env={**os.environ, "COURSE_SMOKE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All is well" in result.stdout


def test_partial_sample_fails_outside_smoke_mode_with_the_fetch_data_fix(sample, capsys):
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1
    for name in ("mnist", "fashion_mnist", "cifar10"):
        line = line_with(out, f"{name}:")
        assert line.lstrip().startswith("FAIL") and "partial sample" in line and "COURSE_SMOKE=1" in line
        assert fix_after(out, f"{name}:") == f"fix: python -m course_utils fetch-data {name}"
    assert "All is well" not in out


def test_fix_lines_fetch_into_the_data_folder_that_was_checked(tmp_path, capsys):
    folder = tmp_path / "class data"  # not the default data folder, and with a space
    status, out = run_doctor(capsys, "--data-dir", str(folder))
    assert status == 1
    assert fix_after(out, "data folder").startswith(
        f"fix: python -m course_utils fetch-data --to {shlex.quote(str(folder))}   (offline:")
    folder.mkdir()
    status, out = run_doctor(capsys, "--data-dir", str(folder))
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert fix_after(out, f"{name}:").startswith(
            f"fix: python -m course_utils fetch-data {name} --to {shlex.quote(str(folder))}   (offline:")


def test_data_path_that_is_a_file_is_reported_as_a_file(tmp_path, capsys):
    (tmp_path / "data.zip").write_bytes(b"PK")
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path / "data.zip"))
    assert status == 1
    assert line_with(out, "data folder").lstrip().startswith("FAIL")
    assert "is a file, not a folder" in line_with(out, "data folder")
    assert fix_after(out, "data folder") == "fix: pass --data-dir the folder that holds the datasets, not a file"


def test_missing_torchvision_is_a_fail_line_with_the_pip_command(sample, smoke, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` now fails
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1
    assert line_with(out, "torchvision").lstrip().startswith("FAIL  torchvision is not installed")
    assert fix_after(out, "torchvision is not installed") == (
        'fix: python -m pip install -U "torch>=2.4" "torchvision>=0.19"')
    assert "datasets not checked: that needs torchvision" in out


def doctor_with_broken(package: str, tmp_path) -> subprocess.CompletedProcess:
    """``python -m course_utils doctor`` in a fresh process where ``import package`` fails."""
    broken = tmp_path / "site" / package
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(f'raise ImportError("simulated: a broken {package}")\n')
    env = {**os.environ, "PYTHONPATH": str(broken.parent), "COURSE_SMOKE": "1"}
    result = subprocess.run([sys.executable, "-m", "course_utils", "doctor"], capture_output=True,
                            text=True, timeout=180, cwd=tmp_path, env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 1
    return result


def test_broken_torchvision_is_reported_by_the_entry_point_not_a_traceback(tmp_path):
    out = doctor_with_broken("torchvision", tmp_path).stdout
    line = line_with(out, "torchvision does not import")
    assert line.lstrip().startswith("FAIL") and "simulated: a broken torchvision" in line
    assert fix_after(out, "torchvision does not import") == (
        'fix: python -m pip install -U "torch>=2.4" "torchvision>=0.19" --force-reinstall')


def test_broken_torch_is_reported_and_the_checks_that_need_it_are_skipped(tmp_path):
    out = doctor_with_broken("torch", tmp_path).stdout
    assert line_with(out, "torch does not import").lstrip().startswith("FAIL")
    assert "not checked: they need torch" in out


def write_full_idx(raw) -> None:
    """Full-size MNIST-format files in ``raw``: real headers, all-zero pixels, written sparse."""
    raw.mkdir(parents=True)
    for split, n in (("train", 60_000), ("t10k", 10_000)):
        with open(raw / f"{split}-images-idx3-ubyte", "wb") as f:
            f.write(struct.pack(">4i", 2051, n, 28, 28))
            f.truncate(16 + n * 784)
        with open(raw / f"{split}-labels-idx1-ubyte", "wb") as f:
            f.write(struct.pack(">2i", 2049, n))
            f.truncate(8 + n)


def test_full_datasets_are_reported_complete(tmp_path, capsys):
    for name in ("mnist", "fashion_mnist"):
        write_full_idx(tmp_path / FOLDER[name] / "raw")
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path))
    for name in ("mnist", "fashion_mnist"):
        assert line_with(out, f"{name}:").split() [:3] == ["ok", f"{name}:", "complete,"]
        assert "60,000 training + 10,000 test images" in line_with(out, f"{name}:")


def test_a_full_copy_whose_downloaded_archive_is_damaged_is_corrupt(tmp_path, capsys):
    import gzip

    raw = tmp_path / FOLDER["mnist"] / "raw"
    write_full_idx(raw)
    # torchvision keeps the .gz it downloaded; this one is not the official file
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not the official download"))
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path))
    assert status == 1
    line = line_with(out, "mnist:")
    assert line.lstrip().startswith("FAIL") and "corrupt" in line
    assert "MNIST/raw/train-images-idx3-ubyte.gz does not match the MD5 sum of the official download" in out


def test_missing_dot_fails_with_the_install_command(sample, smoke, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot, no nvidia-smi
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1
    assert line_with(out, "Graphviz").lstrip().startswith("FAIL")
    assert "`dot` is not on the PATH" in out
    assert fix_after(out, "Graphviz") in ("fix: sudo apt-get install graphviz", "fix: brew install graphviz",
                                         "fix: conda install -c conda-forge graphviz",
                                         "fix: winget install graphviz   (then open a new terminal)")
    assert "1 problem(s)" in out


def test_empty_data_folder_fails_with_fetch_data_for_each_dataset(tmp_path, capsys):
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path))
    assert status == 1
    for name, folder in FOLDER.items():
        assert line_with(out, f"{name}:").lstrip().startswith("FAIL")
        assert f"missing: no {folder}/ folder" in out
        assert fix_after(out, f"{name}:").startswith(f"fix: python -m course_utils fetch-data {name}")
    assert "--from /path/to/staged/copy" in out


def test_data_folder_that_does_not_exist_fails(tmp_path, capsys):
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert status == 1 and "does not exist" in line_with(out, "data folder")
    assert fix_after(out, "data folder").startswith("fix: python -m course_utils fetch-data")


def test_corrupt_dataset_files_fail_and_say_which_file(sample, smoke, tmp_path, capsys):
    data = tmp_path / "data"
    for name in FOLDER:
        shutil.copytree(sample / FOLDER[name], data / FOLDER[name])
    images = data / "MNIST/raw/train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])  # a download cut short
    with open(data / "cifar-10-batches-py/data_batch_2", "r+b") as f:
        f.truncate(10_000)
    status, out = run_doctor(capsys, "--data-dir", str(data))
    assert status == 1
    mnist = line_with(out, "mnist:")
    assert mnist.lstrip().startswith("FAIL") and "corrupt" in mnist
    n_train, _ = count_images(sample, "mnist")
    assert f"MNIST/raw/train-images-idx3-ubyte is damaged: its header promises {n_train:,} items" in mnist
    assert "cifar-10-batches-py/data_batch_2 is damaged" in line_with(out, "cifar10:")
    assert line_with(out, "fashion_mnist:").lstrip().startswith("warn")
    assert fix_after(out, "mnist:").startswith("fix: python -m course_utils fetch-data mnist")
    assert "2 problem(s)" in out


def test_package_that_does_not_import_fails_with_pip_command(sample, monkeypatch, capsys):
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["no_such_package_for_the_course"])
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1
    assert "package no_such_package_for_the_course does not import (ModuleNotFoundError" in out
    assert fix_after(out, "no_such_package") == "fix: python -m pip install no_such_package_for_the_course"


def test_nearly_full_disk_fails(sample, monkeypatch, capsys):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(10**11, 10**11 - 2 * 10**8, 2 * 10**8))
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1 and line_with(out, "disk:").lstrip().startswith("FAIL")
    assert "0.2 GB free" in out and "COURSE_DATA_DIR" in fix_after(out, "disk:")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_fails_and_says_to_unset_course_device(sample, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    status, out = run_doctor(capsys, "--data-dir", str(sample))
    assert status == 1 and "PyTorch sees no CUDA GPU" in line_with(out, "device:")
    assert fix_after(out, "device:") == "fix: unset COURSE_DEVICE"


def test_gpu_speed_verdict_against_a_t4_class_threshold():
    fast = doctor.speed_verdict("NVIDIA A100, 40 GiB", 180.0, "bfloat16")
    slow = doctor.speed_verdict("NVIDIA GeForce GTX 1050, 2 GiB", 1.8, "float16")
    assert fast.status == "ok" and "fast enough for the notebooks' default settings" in fast.what
    assert slow.status == "warn" and 'RUN = "short"' in slow.what and "slower than a Colab T4" in slow.what


def test_cuda_gpu_is_named_and_timed_in_the_dtype_training_uses(monkeypatch):
    from types import SimpleNamespace

    import course_utils.config
    import course_utils.fast

    monkeypatch.setattr(course_utils.config, "get_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30))
    monkeypatch.setattr(course_utils.fast, "autocast_dtype", lambda device: torch.float16)
    timed = []
    monkeypatch.setattr(doctor, "matmul_tflops", lambda device, dtype: timed.append(dtype) or 22.0)
    check = doctor.check_device()
    assert timed == [torch.float16]
    assert check.status == "ok" and check.what.startswith("device: Tesla T4, 15 GiB, 22.0 TFLOP/s (float16")


def test_matmul_benchmark_measures_a_plausible_speed_quickly():
    tflops = doctor.matmul_tflops(torch.device("cpu"), torch.float32, seconds=0.05)
    assert 1e-4 < tflops < 100  # 0.1 GFLOP/s to 100 TFLOP/s


def test_notebook_imports_finds_third_party_modules_and_skips_magics(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%pip install -q foo\nimport os, numpy as np\n"
                                          "from matplotlib import pyplot\nfrom course_utils import pick\n"
                                          "from . import relative"),
                nbformat.v4.new_code_cell("this is not python(")]
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    assert doctor.notebook_imports(tmp_path) == ["numpy", "matplotlib"]


def test_the_command_line_imports_only_the_chosen_command():
    code = ("import sys; from course_utils.cli import build_parser; build_parser('doctor'); "
            "print(sorted(m for m in sys.modules if m.startswith('course_utils.commands.')), "
            "'nbformat' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["['course_utils.commands.doctor']", "False"], result.stderr


def test_every_command_has_help(capsys):
    for command in ("doctor", "fetch-data", "student-copy", "train"):
        with pytest.raises(SystemExit) as exit:
            main([command, "--help"])
        assert exit.value.code == 0
        assert f"usage: python -m course_utils {command}" in capsys.readouterr().out


# --- doctor always prints its report ------------------------------------------------

def as_ordinary_user() -> list[str]:
    """A command prefix under which file permissions bind, or skip saying why there is none.

    An ordinary user needs nothing. Root ignores ``chmod`` through two capabilities
    (DAC_OVERRIDE, DAC_READ_SEARCH); ``setpriv`` starts the command without them,
    still as root, so that the Python installation in root's home stays readable.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("runs as root and cannot drop root's override of file permissions "
                    "(setpriv, from util-linux, is not installed)")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "pass"], capture_output=True)
    if probe.returncode != 0:  # a container without CAP_SETPCAP
        pytest.skip(f"runs as root and cannot drop root's override of file permissions: {probe.stderr[-200:]!r}")
    return prefix


@pytest.mark.parametrize("unreadable", ["data folder", "dataset folder", "raw folder", "batch file"])
def test_doctor_prints_its_whole_report_when_a_folder_or_file_cannot_be_read(sample, tmp_path, unreadable):
    prefix = as_ordinary_user()
    root = tmp_path / "data"
    for name in ("mnist", "cifar10"):
        shutil.copytree(sample / FOLDER[name], root / FOLDER[name])
    locked = {"data folder": root, "dataset folder": root / "MNIST", "raw folder": root / "MNIST" / "raw",
              "batch file": root / FOLDER["cifar10"] / "data_batch_1"}[unreadable]
    locked.chmod(0)
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "course_utils", "doctor", "--data-dir", str(root)],
                                capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    out = result.stdout
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "problem(s): run the fix lines above" in out  # the report was printed to its end
    assert "packages the notebooks use import" in out
    failing = line_with(out, "cannot be read" if unreadable == "data folder" else
                        ("cifar10:" if unreadable == "batch file" else "mnist:"))
    assert "FAIL" in failing and ("permission" in failing or "unreadable" in failing)
    assert "chmod -R u+rX" in fix_after(out, failing)


@pytest.mark.parametrize("device", ["meta", "xla", "tpu", "gpu"])
def test_doctor_fails_an_unusual_course_device_with_its_fix_and_prints_the_rest(capsys, monkeypatch, device):
    monkeypatch.setenv("COURSE_DEVICE", device)
    status, out = run_doctor(capsys)
    line = line_with(out, "device:")
    assert status == 1 and "FAIL" in line and repr(device) in line and "cuda, mps, cpu" in line
    assert "Apple" not in line
    assert fix_after(out, "device:") == "fix: unset COURSE_DEVICE"
    assert "packages the notebooks use import" in out


def test_a_check_that_crashes_becomes_a_fail_line_not_a_traceback(capsys, monkeypatch):
    def broken():
        raise OSError(5, "Input/output error", "/dev/sdb1")
    monkeypatch.setattr(doctor, "check_dot", broken)
    status, out = run_doctor(capsys)
    assert status == 1 and "FAIL  Graphviz: the check stopped with OSError" in out
    assert "packages the notebooks use import" in out


# --- on Colab every fix is typed into a cell -------------------------------------------

@pytest.fixture
def on_colab(monkeypatch):
    """A Colab runtime, as ``course_utils.colab.on_colab`` sees one: ``google.colab`` is importable."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def not_installed(monkeypatch) -> None:
    """course_utils imports (from this folder) but pip has no record of it."""
    version = importlib.metadata.version

    def fake(name):
        if name.replace("-", "_") == "course_utils":
            raise importlib.metadata.PackageNotFoundError(name)
        return version(name)
    monkeypatch.setattr(importlib.metadata, "version", fake)


def break_machine(case: str, tmp_path, monkeypatch, request) -> list[str]:
    """Make ``case`` go wrong for real (or by a monkeypatch where it cannot); doctor's arguments."""
    empty = tmp_path / "data"
    empty.mkdir()
    if case == "partial datasets":
        return ["--data-dir", str(request.getfixturevalue("sample"))]
    usage = namedtuple("usage", "total used free")
    breaks = {
        "no dot": lambda: monkeypatch.setattr("course_utils.viz.has_dot", lambda: False),
        "a package that does not import": lambda: monkeypatch.setattr(
            doctor, "PACKAGES", doctor.PACKAGES + ["no_such_package_for_the_course"]),
        "no torchvision": lambda: monkeypatch.setitem(sys.modules, "torchvision", None),
        "course_utils not installed": lambda: not_installed(monkeypatch),
        "a COURSE_DEVICE that is not there": lambda: monkeypatch.setenv("COURSE_DEVICE", "tpu"),
        "a full disk": lambda: monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: usage(10**11, 0, 10**8)),
    }
    breaks.get(case, lambda: None)()  # "empty data folder": nothing more
    return ["--data-dir", str(empty)]


CASES = ["empty data folder", "partial datasets", "no dot", "a package that does not import",
         "no torchvision", "course_utils not installed", "a COURSE_DEVICE that is not there", "a full disk"]
#: A command typed as in a terminal: not after a ``!`` or ``%`` (and not inside a word).
TERMINAL_COMMAND = re.compile(r"(?<![!%\w-])(python3? -m |pip install|export |unset |sudo |chmod |apt-get )")


def fix_lines(out: str) -> list[str]:
    return [line.strip().removeprefix("fix: ") for line in out.splitlines() if line.strip().startswith("fix:")]


@pytest.mark.parametrize("case", CASES)
def test_on_colab_every_fix_is_typed_into_a_cell(case, on_colab, tmp_path, monkeypatch, request, capsys):
    status, out = run_doctor(capsys, *break_machine(case, tmp_path, monkeypatch, request))
    fixes = fix_lines(out)
    assert status == 1 and fixes, out
    for fix in fixes:
        assert not TERMINAL_COMMAND.search(fix), f"a terminal command in a Colab fix: {fix!r}"
        assert "pip install -e" not in fix and "export " not in fix
        assert re.search(r"(^|\s)[!%]\w", fix) or "Runtime > " in fix, f"nothing to type into a cell: {fix!r}"
    assert "`!python -m course_utils doctor` again" in out


def test_on_colab_the_fixes_read_as_cells(on_colab, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("course_utils.viz.has_dot", lambda: False)
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["no_such_package_for_the_course"])
    not_installed(monkeypatch)
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path))
    to = shlex.quote(str(tmp_path))
    assert fix_after(out, "mnist:") == (f"fix: !python -m course_utils fetch-data mnist --to {to}   "
                                        "(offline: add --from /path/to/staged/copy)")
    assert fix_after(out, "Graphviz") == "fix: !apt-get install -y graphviz"
    assert fix_after(out, "no_such_package") == (
        "fix: %pip install no_such_package_for_the_course   (then Runtime > Restart session)")
    assert fix_after(out, "course_utils runs from") == (
        '%pip install "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"'
        "   (then Runtime > Restart session)").join(["fix: ", ""])


@pytest.mark.parametrize("case", CASES)
def test_off_colab_every_fix_is_typed_into_a_terminal(case, tmp_path, monkeypatch, request, capsys):
    status, out = run_doctor(capsys, *break_machine(case, tmp_path, monkeypatch, request))
    fixes = fix_lines(out)
    assert status == 1 and fixes, out
    for fix in fixes:
        assert not fix.startswith(("!", "%")) and "%pip" not in fix and "%env" not in fix, fix
        assert "Runtime > " not in fix, fix
    assert "then `python -m course_utils doctor` again" in out


def test_in_a_checkout_doctor_installs_the_checkout_and_its_requirements(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["pandas_but_broken"])
    monkeypatch.setitem(doctor.PIP_NAMES, "pandas_but_broken", "pandas")  # a name requirements.txt lists
    not_installed(monkeypatch)
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path))
    assert fix_after(out, "course_utils runs from") == f"fix: python -m pip install -e {shlex.quote(str(REPO_ROOT))}"
    assert fix_after(out, "pandas_but_broken") == (  # its `-e .` is the folder pip runs in
        f"fix: cd {shlex.quote(str(REPO_ROOT))} && python -m pip install -r requirements.txt")


def test_in_a_checkout_a_package_of_the_course_s_extras_is_installed_through_requirements(monkeypatch, capsys):
    """requirements.txt says `-e .[test,lab]`: pytest, of the test extra, comes with it."""
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["pytest_but_broken", "unlisted_but_broken"])
    monkeypatch.setitem(doctor.PIP_NAMES, "pytest_but_broken", "PyTest")  # listed as pytest: one package
    status, out = run_doctor(capsys, "--data-dir", str(REPO_ROOT / "data"))
    assert fix_after(out, "pytest_but_broken") == (
        f"fix: cd {shlex.quote(str(REPO_ROOT))} && python -m pip install -r requirements.txt")
    assert fix_after(out, "unlisted_but_broken") == "fix: python -m pip install unlisted_but_broken"


def test_outside_a_checkout_no_fix_points_at_site_packages_or_requirements(tmp_path, monkeypatch, capsys):
    """Installed from a wheel: REPO_ROOT is site-packages, with no pyproject.toml and no notebooks."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "requirements.txt").write_text("pandas\n")  # someone else's: not the course's requirements
    monkeypatch.setattr("course_utils.config.REPO_ROOT", site)
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + ["pandas_but_broken"])
    monkeypatch.setitem(doctor.PIP_NAMES, "pandas_but_broken", "pandas")
    not_installed(monkeypatch)
    status, out = run_doctor(capsys, "--data-dir", str(tmp_path / "data"))
    fixes = fix_lines(out)
    assert status == 1 and fixes
    for fix in fixes:
        assert "site-packages" not in fix and "requirements.txt" not in fix and "pip install -e" not in fix, fix
    assert fix_after(out, "course_utils runs from") == (
        'fix: python -m pip install "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"')
    assert fix_after(out, "pandas_but_broken") == "fix: python -m pip install pandas"


class _Version(tuple):
    """A stand-in for sys.version_info: compares like a tuple, names its parts."""
    major, minor, micro = property(lambda v: v[0]), property(lambda v: v[1]), property(lambda v: v[2])


@pytest.mark.parametrize("version, status", [((3, 9, 18), "FAIL"), ((3, 10, 0), "ok"), ((3, 13, 0), "ok"),
                                             ((3, 14, 0), "warn")])
def test_doctor_accepts_the_python_versions_the_course_runs_on(monkeypatch, version, status):
    """3.13 is Colab's Python: fine; a newer one is only a warning."""
    monkeypatch.setattr(doctor.sys, "version_info", _Version((*version, "final", 0)))
    check = doctor.check_python()
    assert check.status == status, check
    assert f"Python {'.'.join(map(str, version))}" in check.what


def test_a_check_that_raises_an_error_without_a_file_name_still_gives_its_line():
    from course_utils.commands.doctor import guarded

    def broken():
        raise ImportError("simulated: a half-installed package")

    [line] = guarded("weights", broken)
    assert line.status == "FAIL" and "ImportError: simulated" in line.what and line.fix is None
