"""Exercises of ``00_setup``: what this machine means for the rest of the course.

* ``device``         which device the notebooks will train on here (``get_device().type``)
* ``run_length``     how many epochs ``pick`` gives when smoke mode and ``RUN = "short"`` meet
* ``epoch_minutes``  how long one epoch of CIFAR-10 takes at a laptop CPU's speed

They are about the set-up, not about networks: the answers decide which
``RUN`` setting a learner picks in the notebooks that train.
"""
from __future__ import annotations

from typing import Any

from course_utils.config import get_device
from course_utils.exercises import Exercise, around, number_exercise

__all__ = ["device", "run_length", "epoch_minutes", "CPU_IMAGES_PER_S", "T4_IMAGES_PER_S"]

#: Rough training speeds of ResNet-18 (CIFAR stem) on 32x32 images, in images per second:
#: a 2-core laptop CPU (measured: 20-50, see docs/benchmarks.md) and a Colab T4 (an estimate).
CPU_IMAGES_PER_S = 20
T4_IMAGES_PER_S = 2500
CIFAR10_TRAIN_IMAGES = 50_000


# --- device ---
_DEVICE_NAMES = {"cuda", "mps", "cpu"}
_DEVICE_SLIPS = {
    "gpu": "PyTorch has no device called 'gpu': an NVIDIA GPU is 'cuda', an Apple GPU 'mps'.",
    "nvidia": "PyTorch calls an NVIDIA GPU 'cuda' (after NVIDIA's programming platform).",
    "apple": "PyTorch calls an Apple GPU 'mps' (Metal Performance Shaders).",
}


def _check_device(answer: Any) -> str | None:
    """A device type PyTorch knows, and the one ``get_device()`` picks on this machine (asked at check time)."""
    if not isinstance(answer, str):
        return f"give the device's type as a string, 'cuda', 'mps' or 'cpu', not {answer!r}."
    name = answer.strip().lower().split(":")[0]  # "cuda:0" names the same device as "cuda"
    if name in _DEVICE_SLIPS:
        return _DEVICE_SLIPS[name]
    if name not in _DEVICE_NAMES:
        return f"{answer!r} is not one of PyTorch's device types here: 'cuda', 'mps' or 'cpu'."
    found = get_device().type
    if name != found:
        return (f"not on this machine: get_device() picks {found!r} here. It takes CUDA if PyTorch "
                "sees an NVIDIA GPU, else Apple's MPS, else the CPU (COURSE_DEVICE overrides it).")
    return None


device = Exercise(
    "device",
    "Which device will the notebooks train on, on this machine? Answer with PyTorch's name for "
    "it as a string: 'cuda', 'mps' or 'cpu'.",
    _check_device,
    hint="Section 3 printed the device this machine computes on. PyTorch names devices after "
         "the software that drives them, not after the hardware: look at what was printed.",
    solution="answer = get_device().type",
    praise="right: that is where every notebook's tensors and models will live.",
    context=lambda: {"get_device": get_device},
    mistakes=[*_DEVICE_SLIPS.items(), ("tpu", "not one of PyTorch's device types"), (0, "as a string")],
)


# --- run_length ---
run_length = number_exercise(
    "run_length",
    "A notebook says EPOCHS = pick(full=30, short=10, smoke=1, run=RUN). An instructor sets "
    "RUN = \"short\" and starts Jupyter with COURSE_SMOKE=1. How many epochs does it train?",
    1, {
        10: "that is what RUN = 'short' gives without smoke mode. With COURSE_SMOKE=1, smoke "
            "wins over RUN, so that a test (or a rehearsal) never runs the long version.",
        30: "that is the full run. Both settings ask for less: which one wins?",
    }, "pick returns smoke when COURSE_SMOKE=1 is set, else short when RUN = 'short', else full.",
    what="one number of epochs",
    hint="Read the table at the top of the notebook: when smoke mode and RUN ask for different "
         "lengths, which one does pick obey?",
    solution="answer = 1  # smoke mode wins; without it, RUN = 'short' would give 10",
    praise="right: smoke mode overrides RUN, so the notebooks' tests are always short.",
)


# --- epoch_minutes ---
_SECONDS = CIFAR10_TRAIN_IMAGES / CPU_IMAGES_PER_S  # 2,500
_EPOCH_MINUTES = _SECONDS / 60  # 41.7

epoch_minutes = number_exercise(
    "epoch_minutes",
    f"A laptop CPU trains ResNet-18 on CIFAR-10 at about {CPU_IMAGES_PER_S} images per second, "
    f"a Colab T4 GPU at about {T4_IMAGES_PER_S:,}. How many minutes does one epoch (all "
    f"{CIFAR10_TRAIN_IMAGES:,} training images) take on the laptop CPU? (Notebook 06's full "
    "run is 30 epochs.)",
    around(_EPOCH_MINUTES, 1), {  # 41.67 rounded any way: 41, 41.7 and 42 are all fine
        around(_SECONDS, 1): "that is the number of seconds; the question asks for minutes.",
        around(CIFAR10_TRAIN_IMAGES / T4_IMAGES_PER_S / 60, 0.05):
            "that is the T4's time; the question asks about the laptop CPU.",
        around(_SECONDS / 3600, 0.05): "that is the number of hours; the question asks for minutes.",
        around(30 * _EPOCH_MINUTES, 30): "that is the whole 30-epoch run; the question asks for one epoch.",
    }, "Divide the images by the images per second to get seconds, then by 60.",
    what="one number of minutes",
    hint="seconds = images / (images per second); minutes = seconds / 60.",
    solution=f"answer = {CIFAR10_TRAIN_IMAGES} / {CPU_IMAGES_PER_S} / 60  # about 42 minutes "
             "(20 seconds on a T4)",
    praise="right: about 42 minutes per epoch, 21 hours for 30 epochs. On a T4 an epoch takes "
           "20 seconds. That is why the notebooks that train want a GPU, or smoke mode here.",
)
