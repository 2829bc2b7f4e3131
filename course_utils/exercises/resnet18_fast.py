"""Exercises of ``07_resnet18_fast``: reading a profile, the data kept on the device, one change measured.

* ``loader_bound``   the most a faster loader can gain, from the profile of a training step
* ``dataset_bytes``  how much device memory CIFAR-10 takes as uint8 images
* ``step_speedup``   the gain of one change in a speed ladder, against the row before it

``EXAMPLE_PROFILE`` and ``EXAMPLE_LADDER`` are the (made-up, T4-like) figures they read.
"""
from __future__ import annotations

import sys
from typing import Any

from course_utils.exercises import number_exercise

__all__ = ["loader_bound", "dataset_bytes", "step_speedup", "EXAMPLE_PROFILE", "EXAMPLE_LADDER"]


def _this_module() -> dict[str, Any]:
    """What the notebook has defined when it asks: this module as ``ex``."""
    return {"ex": sys.modules[__name__]}


# --- loader_bound: Amdahl's law on a profile ---
#: The share of a training step's time spent in each part, standard loader, on a T4-like GPU (made up).
EXAMPLE_PROFILE = {"load": 0.62, "copy": 0.08, "compute": 0.30}

_COMPUTE = EXAMPLE_PROFILE["compute"]
_BOUND = 1 / _COMPUTE  # 3.33: only the compute is left

_BOUND_MISTAKES = {
    1 / (1 - EXAMPLE_PROFILE["load"]): "that removes the loading only; the copy goes too, since the batches are "
                                       "made where the model runs.",
    1 - _COMPUTE: "that is the share of time removed (70%), not how many times faster the step gets.",
    100 * (1 - _COMPUTE): "that is the share of time removed, in percent; the question asks for a factor.",
    1 / (1 - _COMPUTE): "that is the factor if the compute were removed and the loading kept; it is the other "
                        "way round.",
    _COMPUTE: "that is the share of time left; a step that takes 0.3 of its old time runs how many times faster?",
    _BOUND - 1: "that is how much faster in addition (233% more), not the factor: add the 1 back.",
}

loader_bound = number_exercise(
    "loader_bound",
    "`ex.EXAMPLE_PROFILE` is an example profile of ResNet-18's training step on a GPU with the "
    "standard loader (made-up figures of the kind a Colab T4 gives): load 62%, copy 8%, compute "
    "30% of the time. Suppose a "
    "device-side loader made loading and copying take no time at all, and the compute stayed as it "
    "is. At most, how many times more images per second would training process? (One number, "
    "a factor such as 1.5.)",
    _BOUND, _BOUND_MISTAKES,
    lambda value: (f"{value:.3g} is not it. Only the compute is left: a step that took 1 time unit "
                   "now takes 0.30 of it, and images per second grow by the inverse."),
    what="one number (a factor)", tolerance=0.015, context=_this_module,
    hint="Images per second = images per step / seconds per step. Which part of the step is left "
         "when loading and copying cost nothing?",
    solution='answer = 1 / ex.EXAMPLE_PROFILE["compute"]  # 1 / 0.30 = 3.3x at most',
    praise="right: at most 3.3 times, because the compute is left. A speed-up is bounded by the part "
           "you do not change (Amdahl's law): measure where the time goes before choosing what to speed up.",
)


# --- dataset_bytes: CIFAR-10 on the device ---
_IMAGES = 50_000 + 10_000
_VALUES = 3 * 32 * 32
_MB = _IMAGES * _VALUES / 1e6  # 184.32

_BYTES_MISTAKES = {
    4 * _MB: "that is float32, 4 bytes a value. The loader keeps the uint8 pixels (1 byte each) and makes "
             "float32 only for the batch it is working on.",
    _MB / 3: "each image has 3 colour channels: 3 x 32 x 32 values.",
    50_000 * _VALUES / 1e6: "that is the 50,000 training images alone; the 10,000 test images are kept too.",
    10_000 * _VALUES / 1e6: "that is the 10,000 test images alone; add the 50,000 training images.",
    _IMAGES * _VALUES / 2 ** 20: "that is in MiB (2^20 bytes); the question counts 1 MB as 10^6 bytes.",
    8 * _MB: "that counts bits; a uint8 value is one byte.",
    _MB * 1e6: "that is the number of bytes; divide by 10^6 for megabytes.",
    _MB * 1e3: "that is in kilobytes; divide by 1,000 once more for megabytes.",
}

dataset_bytes = number_exercise(
    "dataset_bytes",
    "`get_loaders(\"cifar10\", ..., on_device=True)` keeps CIFAR-10's images on the device as "
    "uint8 pixels, one byte per value: 50,000 training and 10,000 test images of 3 x 32 x 32. "
    "How many megabytes do they take (1 MB = 10^6 bytes)?",
    _MB, _BYTES_MISTAKES,
    lambda value: (f"{value:,.4g} MB is not it. Count the values: images x channels x height x width, "
                   "one byte each, then divide by 10^6."),
    what="one number of megabytes", tolerance=0.005,
    hint="One uint8 value is one byte. How many values does one image hold, and how many images are there?",
    solution="answer = (50_000 + 10_000) * 3 * 32 * 32 / 1e6  # 184.32 MB",
    praise="right: 184 MB, a sliver of a 16 GB T4. As float32 it would be four times as much, which "
           "is why the loader keeps uint8 and converts one batch at a time.",
)


# --- step_speedup: one change, measured against the row before it ---
#: A speed ladder of ResNet-18's training step, images/s, each row one change more (made-up, T4-like figures).
EXAMPLE_LADDER = {
    "baseline: standard loader, float32": 900,
    "+ device-side loader": 1_100,
    "+ cudnn.benchmark": 1_200,
    "+ mixed precision (float16)": 2_300,
    "+ channels_last": 2_800,
    "+ torch.compile": 3_200,
}
_BEFORE, _AMP, _AFTER = 1_200, 2_300, 3_200
_STEP = _AMP / _BEFORE  # 1.92

_STEP_MISTAKES = {
    _AMP / EXAMPLE_LADDER["baseline: standard loader, float32"]:
        "that compares with the baseline, so it includes the loader and cudnn.benchmark too. "
        "Compare with the row just before.",
    _AMP / EXAMPLE_LADDER["+ device-side loader"]:
        "that compares with the row two above, so it includes cudnn.benchmark too. Compare with the row just before.",
    _AMP - _BEFORE: "that is the difference in images per second; the question asks for a factor.",
    _BEFORE / _AMP: "that is upside down: the new speed over the old one gives the factor.",
    _AFTER / _BEFORE: "that includes channels_last and torch.compile, which come after it.",
    _AFTER / EXAMPLE_LADDER["baseline: standard loader, float32"]: "that is the whole ladder's gain, every change together.",
}

step_speedup = number_exercise(
    "step_speedup",
    "`ex.EXAMPLE_LADDER` is an example speed ladder (made-up figures of the kind a Colab T4 gives: "
    "images per second of ResNet-18's training step, each row one change more than the row above): baseline 900, "
    "+ device-side loader 1,100, + cudnn.benchmark 1,200, + mixed precision (float16) 2,300, "
    "+ channels_last 2,800, + torch.compile 3,200. By what factor did mixed precision alone "
    "speed training up?",
    _STEP, _STEP_MISTAKES,
    lambda value: (f"{value:.3g} is not it. Divide the mixed-precision row by the row just above it, "
                   "the one that differs from it in that change alone."),
    what="one number (a factor)", tolerance=0.01, context=_this_module,
    hint="Each row differs from the row above in one change only. Which two rows differ in mixed precision alone?",
    solution='answer = ex.EXAMPLE_LADDER["+ mixed precision (float16)"] / ex.EXAMPLE_LADDER["+ cudnn.benchmark"]'
             "  # 2,300 / 1,200 = 1.92",
    praise="right: 1.9 times, the largest single gain of this ladder. Its size depends on the rows before it: "
           "once the loader no longer holds the GPU back, faster arithmetic shows.",
)
