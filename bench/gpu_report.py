"""One command that runs the course's GPU paths on this machine and writes what they measured.

From the repository root, on a machine with a GPU (8 to 12 minutes on one data-centre GPU)::

    python bench/gpu_report.py --data DIR --out gpu-report

and anywhere else, smaller (a few minutes on a laptop CPU)::

    python bench/gpu_report.py --quick --data DIR --out gpu-report

``DIR`` holds the datasets in torchvision's layouts (``MNIST/raw``, ``cifar-10-batches-py``,
``FashionMNIST/raw``); IDX files may be gzipped (``train-images-idx3-ubyte.gz``), as the full
MNIST travels best. The parts, in the order they run (``--parts`` picks some):

* ``speed``: ``bench/train_speed.py`` without and with ``--compile``: images per second of the
  plain loop, ``fit`` and the fast path, and of the two data pipelines;
* ``notebooks``: every notebook executed in smoke mode in a fresh folder (``.ci/run_notebooks.py``),
  pass or fail and the error of each that fails;
* ``torchrun``: ``python -m course_utils train`` under ``torchrun`` with one process (NCCL on a
  GPU, gloo on a CPU);
* ``cifar``: the fast path's recipe (ResNet-18, one-cycle SGD, augmentation, device-side loader,
  ``train --fast``) on the CIFAR-10 in ``DIR`` for ``--cifar-epochs`` epochs: time and the test
  accuracy of the epoch chosen on validation;
* ``mnist``: the MNIST ResNet's recipe (Adam 1e-3, batches of 64, 10 epochs) on the MNIST in
  ``DIR``: time and the test accuracy of the epoch chosen on validation.

Each part runs as its own process with its own time limit; one that fails or runs out of time is
recorded with its error, and the next one starts. ``OUT/report.json`` and ``OUT/report.md`` are
rewritten after every part, so a run cut short keeps what it measured, and a later run into the
same ``OUT`` on the same machine adds its parts to the earlier ones (run it in two calls where a
command may only run ten minutes). Both name the GPU, its driver, the CUDA and torch versions
and the date.

A machine without internet needs the data and the Python packages brought along; on a machine
with both, ``python bench/gpu_report.py --stage DIR`` copies the datasets (gzipping IDX files)
and downloads the wheels that ``--wheels DIR/wheels`` installs before the parts run.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("speed", "notebooks", "torchrun", "cifar", "mnist")
#: Seconds each part may take on a GPU at full size, and with --quick on a laptop CPU.
TIME_LIMITS = {"speed": 240, "notebooks": 420, "torchrun": 120, "cifar": 180, "mnist": 300}
QUICK_LIMITS = {"speed": 240, "notebooks": 1800, "torchrun": 180, "cifar": 240, "mnist": 180}
#: What the notebooks and course_utils import, beyond what a GPU image usually has (torch,
#: torchvision, numpy, matplotlib, tqdm, tensorboard): the wheels ``--stage`` downloads, with
#: what they need; the second group needs torch only, which must not come along (gigabytes).
WHEELS = ("nbclient", "nbformat", "ipykernel", "ipywidgets", "graphviz")
WHEELS_ON_TORCH = ("torchinfo", "torchviz")


def device_facts() -> dict[str, Any]:
    """The GPU (or CPU), its driver, CUDA, torch and Python versions, and the date."""
    import torch

    facts: dict[str, Any] = {"date": date.today().isoformat(), "python": platform.python_version(),
                             "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        facts["device"] = torch.cuda.get_device_name(0)
        facts["cuda"] = torch.version.cuda
        facts["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        facts["driver"] = _driver_version()
    else:
        facts["device"] = f"{platform.machine()} cpu, {os.cpu_count()} cores"
    return facts


def _driver_version() -> str | None:
    """The NVIDIA driver's version, as ``nvidia-smi`` reports it (None without nvidia-smi)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def unpacked_data(data: Path, work: Path) -> Path:
    """``data`` itself, or a copy in ``work`` with every gzipped IDX file unpacked next to it.

    torchvision reads MNIST's IDX files unpacked; the full MNIST travels gzipped (11 MB, not 55).
    """
    packed = sorted(data.rglob("*-ubyte.gz"))
    if not packed:
        return data
    copy = work / "data"
    shutil.copytree(data, copy, dirs_exist_ok=True)
    for path in sorted(copy.rglob("*-ubyte.gz")):
        target = path.with_suffix("")
        if not target.exists():
            with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        path.unlink()
    return copy


def part_commands(part: str, quick: bool, out: Path, args: argparse.Namespace) -> list[list[str]]:
    """The command lines one part runs, in order."""
    py = sys.executable
    if part == "speed":
        base = [py, "bench/train_speed.py", *(["--quick"] if quick else [])]
        return [base + ["--json", str(out / "speed.json")], base + ["--compile", "--json", str(out / "speed-compile.json")]]
    if part == "notebooks":
        notebooks = args.notebooks or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        return [[py, ".ci/run_notebooks.py", *notebooks]]
    train = [py, "-m", "course_utils", "train", "--no-download", "--allow-partial", "--no-tensorboard"]
    if part == "torchrun":
        run = [py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "course_utils", "train",
               "--no-download", "--no-tensorboard"]
        return [run + ["--model", "mnist_resnet", "--data", "mnist", "--epochs", "1", "--subset", "2000",
                       "--val", "500", "--out", str(out / "torchrun")]]
    if part == "cifar":
        epochs = "1" if quick else str(args.cifar_epochs)
        sizes = ["--subset", "512", "--batch-size", "64"] if quick else ["--batch-size", "512"]
        return [train + ["--model", "resnet18", "--data", "cifar10", "--fast", "--epochs", epochs, "--val", "500",
                         *sizes, "--out", str(out / "cifar")]]
    if part == "mnist":
        sizes = ["--epochs", "1", "--subset", "1000", "--val", "200"] if quick else ["--epochs", "10", "--val", "5000"]
        return [train + ["--model", "mnist_resnet", "--data", "mnist", "--optimizer", "adam", "--lr", "0.001",
                         "--batch-size", "64", *sizes, "--out", str(out / "mnist")]]
    raise ValueError(f"unknown part {part!r}: choose from {', '.join(PARTS)}")


def run_part(part: str, commands: list[list[str]], env: dict[str, str], limit: float, out: Path) -> dict[str, Any]:
    """Run one part's commands; its status, seconds, log file and figures."""
    result: dict[str, Any] = {"status": "ok", "commands": [" ".join(c) for c in commands]}
    log = out / f"{part}.log"
    start = time.perf_counter()
    with open(log, "w") as f:
        for command in commands:
            left = limit - (time.perf_counter() - start)
            try:
                done = subprocess.run(command, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                      timeout=max(left, 1))
            except subprocess.TimeoutExpired:
                result.update(status="timeout", error=f"stopped after {limit:.0f} s")
                break
            if done.returncode != 0:
                result.update(status="failed", error=_last_lines(log, 6))
                break
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["log"] = log.name
    result.update(figures(part, out, log))
    return result


def figures(part: str, out: Path, log: Path) -> dict[str, Any]:
    """What a part measured, read from the files and the log it wrote."""
    found: dict[str, Any] = {}
    if part == "speed":
        for name in ("speed", "speed-compile"):
            path = out / f"{name}.json"
            if path.exists():
                data = json.loads(path.read_text())
                found[name] = {"train_images_per_s": data["train_images_per_s"],
                               "data_pipeline_images_per_s": data["data_pipeline_images_per_s"],
                               "settings": data["settings"]}
    elif part == "notebooks":
        text = log.read_text() if log.exists() else ""
        found["notebooks"] = [{"name": m.group(2), "ok": m.group(1) == "ok", "seconds": int(m.group(3))}
                              for m in re.finditer(r"^(ok|FAILED)\s+(\S+\.ipynb) \((\d+) s\)", text, re.M)]
        found["errors"] = re.findall(r"^FAILED \S+ \(\d+ s\)\n\s+(.+)$", text, re.M)
    else:
        path = out / part / "history.json"
        if path.exists():
            data = json.loads(path.read_text())
            history = data.get("history", {})
            found.update(test_accuracy=data.get("test_accuracy"), chosen_epoch=data.get("chosen_epoch"),
                         epochs=len(history.get("train_loss", [])),
                         epoch_seconds=history.get("seconds"), images_per_s=history.get("examples_per_s"))
    return found


def _last_lines(path: Path, n: int) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def markdown(report: dict[str, Any]) -> str:
    """The report as a short Markdown page: the machine, then one line per part."""
    facts = report["machine"]
    lines = [f"# GPU report, {facts['date']}", "",
             f"{facts['device']}; driver {facts.get('driver') or '-'}, CUDA {facts.get('cuda') or '-'}, "
             f"torch {facts['torch']}, Python {facts['python']}; scale: {report['scale']}", "",
             "| part | status | seconds | figures |", "| --- | --- | --- | --- |"]
    for part, result in report["parts"].items():
        lines.append(f"| {part} | {result['status']} | {result['seconds']} | {_summary(part, result)} |")
    return "\n".join(lines) + "\n"


def _summary(part: str, result: dict[str, Any]) -> str:
    if result["status"] != "ok" and "error" in result:
        first = result["error"].splitlines()[-1] if result["error"] else ""
        return f"{result['status']}: {first}".replace("|", "/")
    if part == "speed":
        cells = []
        for name, data in ((n, result.get(n)) for n in ("speed", "speed-compile")):
            if data:
                train = data["train_images_per_s"]
                cells.append(f"{name}: plain {train['plain']:,.0f}, fit {train['course_utils']:,.0f}, "
                             f"fast {train['fast']:,.0f} images/s")
        return "; ".join(cells)
    if part == "notebooks":
        runs = result.get("notebooks", [])
        failed = [r["name"] for r in runs if not r["ok"]]
        return f"{len(runs) - len(failed)} of {len(runs)} ran" + (f"; failed: {', '.join(failed)}" if failed else "")
    accuracy = result.get("test_accuracy")
    return (f"test accuracy {accuracy:.2%} (epoch {result.get('chosen_epoch')} of {result.get('epochs')}, "
            f"chosen on validation)") if accuracy is not None else ""


def stage_data(folder: Path, sources: list[Path]) -> None:
    """Copy each dataset into ``folder/data`` from the first of ``sources`` that has it, IDX files gzipped."""
    target = folder / "data"
    for name in ("MNIST", "FashionMNIST", "cifar-10-batches-py"):
        found = next((data / name for data in sources if (data / name).exists()), None)
        if found is not None and not (target / name).exists():
            shutil.copytree(found, target / name)
    for path in sorted(target.rglob("*-ubyte")):
        with open(path, "rb") as src, gzip.open(path.with_name(path.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()


def download_wheels(folder: Path, python_version: str) -> None:
    """Download ``WHEELS`` (with what they need) and ``WHEELS_ON_TORCH`` for a Linux x86-64
    ``python_version`` into ``folder/wheels``."""
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder / "wheels"),
                "--only-binary=:all:", "--python-version", python_version,
                "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64"]
    subprocess.run([*download, *WHEELS], check=True)
    subprocess.run([*download, "--no-deps", *WHEELS_ON_TORCH], check=True)


def earlier_parts(path: Path, quick: bool) -> dict[str, Any]:
    """The parts an earlier run wrote into the same report at the same scale, to keep beside the new ones.

    So that the report can run in several calls (``--parts speed notebooks``, then the rest)
    where one command may only run for a few minutes.
    """
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    same_scale = earlier.get("scale") == ("quick (CPU-sized)" if quick else "full")
    same_machine = earlier.get("machine", {}).get("device") == device_facts()["device"]
    return earlier.get("parts", {}) if same_scale and same_machine else {}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-report"), help="where the report goes (default gpu-report)")
    parser.add_argument("--data", type=Path, action="append", default=None,
                        help="the datasets (default: COURSE_DATA_DIR); with --stage, give it once per folder to "
                             "copy from, the first that has a dataset wins")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a CPU (a few minutes)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--notebooks", nargs="+", metavar="PATH", help="only these notebooks (default: all)")
    parser.add_argument("--cifar-epochs", type=int, default=10, help="epochs of the fast-path recipe (default 10)")
    parser.add_argument("--wheels", type=Path, help="install these wheels first (pip --no-index), for a machine offline")
    parser.add_argument("--stage", type=Path, metavar="DIR", help="only copy the data and download the wheels into DIR")
    parser.add_argument("--python-version", default="3.12", help="of the GPU machine, for --stage (default 3.12)")
    args = parser.parse_args(argv)

    sources = args.data or [Path(os.environ.get("COURSE_DATA_DIR", "data"))]
    if args.stage:
        stage_data(args.stage, sources)
        download_wheels(args.stage, args.python_version)
        size = sum(p.stat().st_size for p in args.stage.rglob("*") if p.is_file()) / 2**20
        print(f"staged {size:.0f} MiB in {args.stage}: data/ and wheels/")
        return None
    data = sources[0]
    if len(sources) > 1:
        parser.error("give --data once: the folder the report reads (several are for --stage)")
    if not data.is_dir():
        parser.error(f"no datasets at {data}: give --data DIR (torchvision's layouts) or set COURSE_DATA_DIR")
    if args.wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
                        str(args.wheels), *WHEELS, *WHEELS_ON_TORCH], check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    with tempfile.TemporaryDirectory() as work:
        env = {key: value for key, value in os.environ.items() if key != "COURSE_SMOKE"}  # full size but notebooks
        env.update(COURSE_DATA_DIR=str(unpacked_data(data.resolve(), Path(work))),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        report = {"machine": device_facts(), "scale": "quick (CPU-sized)" if args.quick else "full",
                  "data": str(data), "parts": earlier_parts(out / "report.json", args.quick)}
        for part in args.parts:
            part_env = {**env, "COURSE_SMOKE": "1"} if part == "notebooks" else env
            limit = (QUICK_LIMITS if args.quick else TIME_LIMITS)[part]
            result = run_part(part, part_commands(part, args.quick, out, args), part_env, limit, out)
            report["parts"][part] = result
            print(f"{part}: {result['status']} in {result['seconds']} s  {_summary(part, result)}", flush=True)
            (out / "report.json").write_text(json.dumps(report, indent=1))
            (out / "report.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
