"""bench/gpu_report.py: one command that runs the GPU paths and writes what they measured, tested on the CPU."""
from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_report.py"


@pytest.fixture(scope="module")
def gpu_report():
    spec = importlib.util.spec_from_file_location("gpu_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_report_runs_each_part_and_writes_json_and_markdown(gpu_report, mnist_root, tmp_path):
    """torchrun (gloo here), the MNIST recipe and one notebook, at CPU size (about a minute)."""
    out = tmp_path / "report"
    report = gpu_report.main(["--quick", "--data", str(mnist_root), "--out", str(out),
                              "--parts", "torchrun", "mnist", "notebooks", "--notebooks", "notebooks/00_setup.ipynb"])
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["machine"]["torch"] and saved["machine"]["date"] and saved["machine"]["device"]
    for part in ("torchrun", "mnist"):
        result = saved["parts"][part]
        assert result["status"] == "ok", (part, result, (out / result["log"]).read_text()[-2000:])
        assert 0 <= result["test_accuracy"] <= 1 and result["epochs"] == 1
    assert saved["parts"]["notebooks"]["notebooks"] == [{"name": "00_setup.ipynb", "ok": True,
                                                         "seconds": saved["parts"]["notebooks"]["notebooks"][0]["seconds"]}]
    page = (out / "report.md").read_text()
    assert saved["machine"]["device"] in page and "| notebooks | ok |" in page and "1 of 1 ran" in page
    assert "| mnist | ok |" in page and "chosen on validation" in page


def test_a_part_that_fails_or_runs_too_long_is_recorded_with_its_error(gpu_report, tmp_path):
    fail = [[sys.executable, "-c", "import sys; print('cuda error: no kernel image'); sys.exit(3)"]]
    result = gpu_report.run_part("cifar", fail, {}, 30, tmp_path)
    assert result["status"] == "failed" and "no kernel image" in result["error"]
    slow = [[sys.executable, "-c", "import time; time.sleep(30)"]]
    result = gpu_report.run_part("mnist", slow, {}, 1, tmp_path)
    assert result["status"] == "timeout" and result["seconds"] < 20
    report = {"machine": {"date": "2026-12-06", "device": "NVIDIA H200", "driver": "570.1", "cuda": "12.8",
                          "torch": "2.11.0", "python": "3.12.3"}, "scale": "full", "parts": {"mnist": result}}
    page = gpu_report.markdown(report)
    assert "NVIDIA H200; driver 570.1, CUDA 12.8, torch 2.11.0" in page and "| mnist | timeout |" in page


def test_notebook_results_are_read_from_the_runners_lines(gpu_report, tmp_path):
    (tmp_path / "notebooks.log").write_text(
        "ok     00_setup.ipynb (12 s)\nFAILED 06_resnet18_training.ipynb (40 s)\n"
        "       RuntimeError: CUDA error: an illegal memory access\n1 of 2 notebooks ran top to bottom\n")
    found = gpu_report.figures("notebooks", tmp_path, tmp_path / "notebooks.log")
    assert found["notebooks"] == [{"name": "00_setup.ipynb", "ok": True, "seconds": 12},
                                  {"name": "06_resnet18_training.ipynb", "ok": False, "seconds": 40}]
    assert found["errors"] == ["RuntimeError: CUDA error: an illegal memory access"]
    summary = gpu_report._summary("notebooks", {"status": "ok", **found})
    assert summary == "1 of 2 ran; failed: 06_resnet18_training.ipynb"


def test_full_size_parts_are_the_recipes_of_the_notebooks(gpu_report, tmp_path):
    class Args:
        notebooks, cifar_epochs = None, 10

    cifar, = gpu_report.part_commands("cifar", False, tmp_path, Args)
    assert cifar[cifar.index("--model") + 1] == "resnet18" and "--fast" in cifar and "--subset" not in cifar
    mnist, = gpu_report.part_commands("mnist", False, tmp_path, Args)
    assert [mnist[mnist.index(flag) + 1] for flag in ("--optimizer", "--lr", "--batch-size", "--epochs", "--val")] == \
        ["adam", "0.001", "64", "10", "5000"]
    plain, compiled = gpu_report.part_commands("speed", False, tmp_path, Args)
    assert "--quick" not in plain and "--compile" in compiled
    notebooks, = gpu_report.part_commands("notebooks", False, tmp_path, Args)
    assert len([a for a in notebooks if a.endswith(".ipynb")]) == len(list((SCRIPT.parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    run, = gpu_report.part_commands("torchrun", False, tmp_path, Args)
    assert "torch.distributed.run" in run and "--nproc_per_node=1" in run


def test_staged_data_is_gzipped_and_unpacked_again_where_the_report_runs(gpu_report, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "MNIST" / "raw").mkdir(parents=True)
    (first / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03pixels")
    (second / "MNIST" / "raw").mkdir(parents=True)
    (second / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"not this one")
    (second / "cifar-10-batches-py").mkdir()
    (second / "cifar-10-batches-py" / "batches.meta").write_bytes(b"meta")
    gpu_report.stage_data(tmp_path / "stage", [first, second])
    staged = tmp_path / "stage" / "data"
    assert not (staged / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
    assert gzip.decompress((staged / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").read_bytes()) == \
        b"\x00\x00\x08\x03pixels"
    assert (staged / "cifar-10-batches-py" / "batches.meta").read_bytes() == b"meta"
    (tmp_path / "work").mkdir()
    ready = gpu_report.unpacked_data(staged, tmp_path / "work")
    assert (ready / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() == b"\x00\x00\x08\x03pixels"
    assert (staged / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()  # the staged copy is left alone
    assert gpu_report.unpacked_data(first, tmp_path / "work") == first  # nothing gzipped: read in place


def test_a_second_run_into_the_same_folder_keeps_the_first_runs_parts(gpu_report, tmp_path):
    path = tmp_path / "report.json"
    device = gpu_report.device_facts()["device"]
    path.write_text(json.dumps({"machine": {"device": device}, "scale": "full", "parts": {"speed": {"status": "ok"}}}))
    assert gpu_report.earlier_parts(path, quick=False) == {"speed": {"status": "ok"}}
    assert gpu_report.earlier_parts(path, quick=True) == {}  # another scale: not mixed
    path.write_text(json.dumps({"machine": {"device": "another GPU"}, "scale": "full", "parts": {"speed": {}}}))
    assert gpu_report.earlier_parts(path, quick=False) == {}
    assert gpu_report.earlier_parts(tmp_path / "none.json", quick=False) == {}


def test_the_report_names_a_missing_data_folder(gpu_report, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_report.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert "no datasets at" in capsys.readouterr().err
