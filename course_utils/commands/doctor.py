"""``python -m course_utils doctor``: is this machine ready for the course?

One screen of checks (Python, torch, the device and its speed, Graphviz, the
datasets, ResNet-18's ImageNet weights, disk space, the notebooks' packages), each ``ok``, ``warn`` or
``FAIL``; every problem comes with the one command that fixes it, written
the way it is typed where the learner is (on Colab, in a cell: ``!command``,
``%pip install``, ``%env``; see ``course_utils.colab``). The exit status is 0
when nothing failed (warnings are fine), 1 otherwise.

torch, torchvision and the rest of ``course_utils`` are imported inside the
checks, not at the top: when one of them is missing or broken, doctor reports
it with its fix instead of crashing.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from course_utils.colab import (  # imports the standard library only
    DRIVE_FOLDER,
    DRIVE_MOUNT,
    course_requirement,
    env_fix,
    on_colab,
    pip_fix,
    shell_fix,
)

if TYPE_CHECKING:  # torch is imported where it is used: doctor still runs when torch is broken
    import torch

#: Matmul speed (TFLOP/s, in the dtype training uses) from which a GPU counts as T4-class,
#: fast enough for the notebooks' default settings in class. A T4 peaks at 65 TFLOP/s in
#: float16; large matmuls usually sustain about a third of that, less when it runs hot.
T4_CLASS_TFLOPS = 12.0
#: Free disk space: the three datasets and their downloads take about 0.7 GB.
NEED_GB, WANT_GB = 1.0, 3.0
#: Modules the notebooks import besides the standard library, torch and torchvision (those two
#: are checked first, with their versions); more are read from notebooks/.
PACKAGES = ["numpy", "matplotlib", "tqdm", "torchinfo", "torchviz", "graphviz",
            "ipywidgets", "tensorboard", "ipykernel"]
PIP_NAMES = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml", "d2l": "--no-deps d2l==1.0.3"}
#: pip's arguments for torch and torchvision together: they must come from the same release.
TORCH_PIP = '-U "torch>=2.4" "torchvision>=0.19"'


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ok, warn, FAIL or skip; ``fix`` the command that mends it."""

    status: str
    what: str
    fix: str | None = None


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "doctor",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
        help=help,
        description=(
            "Check Python, torch and torchvision, the device (CUDA, MPS or CPU) and whether it is "
            "fast enough for the notebooks' default settings, Graphviz's `dot`, the data folder "
            "and which datasets are complete, partial or corrupt, torchvision's ImageNet weights "
            "for ResNet-18 (notebook 11), free disk space, and whether "
            "course_utils and the notebooks' packages import. Each problem is printed with the "
            "command that fixes it. Exit status 0 when nothing failed, 1 otherwise. A partial "
            "sample of a dataset (such as the course's sample data) passes in smoke mode "
            "(COURSE_SMOKE=1) and fails otherwise."
        ),
    )
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="the data folder to check (default: COURSE_DATA_DIR, else data/)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("python -m course_utils doctor: is this machine ready for the course?\n")
    checks = [*guarded("Python", check_python), *guarded("torch", check_torch)]
    if _import_error("torch") is None:  # every other check needs torch (course_utils.config does)
        from course_utils.config import data_dir, is_smoke
        root = (args.data_dir or data_dir()).expanduser().resolve()
        checks += [*guarded("device", check_device), *guarded("Graphviz", check_dot),
                   *guarded("data", check_data, root, smoke=is_smoke()),
                   *guarded("weights", check_imagenet_weights),
                   *guarded("disk", check_disk, root), *guarded("packages", check_packages)]
    else:
        checks.append(Check("skip", "device, Graphviz, data, disk and packages not checked: they "
                            "need torch; fix it, then run doctor again"))
    for c in checks:
        print(f"  {c.status:<5} {c.what}")
        if c.fix:
            print(f"        fix: {c.fix}")
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if failed:
        again = shell_fix("python -m course_utils doctor")
        print(f"\n{failed} problem(s): run the fix lines above, then `{again}` again.")
        return 1
    print("\nAll is well" + (f" ({warned} warning(s) above: worth reading)." if warned else "."))
    return 0


def guarded(what: str, check, *args, **kwargs) -> list[Check]:
    """Run one check; if it raises, a FAIL line saying so, so that the report is always printed.

    Each check handles the problems it knows; this catches the rest (an
    unreadable folder, a broken driver), because a doctor that crashes tells
    the learner nothing.
    """
    try:
        result = check(*args, **kwargs)
    except Exception as err:  # anything: the report must still be printed
        first_line = (str(err).strip().splitlines() or [""])[0]
        filename = getattr(err, "filename", None)  # OSErrors carry one; an ImportError does not
        chmod = shell_fix(f"chmod -R u+rX {shlex.quote(str(filename))}")
        fix = (f"give yourself read permission ({chmod}), or ask the folder's owner to"
               if isinstance(err, PermissionError) and filename else None)
        return [Check("FAIL", f"{what}: the check stopped with {type(err).__name__}: {first_line}", fix)]
    return result if isinstance(result, list) else [result]


def check_python() -> Check:
    v = sys.version_info
    what = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 10):
        fix = ("Runtime > Change runtime type > Runtime version: Latest" if on_colab() else
               "install Python 3.11, then: python3.11 -m venv .venv && source .venv/bin/activate")
        return Check("FAIL", what + ": the course needs 3.10 to 3.13", fix)
    if v >= (3, 14):
        return Check("warn", what + ": newer than the course is tested on (3.10 to 3.13)")
    return Check("ok", what)


def check_torch() -> Check:
    """torch and torchvision import, and are recent enough."""
    for module in ("torch", "torchvision"):
        why = _import_error(module)
        if why is None:
            continue
        if importlib.util.find_spec(module) is None:
            return Check("FAIL", f"{module} is not installed", pip_fix(TORCH_PIP))
        # installed but broken: a half-finished install, or torch and torchvision from different releases
        return Check("FAIL", f"{module} does not import ({why})", pip_fix(TORCH_PIP + " --force-reinstall"))
    import torch
    import torchvision
    what = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    if _version(torch.__version__) < (2, 4) or _version(torchvision.__version__) < (0, 19):
        return Check("FAIL", what + ": the course needs torch >= 2.4 and torchvision >= 0.19", pip_fix(TORCH_PIP))
    return Check("ok", what)


def check_device() -> Check:
    """The device notebooks will use, and whether it is fast enough for class."""
    import torch

    from course_utils.config import get_device
    try:
        device = get_device()
    except RuntimeError as err:  # COURSE_DEVICE asks for a device that is not there
        return Check("FAIL", f"device: {err}", env_fix("COURSE_DEVICE", None))
    if device.type == "cpu":
        gpu_unused = shutil.which("nvidia-smi") and torch.version.cuda is None
        if gpu_unused:
            return Check("FAIL", "device: this machine has an NVIDIA GPU but torch is a CPU-only build",
                         pip_fix("-U torch torchvision --index-url https://download.pytorch.org/whl/cu124"))
        gflops = 1000 * matmul_tflops(device, torch.float32)
        return Check("warn", f"device: CPU only ({torch.get_num_threads()} threads, about {gflops:.0f} "
                     "GFLOP/s): fine for smoke mode (COURSE_SMOKE=1) and short runs of the small "
                     "notebooks; for the rest use a GPU",
                     "on Colab: Runtime > Change runtime type > T4 GPU" if on_colab() else None)
    from course_utils.fast import autocast_dtype
    dtype = autocast_dtype(device) or torch.float32
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    else:
        name = "Apple GPU (MPS)"
    return speed_verdict(name, matmul_tflops(device, dtype), str(dtype).replace("torch.", ""))


def speed_verdict(name: str, tflops: float, dtype: str) -> Check:
    """ok when the GPU is T4-class or faster, else a warning to pick the short runs."""
    what = f"device: {name}, {tflops:.1f} TFLOP/s ({dtype} matmul)"
    if tflops >= T4_CLASS_TFLOPS:
        return Check("ok", what + ": fast enough for the notebooks' default settings")
    return Check("warn", what + f": slower than a Colab T4 (T4-class is {T4_CLASS_TFLOPS:.0f}+ "
                 'here): in class set RUN = "short" in the notebooks that train')


def matmul_tflops(device: torch.device, dtype: torch.dtype, seconds: float = 0.25) -> float:
    """Measured matrix-multiply speed in TFLOP/s: the bulk of a CNN's work is matmuls."""
    import torch

    n = 512 if device.type == "cpu" else 4096
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    sync = {"cuda": torch.cuda.synchronize, "mps": getattr(torch.mps, "synchronize", None)}.get(device.type)
    sync = sync or (lambda: None)
    a @ b  # warm-up: the first call pays for kernel selection
    sync()
    count, start = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if count % 10 == 0:
            sync()
    sync()
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e12


def check_dot() -> Check:
    from course_utils.viz import has_dot
    if has_dot():
        result = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=20)
        if result.returncode == 0:
            return Check("ok", f"Graphviz: {(result.stderr or result.stdout).strip()}")
    return Check("FAIL", "Graphviz's `dot` is not on the PATH (or does not run): torchviz graphs "
                 "will not be drawn", _dot_fix())


def _dot_fix() -> str:
    if on_colab():  # a cell runs as root: no sudo
        return shell_fix("apt-get install -y graphviz", colab=True)
    if sys.platform == "darwin":
        return "brew install graphviz"
    if sys.platform == "win32":
        return "winget install graphviz   (then open a new terminal)"
    if (Path(sys.prefix) / "conda-meta").is_dir():
        return "conda install -c conda-forge graphviz"
    return "sudo apt-get install graphviz"


def check_data(root: Path, *, smoke: bool = False) -> list[Check]:
    """The data folder, and each dataset in it: complete, a partial sample, corrupt or missing.

    A partial sample (such as the course's sample data) is fine in smoke mode
    and a FAIL otherwise: the notebooks' default runs refuse a partial CIFAR-10.
    The fix lines fetch into ``root`` itself (``--to root`` when it is not the
    default data folder).
    """
    from course_utils.config import data_dir
    default = root == data_dir().expanduser().resolve()
    to = "" if default else f" --to {shlex.quote(str(root))}"
    fetch = "python -m course_utils fetch-data"
    offline = "   (offline: add --from /path/to/staged/copy)"
    if root.is_file():
        fix = (f"point COURSE_DATA_DIR at a folder ({env_fix('COURSE_DATA_DIR', 'DIR')}), or move the file "
               f"{root} out of the way, then: {shell_fix(fetch)}"
               if default else "pass --data-dir the folder that holds the datasets, not a file")
        return [Check("FAIL", f"data folder {root} is a file, not a folder", fix)]
    if not root.is_dir():
        return [Check("FAIL", f"data folder {root} does not exist", shell_fix(f"{fetch}{to}") + offline)]
    if not os.access(root, os.R_OK | os.X_OK):
        return [Check("FAIL", f"data folder {root} cannot be read: no permission", _readable_fix(root))]
    checks = [Check("ok", f"data folder {root}" + (" (COURSE_DATA_DIR chooses another)" if default else ""))]
    if _import_error("torchvision") is not None:  # it reads CIFAR-10's checksums
        return checks + [Check("skip", "datasets not checked: that needs torchvision (see above)")]
    from course_utils.datasets import NAMES, ON_DISK
    from course_utils.staging import check_dataset
    for name in NAMES:
        status = check_dataset(name, root)
        fix = shell_fix(f"{fetch} {name}{to}")
        if status.state == "complete":
            checks.append(Check("ok", f"{name}: complete, {status.detail}"))
        elif status.state == "partial" and smoke:
            checks.append(Check("warn", f"{name}: {status.detail}", fix))
        elif status.state == "partial":
            checks.append(Check("FAIL", f"{name}: {status.detail} (and this is not smoke mode: "
                                "COURSE_SMOKE=1 is not set)", fix))
        elif status.state == "unreadable":
            checks.append(Check("FAIL", f"{name}: unreadable: {status.detail}",
                                _readable_fix(root / ON_DISK[name].folder)))
        else:
            checks.append(Check("FAIL", f"{name}: {status.state}: {status.detail}", fix + offline))
    return checks


def check_imagenet_weights() -> Check:
    """ResNet-18's ImageNet weights for notebook 11: torchvision's file intact, or your own file fits.

    Missing is a warning, not a failure: with internet the notebook downloads
    them on first use. A damaged or foreign file in torchvision's cache is a
    failure: torchvision would read it with the full pickle, which can run code.
    """
    if _import_error("torchvision") is not None:
        return Check("skip", "ResNet-18's ImageNet weights not checked: that needs torchvision (see above)")
    from course_utils.config import resnet18_weights_file
    from course_utils.pretrained import SIZE_BYTES, WeightsFileError, check_weights, read_state_dict
    fetch = shell_fix("python -m course_utils fetch-data resnet18-imagenet")
    offline = "   (offline: add --from /path/to/staged/copy)"
    own = resnet18_weights_file()
    if own is not None:
        try:
            read_state_dict(own)
        except (OSError, WeightsFileError) as err:
            return Check("FAIL", f"ResNet-18 weights named by COURSE_RESNET18_WEIGHTS: {err}",
                         f"{env_fix('COURSE_RESNET18_WEIGHTS', None)} (to use torchvision's file), "
                         "or point it at a ResNet-18 state dict")
        return Check("ok", f"ResNet-18 weights: {own} (COURSE_RESNET18_WEIGHTS), a ResNet-18 state dict")
    status = check_weights()
    if status.usable:
        return Check("ok", f"ResNet-18's ImageNet weights: {status.detail}")
    if status.state == "missing":
        return Check("warn", f"ResNet-18's ImageNet weights are not in {status.path.parent}: notebook 11 "
                     f"downloads them ({SIZE_BYTES / 1e6:.0f} MB) on first use, and stops without internet",
                     fetch + offline)
    if status.state == "unreadable":
        return Check("FAIL", f"ResNet-18's ImageNet weights: {status.detail}",
                     shell_fix(f"chmod u+r {shlex.quote(str(status.path))}"))
    return Check("FAIL", f"ResNet-18's ImageNet weights: {status.state}: {status.detail}", fetch + offline)


def _readable_fix(folder: Path) -> str:
    """How to make ``folder`` readable: chmod it if it is yours, else ask, or use another copy."""
    return (shell_fix(f"chmod -R u+rX {shlex.quote(str(folder))}") + "   (not your folder? ask its owner, "
            f"or install a copy of your own: {shell_fix('python -m course_utils fetch-data --to DIR')}, "
            f"then {env_fix('COURSE_DATA_DIR', 'DIR')})")


def check_disk(root: Path) -> Check:
    folder = next(p for p in (root, *root.parents) if p.exists())
    free = shutil.disk_usage(folder).free / 1e9
    what = f"disk: {free:.1f} GB free in {folder}"
    where, folder = (("Google Drive", DRIVE_MOUNT / "MyDrive" / DRIVE_FOLDER / "data") if on_colab()
                     else ("a bigger disk", "/bigger/disk/data"))
    fix = f"free some space, or put the data on {where}: {env_fix('COURSE_DATA_DIR', str(folder))}"
    if free < NEED_GB:
        return Check("FAIL", what + f": the datasets need about {NEED_GB:.0f} GB", fix)
    if free < WANT_GB:
        return Check("warn", what + ": enough for the datasets, tight for checkpoints", fix)
    return Check("ok", what)


def check_packages() -> list[Check]:
    """course_utils is installed (not just in the current folder), and every package imports.

    In a checkout the fixes install from it (``pip install -e``, requirements.txt);
    from a wheel, or on Colab, from the course's git repository and by package name.
    """
    from course_utils.config import REPO_ROOT, checkout_root
    checkout = checkout_root() is not None and not on_colab()
    package = Path(__file__).resolve().parent.parent  # the course_utils folder
    checks = []
    try:
        importlib.metadata.version("course_utils")
        checks.append(Check("ok", f"course_utils installed, imported from {REPO_ROOT if checkout else package}"))
    except importlib.metadata.PackageNotFoundError:
        install = f"-e {shlex.quote(str(REPO_ROOT))}" if checkout else course_requirement()
        checks.append(Check("FAIL", f"course_utils runs from {package} but is not installed: "
                            "notebooks will not find it", pip_fix(install)))
    modules = PACKAGES + notebook_imports(REPO_ROOT / "notebooks")
    broken = {m: why for m in dict.fromkeys(modules) if (why := _import_error(m)) is not None}
    if not on_colab():  # Colab has its own front end; elsewhere JupyterLab draws the widgets
        for app in ("jupyterlab", "jupyterlab_widgets"):  # found, not imported: importing is slow
            if importlib.util.find_spec(app) is None:
                broken[app] = "not installed"
        modules += ["jupyterlab", "jupyterlab_widgets"]
    listed = requirement_names(REPO_ROOT / "requirements.txt") if checkout else set()
    in_root = f"cd {shlex.quote(str(REPO_ROOT))} && "  # requirements.txt says `-e .`: relative to the cwd
    for module, why in broken.items():
        pip = PIP_NAMES.get(module, module)
        fix = in_root + pip_fix("-r requirements.txt") if _canonical(pip) in listed else pip_fix(pip)
        checks.append(Check("FAIL", f"package {module} does not import ({why})", fix))
    ok = [m for m in dict.fromkeys(modules) if m not in broken]
    checks.append(Check("ok", f"{len(ok)} packages the notebooks use import: {', '.join(ok)}"))
    return checks


def requirement_names(requirements: Path) -> set[str]:
    """The packages ``pip install -r requirements.txt`` installs in a checkout, by name.

    The file's own lines, and what its ``-e .[test,lab]`` brings: course_utils'
    requirements with every extra, as its installed metadata lists them.
    """
    lines = requirements.read_text().splitlines() if requirements.is_file() else []
    try:
        lines += importlib.metadata.requires("course_utils") or []
    except importlib.metadata.PackageNotFoundError:
        pass  # not installed yet: its own fix (pip install -e) comes first
    names = (re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line.strip()) for line in lines)
    return {_canonical(name[0]) for name in names if name}


def _canonical(name: str) -> str:
    """A package name as pip compares them: ``Foo_Bar`` and ``foo-bar`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def notebook_imports(folder: Path) -> list[str]:
    """Top-level modules imported by the notebooks in ``folder``, standard library left out."""
    found = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            code = "\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.append(node.module.split(".")[0])
    skip = set(sys.stdlib_module_names) | {"course_utils", "__future__", "torch", "torchvision"}
    return [m for m in dict.fromkeys(found) if m not in skip]


def _import_error(module: str) -> str | None:
    """None when ``module`` imports, else why not: ``"ModuleNotFoundError: No module named 'x'"``."""
    try:
        importlib.import_module(module)
    except Exception as err:  # missing, or installed but broken
        first_line = (str(err).strip().splitlines() or [""])[0]
        return f"{type(err).__name__}: {first_line}"
    return None


def _version(text: str) -> tuple[int, ...]:
    """'2.4.1+cu121' -> (2, 4)."""
    return tuple(int(part) for part in text.split("+")[0].split(".")[:2] if part.isdigit())
