"""Everything the course reads from the environment, in one place.

Four variables change how the course behaves, and one set by nbgrader is
read; nothing else in ``course_utils`` looks at ``os.environ`` (torch itself
reads ``TORCH_HOME``, where torchvision keeps downloaded weights):

* ``COURSE_DATA_DIR``: where datasets live (default: the repository's ``data/``).
* ``COURSE_SMOKE=1``: "smoke mode". Loaders keep a small subset and notebooks
  shrink their epochs, so every notebook runs on a laptop CPU in about a
  minute. Same cells, same code paths; only sizes shrink.
* ``COURSE_DEVICE``: force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
* ``COURSE_RESNET18_WEIGHTS``: a ResNet-18 weights file to start from instead of
  torchvision's ImageNet file (see ``course_utils.pretrained``).
* ``NBGRADER_EXECUTION``: set by nbgrader while it grades (``autograde``) or
  validates (``validate``) a notebook; exercise checks then raise on a wrong
  answer, so that nbgrader sees the failure (see ``is_graded_run``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # torch is imported where a device is needed, so a broken torch can be diagnosed
    import torch

#: The repository root when ``course_utils`` is installed with ``pip install -e .``
#: (installed from a wheel, it is ``site-packages``: see ``checkout_root``).
REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def data_dir() -> Path:
    """Where datasets are read from and downloaded to.

    ``COURSE_DATA_DIR`` when it is set, else the repository's ``data/`` folder
    (or ``./data`` beside the notebook when ``course_utils`` was installed from
    git rather than from a checkout, as on Colab: ``/content/data``).

    >>> data_dir()  # doctest: +SKIP
    PosixPath('/home/me/resnet-hands-on/data')
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = checkout_root()
    return checkout / "data" if checkout else Path.cwd() / "data"


def resnet18_weights_file() -> Path | None:
    """The ResNet-18 weights file named by ``COURSE_RESNET18_WEIGHTS``, or None for torchvision's own.

    Set it to start the transfer-learning notebook from weights of your own with
    torchvision's ResNet-18 shapes (a fine-tuned checkpoint's state dict, say).
    """
    env = os.environ.get("COURSE_RESNET18_WEIGHTS")
    return Path(env).expanduser().resolve() if env else None


def checkout_root() -> Path | None:
    """The checkout of the course that ``course_utils`` runs from, or None for an installed wheel.

    ``pip install -e .`` runs the package where it sits, beside ``pyproject.toml``
    and ``notebooks/``; ``pip install "course_utils @ git+..."`` (as on Colab)
    copies only the package into ``site-packages``, without the notebooks. Commands
    that default to the repository's folders ask this first.

    >>> checkout_root()  # doctest: +SKIP
    PosixPath('/home/me/resnet-hands-on')
    """
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else None


def is_smoke() -> bool:
    """True when ``COURSE_SMOKE`` asks for the small, fast "smoke" run.

    Notebooks use it to pick sizes: ``EPOCHS = 1 if is_smoke() else 10``.
    """
    return os.environ.get("COURSE_SMOKE", "").strip().lower() in _TRUE


def is_graded_run() -> bool:
    """True while nbgrader runs the notebook to grade it (``nbgrader autograde``) or to validate it.

    nbgrader counts a test cell as passed when it runs without an error, so
    under nbgrader an exercise check must raise on a wrong answer; at a
    learner's desk it prints one friendly line instead.
    """
    return os.environ.get("NBGRADER_EXECUTION", "") in {"autograde", "validate"}


#: The devices the course's code runs on: NVIDIA GPUs, Apple GPUs and the CPU.
DEVICE_TYPES = ("cuda", "mps", "cpu")


def get_device(prefer: str | None = None) -> torch.device:
    """The fastest device this machine offers: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the ``COURSE_DEVICE`` variable) picks one explicitly; asking
    for a device that is not there raises a ``RuntimeError`` that says so,
    rather than silently training on the CPU.

    >>> get_device("cpu")
    device(type='cpu')
    """
    import torch

    choice = prefer or os.environ.get("COURSE_DEVICE") or None
    if choice:
        try:
            device = torch.device(choice)
        except RuntimeError:  # torch knows no such device type ("tpu", "gpu", a typo)
            device = None
        if device is None or device.type not in DEVICE_TYPES:
            source = "" if prefer else " (from COURSE_DEVICE)"
            raise RuntimeError(
                f"Device {choice!r}{source} is not one the course trains on: choose one of "
                f"{', '.join(DEVICE_TYPES)} (e.g. 'cuda:1' for a second GPU), or leave it unset "
                "to use the fastest one here."
            )
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {choice!r} was asked for, but PyTorch sees no CUDA GPU. "
                "On Colab choose Runtime > Change runtime type > GPU; elsewhere "
                "unset COURSE_DEVICE to use the CPU."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(
                f"Device {choice!r} was asked for, but Apple's MPS backend is not "
                "available here. Unset COURSE_DEVICE to use the CPU."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick(full, *, short=None, smoke, run: str = "full"):
    """Choose a size for the current run: ``smoke`` in smoke mode, else by ``run``.

    Notebooks declare their sizes once, near the top::

        RUN = "full"   # or "short": finishes in a 90-minute class on a Colab T4
        EPOCHS = pick(full=30, short=5, smoke=1, run=RUN)

    ``short`` defaults to ``full``.
    """
    if run not in ("full", "short"):
        raise ValueError(f"run must be 'full' or 'short', not {run!r}")
    if is_smoke():
        return smoke
    if run == "short" and short is not None:
        return short
    return full


def run_dir(notebook: str, **settings: object) -> Path:
    """The folder for one training run's checkpoint and logs, named by its settings.

    ``run_dir("08_mnist_resnet", epochs=10, lr=1e-3)`` is
    ``runs/08_mnist_resnet/epochs10-lr0.001`` (relative to the notebook), so a
    run with other settings never resumes from this one's checkpoint. In smoke
    mode it is a new temporary folder on every call instead: a rehearsal (or
    the test suite) leaves nothing behind, and never finds an old checkpoint.
    The folder is not created here, except the temporary one.

    >>> run_dir("08_mnist_resnet", epochs=10, lr=1e-3).as_posix()  # doctest: +SKIP
    'runs/08_mnist_resnet/epochs10-lr0.001'
    """
    if is_smoke():
        return Path(tempfile.mkdtemp(prefix=f"course-smoke-{notebook}-"))
    name = "-".join(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}"
                    for key, value in settings.items())
    return Path("runs") / notebook / (name or "default")


def describe_run(run: str, device: "torch.device | str", minutes: Mapping[str, Mapping[str, float]]) -> str:
    """One or two lines saying how long this run should take, to print before it starts.

    ``minutes[run][kind]`` is the expected time for ``run`` (``"full"`` or
    ``"short"``) on a ``"cpu"`` or a CUDA ``"gpu"``. An Apple GPU (``mps``) is not
    timed: it is given both figures. Smoke mode takes about a minute anywhere.
    On a CPU, a run expected to take over half an hour says so and how to
    choose a shorter one.

    >>> print(describe_run("short", "cuda", {"full": {"cpu": 40, "gpu": 5}, "short": {"cpu": 10, "gpu": 2}}))
    RUN = 'short' on cuda: expect about 2 minutes.
    """
    if run not in ("full", "short"):
        raise ValueError(f"run must be 'full' or 'short', not {run!r}")
    device_type = getattr(device, "type", str(device).split(":")[0])
    if is_smoke():
        return f"Smoke mode (COURSE_SMOKE=1) on {device_type}: about a minute."
    if device_type == "mps":  # an Apple GPU: neither of the measured kinds
        cpu, gpu = minutes[run]["cpu"], minutes[run].get("gpu")
        line = (f"RUN = {run!r} on mps: not timed on Apple GPUs. "
                f"The same run takes a CPU about {_minutes(cpu)}")
        return line + (f", a CUDA GPU about {_minutes(gpu)}." if gpu is not None else ".")
    kind = "gpu" if device_type == "cuda" else "cpu"
    expected = minutes[run][kind]
    line = f"RUN = {run!r} on {device_type}: expect about {_minutes(expected)}."
    if kind == "cpu" and expected > 30:
        options = [f"set RUN = 'short' (about {_minutes(minutes['short']['cpu'])})"] if run == "full" else []
        options.append("rehearse in smoke mode (COURSE_SMOKE=1, about a minute)")
        gpu = minutes[run].get("gpu")
        line += " That is long: " + ", or ".join(options) + "."
        if gpu is not None and device_type == "cpu":
            line += f" On a GPU (Colab: Runtime > Change runtime type) it takes about {_minutes(gpu)}."
    return line


def _minutes(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f} hours"
    return f"{value:.0f} minute{'s' if round(value) != 1 else ''}" if value >= 1 else "a minute"
