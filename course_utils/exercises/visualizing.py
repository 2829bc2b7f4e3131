"""Exercises of ``07_visualizing_residual_connections``: reading graphs, shapes and speed-ups.

* ``count_adds``      how many skip connections (``AddBackward0`` nodes) ResNet-18 has
* ``layer4_size``     the height of layer4's output for a given stem stride and input
* ``stage_channels``  the channel count of each stage's output
* ``stride_speedup``  how many times fewer multiply-adds a stride-2 stem costs
"""
from __future__ import annotations

from typing import Any

from course_utils.exercises import Exercise, as_number, check_number

__all__ = ["count_adds", "layer4_size", "stage_channels", "stride_speedup"]


# ---------------------------------------------------------------------------
# count_adds
# ---------------------------------------------------------------------------

_ADDS_MISTAKES = {
    2: "that is one stage (layer2, the graph above); ResNet-18 has four stages.",
    4: "one addition per stage, but each stage of ResNet-18 holds two blocks, each with its own skip.",
    16: "16 is the number of 3x3 convolutions inside the blocks (two per block); count the additions.",
    9: "the stem and the classifier add no skip: the fc layer's node is AddmmBackward0 "
       "(matrix multiply-add), not AddBackward0.",
    3: "a block whose shortcut is a 1x1 projection (the first block of layer2, layer3 and layer4) "
       "still ends in an addition; count every block.",
    6: "a block whose shortcut is a 1x1 projection still ends in an addition; count every block.",
    18: "18 counts the layers of ResNet-18 (17 convolutions and the fc layer), not the additions.",
}


def _check_count_adds(answer: Any) -> str | None:
    return check_number(answer, 8, _ADDS_MISTAKES,
                        "Each basic block ends in one `out + identity`; "
                        "count the blocks: ResNet-18 has [2, 2, 2, 2].")


count_adds = Exercise(
    "count_adds",
    "How many AddBackward0 nodes (skip connections) are in the torchviz graph of the whole "
    "ResNet-18? Reason it out from `resnet18()`'s layers [2, 2, 2, 2], then count them in "
    "`graph.body` to confirm.",
    _check_count_adds,
    hint="One addition per basic block, whether its shortcut is the identity or a 1x1 projection. "
         "To count: sum('AddBackward0' in line for line in graph.body).",
    solution="answer = 4 * 2  # 4 stages x 2 basic blocks, one `out + identity` each",
    praise="right: 4 stages x 2 blocks = 8 skip connections (3 of them through a 1x1 projection).",
)


# ---------------------------------------------------------------------------
# layer4_size
# ---------------------------------------------------------------------------

_LAYER4_MISTAKES = {
    8: "8 is what a stride-1 stem gives (64 -> 64 -> 32 -> 16 -> 8); this stem has stride 2.",
    2: "layer1 keeps the size (its blocks have stride 1): only layer2, layer3 and layer4 halve it.",
    1: "only four halvings happen (the stem and layer2-4), not six: 64 / 2**4.",
    16: "16 is layer2's output (64 -> 32 -> 32 -> 16); go on through layer3 and layer4.",
    32: "32 is layer1's output; layer2, layer3 and layer4 each halve it.",
    512: "512 is the channel count of layer4; the question asks for its height.",
}


def _check_layer4_size(answer: Any) -> str | None:
    if isinstance(answer, (tuple, list)) and len(answer) == 2 and answer[0] == answer[1]:
        answer = answer[0]
    return check_number(answer, 4, _LAYER4_MISTAKES,
                        "Halve 64 once for each stride-2 step on the way: the stem, "
                        "then the first block of layer2, layer3 and layer4.", what="one number (the height, equal to the width)")


layer4_size = Exercise(
    "layer4_size",
    "Take the ResNet-18 whose stem has stride 2 (`variants['stem stride 2']` above) and feed "
    "it a 64x64 image instead of a 32x32 one. What is the height (= width) of layer4's output?",
    _check_layer4_size,
    hint="Only the stride-2 steps change the size, each halving it. Count them between the "
         "image and layer4's output: the stem is one; which stages start with another?",
    solution="answer = 64 // 2 // 2 // 2 // 2  # halved by the stem, layer2, layer3 and layer4",
    praise="right: 64 -> 32 (stem) -> 32 (layer1) -> 16 -> 8 -> 4, so layer4 sees 4x4 maps.",
)


# ---------------------------------------------------------------------------
# stage_channels
# ---------------------------------------------------------------------------

def _check_stage_channels(answer: Any) -> str | None:
    try:
        if isinstance(answer, (str, bytes)) or any(isinstance(v, bool) or float(v) != int(float(v))
                                                   for v in answer):
            raise ValueError("not whole numbers")
        values = [int(float(v)) for v in answer]
    except (TypeError, ValueError):
        return f"give a list of four whole numbers, e.g. [a, b, c, d], not {answer!r}."
    if values == [64, 128, 256, 512]:
        return None
    if values == [64, 64, 128, 256]:
        return "those are the channels going *into* each stage; the question asks what comes out."
    if values == [512, 256, 128, 64]:
        return "the order is reversed: layer1 comes first and has the fewest channels."
    if values[:3] == [16, 32, 64]:
        return "16-32-64 is CifarResNet (the paper's CIFAR family); resnet18 starts at 64 channels."
    if len(values) != 4:
        return f"ResNet-18 has four stages (layer1..layer4), so give four numbers, not {len(values)}."
    if values[0] == 64 and values != [64, 128, 256, 512]:
        return "layer1 is right; each later stage doubles the channels of the one before."
    return f"{values} is not it: print `feats[name].shape` for each stage and read dimension 1."


stage_channels = Exercise(
    "stage_channels",
    "List the number of channels of the output of layer1, layer2, layer3 and layer4 of "
    "`resnet18()` (the feature maps drawn above), as [layer1, layer2, layer3, layer4].",
    _check_stage_channels,
    hint="The feature maps above were drawn from `feats`: print feats[name].shape for each "
         "stage and read dimension 1 (N, C, H, W).",
    solution="answer = [64, 128, 256, 512]",
    praise="right: 64, 128, 256, 512. The channels double as the maps halve, and the later, "
           "smaller maps are the more abstract ones.",
)


# ---------------------------------------------------------------------------
# stride_speedup
# ---------------------------------------------------------------------------

def _check_stride_speedup(answer: Any) -> str | None:
    value = as_number(answer)
    if value is None:
        return f"give one number (a factor such as 3 or 10), not {answer!r}."
    if 3.8 <= value <= 4.05:
        return None
    if abs(value - 2) < 0.1:
        return "stride 2 halves the height *and* the width, so each map has a quarter of the positions."
    if abs(value - 0.25) < 0.02:
        return ("0.25 is the fraction of the work left; the question asks for the factor "
                "(how many times fewer).")
    if abs(value - 16) < 0.5:
        return ("the stride is applied once, in the stem; every later map is smaller by the same "
                "factor as the stem's output, not by that factor again.")
    if abs(value - 1) < 0.1:
        return ("the weights are the same, but the work of a convolution grows with the number "
                "of positions it visits.")
    return (f"{answer!r} is not it. A convolution's multiply-adds are proportional to its output's "
            "height x width; by what factor does stride 2 in the stem shrink every later map?")


stride_speedup = Exercise(
    "stride_speedup",
    "Changing the stem's stride from 1 to 2 leaves the weights of ResNet-18 unchanged. By what "
    "factor does it cut the multiply-adds of one forward pass on a 32x32 image (almost all of "
    "them are in the convolutions)? Then compare your factor with the measured speed-up in the table.",
    _check_stride_speedup,
    hint="A convolution does (weights per position) x (output height x output width) multiply-adds. "
         "Every map after the stem has half the height and half the width.",
    solution="answer = 2 * 2  # every map after the stem has a quarter of the positions",
    praise="right: about 4x fewer multiply-adds (only the tiny fc layer is unchanged). The measured "
           "speed-up differs from 4 because time is not only arithmetic: memory traffic, caches and "
           "fixed per-layer overheads count too.",
)
