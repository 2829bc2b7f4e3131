"""bench/train_speed.py runs on the CPU and reports its figures in the promised format (not its speed)."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.data import SMOKE_TEST_SIZE

from fake_datasets import count_images

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "train_speed.py"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "speed.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--batch-size", "4", "--steps", "1",
         "--pipeline-images", "256", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_bench_prints_the_device_the_versions_each_figure_and_the_ratios(tiny_run):
    stdout, _ = tiny_run
    lines = stdout.splitlines()
    assert lines[0].startswith("device: cpu")
    assert any(line.startswith("torch: ") for line in lines)
    assert any(line.startswith("torchvision: ") for line in lines)
    for name in ("pil", "fast"):
        assert any(line.split()[:1] == [name] and "images/s" in line for line in lines), name
    assert "x pil)" in stdout
    for name in ("plain", "course_utils", "fast"):
        assert any(line.split()[:1] == [name] and "x plain)" in line for line in lines), name
    assert lines[-1].startswith("wrote ")


@pytest.mark.slow
def test_bench_json_has_the_documented_keys_and_positive_numbers(tiny_run):
    _, result = tiny_run
    assert result["device"].startswith("cpu")
    assert set(result["data_pipeline_images_per_s"]) == {"pil", "fast"}
    assert set(result["train_images_per_s"]) == {"plain", "course_utils", "fast"}
    figures = [*result["data_pipeline_images_per_s"].values(), *result["train_images_per_s"].values(),
               *result["ratios"].values()]
    assert all(isinstance(v, float) and v > 0 for v in figures)
    assert {"torch", "torchvision", "python"} <= set(result["versions"])
    assert result["settings"]["batch_size"] == 4 and result["settings"]["steps"] == 1
    assert result["command"].startswith("python bench/train_speed.py --quick")


def test_bench_help_documents_quick_and_json():
    run = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--quick" in run.stdout and "--json" in run.stdout


@pytest.mark.slow
def test_sample_accuracy_trains_both_paths_on_cifar10_and_reports_them(tmp_path, cifar_root):
    out = tmp_path / "accuracy.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "sample_accuracy.py"), "--model", "cifar_resnet20",
         "--epochs", "1", "--batch-size", "32", "--subset", "64", "--allow-partial", "--no-download",
         "--no-progress", "--json", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COURSE_DEVICE": "cpu"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("device: cpu")
    report = json.loads(out.read_text())
    for path in ("standard", "fast"):
        r = report[path]
        assert r["test_images"] == 64 and len(r["history"]["epoch"]) == 1
        assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["test_accuracy_tta"] <= 1 and r["train_seconds"] > 0
        assert f"{path:>8}: test accuracy" in run.stdout


def _smoke_bench(script: str, *args: str, tmp_path: Path) -> tuple[str, dict]:
    """Run ``bench/script`` in smoke mode on the test's data (COURSE_DATA_DIR); its stdout and its JSON report."""
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(SCRIPT.parent / script), *args, "--json", str(out)],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "COURSE_DEVICE": "cpu", "COURSE_SMOKE": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_mnist_variants_chooses_on_validation_and_tables_mean_and_spread(tmp_path, mnist_root):
    stdout, report = _smoke_bench("mnist_variants.py", "--epochs", "2", "--seeds", "0", "1", "--val", "300",
                                  "--variants", "0", "2", tmp_path=tmp_path)
    assert stdout.startswith("device: cpu") and "date: " in stdout and "scale: MNIST, 5,000" not in stdout
    runs = report["results"]["ReLU and batch norm inside the block"]
    assert [r["seed"] for r in runs] == [0, 1]
    for r in runs:
        assert r["sizes"] == [512, 128, 256]  # smoke mode keeps a validation split too
        val = r["history"]["val_acc"]
        assert r["chosen_epoch"] == 1 + val.index(max(val)) and r["val_acc"] == max(val)
        assert all(t is None or t != t for t in r["history"]["test_acc"])  # test not seen while training
    assert "| ReLU and batch norm inside the block | " in report["markdown"] and " ± " in report["markdown"]
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "mnist_variants.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout and table.stdout.startswith("device: cpu")


@pytest.mark.slow
def test_activation_study_trains_the_three_arms_and_gives_the_test_error_bar(tmp_path, cifar_root):
    stdout, report = _smoke_bench("activation_study.py", "--epochs", "1", "--seeds", "0", "--val", "100",
                                  "--allow-partial", tmp_path=tmp_path)
    assert set(report["results"]) == {"average-pools, no activation (linear)", "max-pools, no activation",
                                      "max-pools and ReLUs"}
    n_test = min(count_images(cifar_root, "cifar10")[1], SMOKE_TEST_SIZE)  # smoke mode keeps at most 256
    se = 100 * math.sqrt(0.25 / n_test)  # the largest standard error: an accuracy of 50%
    assert f"One accuracy on {n_test:,} test images has a standard error of up to {se:.1f} points" in report["markdown"]
    assert stdout.startswith("device: cpu")


@pytest.mark.slow
def test_degradation_study_reports_each_network_per_seed(tmp_path, mnist_root):
    _, report = _smoke_bench("degradation_study.py", "--steps", "6", "--seeds", "0", "1", tmp_path=tmp_path)
    assert {name: len(v) for name, v in report["final_loss"].items()} == {
        "plain, 8 layers": 2, "plain, 32 layers": 2, "residual, 32 layers": 2}
    assert "| plain, 32 layers | " in report["markdown"] and report["scale"].startswith("MNIST")
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "degradation_study.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout


@pytest.mark.slow
def test_cifar_degradation_trains_the_papers_four_networks_and_tables_them(tmp_path, cifar_root):
    _, report = _smoke_bench("cifar_degradation.py", "--steps", "2", "--seeds", "0", "--val-size", "64",
                             tmp_path=tmp_path)
    assert list(report["results"]) == ["plain-20", "plain-56", "ResNet-20", "ResNet-56"]
    for runs in report["results"].values():
        (run,) = runs
        assert len(run["losses"]) == 2 and all(math.isfinite(v) for v in run["losses"]) and 0 <= run["val_acc"] <= 1
    assert report["scale"].startswith("CIFAR-10") and "2 steps of 128" in report["scale"]
    assert "| plain-56 | " in report["markdown"] and "training loss, steps 1-2 |" in report["markdown"]
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "cifar_degradation.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout


@pytest.mark.slow
def test_lesion_study_deletes_every_removable_block_and_tables_branch_sizes(tmp_path, cifar_root):
    _, report = _smoke_bench("lesion_study.py", "--epochs", "1", "--seeds", "0", "1", "--val-size", "64",
                             tmp_path=tmp_path)
    resnet, plain = report["results"]["ResNet-20"], report["results"]["plain-20"]
    assert [r["seed"] for r in resnet] == [0, 1] and len(plain) == 2
    assert len(resnet[0]["lesioned"]) == 9 and len(plain[0]["lesioned"]) == 7  # plain: shape-keeping blocks only
    assert all(0 <= v <= 1 for r in resnet + plain for v in r["lesioned"].values())
    assert list(resnet[0]["ratios_trained"]) == list(resnet[0]["lesioned"]) and not plain[0]["ratios_trained"]
    assert "| ResNet-20 | " in report["markdown"] and "| layer3.2 | " in report["markdown"] and " ± " in report["markdown"]
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "lesion_study.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout


@pytest.mark.slow
def test_transfer_study_trains_the_four_regimes_and_gives_accuracies_only_for_imagenets_weights(
        tmp_path, cifar_root, stand_in_weights):
    stdout, report = _smoke_bench("transfer_study.py", "--weights", str(stand_in_weights), "--size", "32",
                                  "--epochs", "1", "--per-class", "3", "--val-size", "60", "--test-size", "50",
                                  "--seeds", "0", "1", tmp_path=tmp_path)
    assert "not torchvision's file" in stdout and report["weights"]["official"] is False
    runs = report["results"]
    assert list(runs) == ["frozen backbone, fc learns", "layer4 and fc learn", "all learn, from ImageNet",
                          "all learn, from scratch"]
    assert [r["trainable"] for r in (v[0] for v in runs.values())] == [5_130, 8_398_858, 11_181_642, 11_181_642]
    assert all(len(v) == 2 and v[0]["sizes"] == [30, 60, 50] and v[0]["s_per_epoch"] > 0 for v in runs.values())
    assert "| layer4 and fc learn | 8,398,858 | " in report["markdown"]
    assert "not ImageNet's weights" in report["markdown"] and "%" not in report["markdown"].split("\n")[2]
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "transfer_study.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout
    official = {**report, "weights": {**report["weights"], "official": True}}
    assert "not ImageNet" not in _bench_module("transfer_study").markdown(official)


def test_cifar_degradation_table_gives_the_loss_at_chosen_steps_with_the_spread_over_seeds():
    module = _bench_module("cifar_degradation")
    runs = [{"losses": [2.0] * 16 + [1.0] * 4 + [0.5] * 20, "val_acc": 0.4},
            {"losses": [2.0] * 16 + [3.0] * 4 + [0.5] * 20, "val_acc": 0.6}]
    table = module.markdown({"plain-20": runs, "plain-56": []}, 40, at=[20, 2, 40])  # 2 and 40: no extra column
    header, _, row = table.splitlines()
    assert header == ("| network | training loss, steps 17-20 | training loss, steps 37-40 | "
                      "validation accuracy, % (at step 40) | seeds |")
    assert row == "| plain-20 | 2.000 ± 1.414 | 0.500 ± 0.000 | 50.0 ± 14.1 | 2 |"


@pytest.mark.slow
def test_d2l_fashion_compares_the_loops_and_tests_the_chosen_epoch_once(tmp_path, fashion_root):
    pytest.importorskip("d2l")
    stdout, report = _smoke_bench("d2l_fashion.py", "--compare-batches", "5", "--compare-batch-size", "4",
                                  "--epochs", "2", "--val", "100", tmp_path=tmp_path)
    loops = report["loops"]
    assert loops["images"] == 20 and loops["largest_weight_difference"] < 1e-4
    assert abs(loops["d2l_loss"] - loops["fit_loss"]) < 5e-3  # d2l prints three decimals
    (run,) = report["results"]["0.17 recipe"]
    val = run["history"]["val_acc"]
    n_test = min(count_images(fashion_root, "fashion_mnist")[1], SMOKE_TEST_SIZE)  # smoke mode keeps at most 256
    assert run["sizes"] == [512, 100, n_test] and run["chosen_epoch"] == 1 + val.index(max(val))
    assert all(t is None or t != t for t in run["history"]["test_acc"])  # test not seen while training
    assert f"| 0 | 512 / 100 / {n_test} | 2 |" in report["markdown"] and stdout.startswith("device: cpu")
    table = subprocess.run([sys.executable, str(SCRIPT.parent / "d2l_fashion.py"), "--table",
                            str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and report["markdown"] in table.stdout


def test_d2l_fashion_refuses_fewer_than_five_batches_for_train_ch6():
    run = subprocess.run([sys.executable, str(SCRIPT.parent / "d2l_fashion.py"), "--compare-batches", "4"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--compare-batches must be 5 or more" in run.stderr


ROOT = SCRIPT.parent.parent
#: Each committed report of bench/results and the notebook whose table it regenerates.
MEASURED_TABLES = {
    "activation_study.json": "02_cifar10_sequential_cnn.ipynb",
    "degradation_study.json": "03_residual_blocks.ipynb",
    "cifar_degradation.json": "05_cifar_degradation.ipynb",
    "cifar_degradation_long.json": "05_cifar_degradation.ipynb",
    "lesion_study.json": "10_visualizing_residual_connections.ipynb",
    "mnist_variants.json": "08_mnist_resnet.ipynb",
}


def _markdown_text(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                     if c["cell_type"] == "markdown")


@pytest.mark.parametrize("report_name", sorted(MEASURED_TABLES))
def test_notebook_table_is_the_committed_report_of_its_script(report_name):
    """A table in a notebook is what its bench script wrote: every row, with its date."""
    report = json.loads((ROOT / "bench" / "results" / report_name).read_text())
    text = _markdown_text(ROOT / "notebooks" / MEASURED_TABLES[report_name])
    rows = [line for line in report["markdown"].splitlines() if line.startswith("| ")]
    assert len(rows) >= 4 and not [row for row in rows if row not in text], (
        f"re-paste the table of bench/results/{report_name} (--table prints it) into the notebook")
    assert report["date"] in text


def test_d2l_figures_in_notebook_06_and_readme_are_the_committed_report():
    report = json.loads((ROOT / "bench" / "results" / "d2l_fashion.json").read_text())
    loops, (run,) = report["loops"], report["results"]["0.17 recipe"]
    notebook = _markdown_text(ROOT / "notebooks" / "09_fashion_mnist_resnet18_d2l.ipynb")
    readme = (ROOT / "README.md").read_text()
    for text in (notebook, readme):
        assert f"{loops['fit_loss']:.3f}" in text and f"{run['test_acc']:.3f}" in text
        assert f"{run['last_train_acc']:.3f}" in text
    assert f"{loops['d2l_printed_examples_per_s']:.1f} examples/sec" in notebook


def _bench_module(name: str):
    """A script of bench/, loaded from its file with bench/ importable (its scripts import each other)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def _bench_report_module():
    """bench/report.py, loaded from its file (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_report", SCRIPT.parent / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("report_name", ["activation_study.json", "mnist_variants.json"])
def test_readme_gives_the_committed_means_of_each_study(report_name):
    mean_sd = _bench_report_module().mean_sd  # the figure as the study's own table writes it
    report = json.loads((ROOT / "bench" / "results" / report_name).read_text())
    readme = (ROOT / "README.md").read_text()
    for runs in report["results"].values():
        assert f"{mean_sd([r['test_acc'] for r in runs])}%" in readme
    assert f"`bench/{report_name.replace('.json', '.py')}`" in readme and report["date"] in readme


def test_readme_gives_the_committed_times_of_the_transfer_study():
    mean_sd = _bench_report_module().mean_sd
    report = json.loads((ROOT / "bench" / "results" / "transfer_study.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert len(report["results"]) == 4 and all(len(runs) == 3 for runs in report["results"].values())
    for runs in report["results"].values():
        assert f"{mean_sd([r['s_per_epoch'] for r in runs], 1)} s" in readme
    assert not report["weights"]["official"] and "state dict of the same shapes" in readme
    assert "`bench/transfer_study.py`, " + report["date"] in readme
