"""Exercises of ``10_visualizing_residual_connections``: reading graphs, shapes and speed-ups.

* ``count_adds``      how many skip connections (``AddBackward0`` nodes) ResNet-18 has
* ``layer4_size``     the height of layer4's output for a given stem stride and input
* ``stage_channels``  the channel count of each stage's output
* ``stride_speedup``  how many times fewer multiply-adds a stride-2 stem costs
"""
from __future__ import annotations

from typing import Any

from course_utils.exercises import around, as_shape, number_exercise, shape_exercise, when

__all__ = ["count_adds", "layer4_size", "stage_channels", "stride_speedup"]


# --- count_adds ---
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

count_adds = number_exercise(
    "count_adds",
    "How many AddBackward0 nodes (skip connections) are in the torchviz graph of the whole "
    "ResNet-18? Reason it out from `resnet18()`'s layers [2, 2, 2, 2], then count them in "
    "`graph.body` to confirm.",
    8, _ADDS_MISTAKES, "Each basic block ends in one `out + identity`; count the blocks: ResNet-18 has [2, 2, 2, 2].",
    hint="One addition per basic block, whether its shortcut is the identity or a 1x1 projection. "
         "To count: sum('AddBackward0' in line for line in graph.body).",
    solution="answer = 4 * 2  # 4 stages x 2 basic blocks, one `out + identity` each",
    praise="right: 4 stages x 2 blocks = 8 skip connections (3 of them through a 1x1 projection).",
)


# --- layer4_size ---
_LAYER4_MISTAKES = {
    8: "8 is what a stride-1 stem gives (64 -> 64 -> 32 -> 16 -> 8); this stem has stride 2.",
    2: "layer1 keeps the size (its blocks have stride 1): only layer2, layer3 and layer4 halve it.",
    1: "only four halvings happen (the stem and layer2-4), not six: 64 / 2**4.",
    16: "16 is layer2's output (64 -> 32 -> 32 -> 16); go on through layer3 and layer4.",
    32: "32 is layer1's output; layer2, layer3 and layer4 each halve it.",
    512: "512 is the channel count of layer4; the question asks for its height.",
}

layer4_size = number_exercise(
    "layer4_size",
    "Take the ResNet-18 whose stem has stride 2 (`variants['stem stride 2']` above) and feed "
    "it a 64x64 image instead of a 32x32 one. What is the height (= width) of layer4's output?",
    4, _LAYER4_MISTAKES, "Halve 64 once for each stride-2 step on the way: the stem, then the first block "
                         "of layer2, layer3 and layer4.", what="one number (the height, equal to the width)",
    hint="Only the stride-2 steps change the size, each halving it. Count them between the "
         "image and layer4's output: the stem is one; which stages start with another?",
    solution="answer = 64 // 2 // 2 // 2 // 2  # halved by the stem, layer2, layer3 and layer4",
    praise="right: 64 -> 32 (stem) -> 32 (layer1) -> 16 -> 8 -> 4, so layer4 sees 4x4 maps.",
)


# --- stage_channels ---
def _whole_numbers(answer: Any) -> tuple[int, ...] | None:
    """The answer as a tuple of ints, or None when it is not a sequence of whole numbers."""
    values = as_shape(answer)
    return values if values is not None and all(isinstance(v, int) for v in values) else None


#: What any other list gets wrong: the first row that applies.
_CHANNEL_STEPS = [
    when(lambda v: v[:3] == (16, 32, 64),
         "16-32-64 is CifarResNet (the paper's CIFAR family); resnet18 starts at 64 channels."),
    when(lambda v: len(v) != 4,
         lambda v: f"ResNet-18 has four stages (layer1..layer4), so give four numbers, not {len(v)}."),
    when(lambda v: v[0] == 64, "layer1 is right; each later stage doubles the channels of the one before."),
]

stage_channels = shape_exercise(
    "stage_channels",
    "List the number of channels of the output of layer1, layer2, layer3 and layer4 of "
    "`resnet18()` (the feature maps drawn above), as [layer1, layer2, layer3, layer4].",
    (64, 128, 256, 512), {
        (64, 64, 128, 256): "those are the channels going *into* each stage; the question asks what comes out.",
        (512, 256, 128, 64): "the order is reversed: layer1 comes first and has the fewest channels.",
    }, lambda v: f"{list(v)} is not it: print `feats[name].shape` for each stage and read dimension 1.",
    read=_whole_numbers, what="a list of four whole numbers, e.g. [a, b, c, d]", steps=_CHANNEL_STEPS,
    examples=[((16, 32, 64, 128), "CifarResNet"), ((64, 128, 256), "four numbers"),
              ((64, 64, 64, 64), "each later stage doubles"), ((64.5, 128, 256, 512), "whole numbers"),
              (512, "list of four whole numbers")],
    hint="The feature maps above were drawn from `feats`: print feats[name].shape for each "
         "stage and read dimension 1 (N, C, H, W).",
    solution="answer = [64, 128, 256, 512]",
    praise="right: 64, 128, 256, 512. The channels double as the maps halve, and the later, "
           "smaller maps are the more abstract ones.",
)


# --- stride_speedup ---
stride_speedup = number_exercise(
    "stride_speedup",
    "Changing the stem's stride from 1 to 2 leaves the weights of ResNet-18 unchanged. By what "
    "factor does it cut the multiply-adds of one forward pass on a 32x32 image (almost all of "
    "them are in the convolutions)? Then compare your factor with the measured speed-up in the table.",
    (3.8, 4.05), {
        around(2, 0.1): "stride 2 halves the height *and* the width, so each map has a quarter of the positions.",
        around(0.25, 0.02): "0.25 is the fraction of the work left; the question asks for the factor "
                            "(how many times fewer).",
        around(16, 0.5): "the stride is applied once, in the stem; every later map is smaller by the same "
                         "factor as the stem's output, not by that factor again.",
        around(1, 0.1): "the weights are the same, but the work of a convolution grows with the number "
                        "of positions it visits.",
    }, "A convolution's multiply-adds are proportional to its output's height x width; by what factor "
       "does stride 2 in the stem shrink every later map?", what="one number (a factor such as 3 or 10)",
    hint="A convolution does (weights per position) x (output height x output width) multiply-adds. "
         "Every map after the stem has half the height and half the width.",
    solution="answer = 2 * 2  # every map after the stem has a quarter of the positions",
    praise="right: about 4x fewer multiply-adds (only the tiny fc layer is unchanged). The measured "
           "speed-up differs from 4 because time is not only arithmetic: memory traffic, caches and "
           "fixed per-layer overheads count too.",
)
