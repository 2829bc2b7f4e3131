"""Exercises of ``10_visualizing_residual_connections``: what the skip connections do.

* ``count_adds``      how many skip connections (``AddBackward0`` nodes) ResNet-18 has
* ``sum_norm``        how much a small branch F(x) changes the norm of x + F(x)
* ``unrolled_paths``  how many paths run through a ResNet unrolled as Veit et al. unroll it
* ``plain_lesions``   how many blocks of a plain network can be deleted one at a time
"""
from __future__ import annotations

import math

from course_utils.exercises import around, number_exercise

__all__ = ["count_adds", "sum_norm", "unrolled_paths", "plain_lesions"]


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


# --- sum_norm ---
_SUM_NORM = math.sqrt(10**2 + 1**2)  # 10.0499

sum_norm = number_exercise(
    "sum_norm",
    "A block's shortcut carries x with norm ||x|| = 10, and its branch adds F(x) with norm 1 "
    "(a ratio ||F(x)|| / ||x|| of 0.1), at right angles to x (their dot product is 0). What is "
    "the norm of x + F(x)?",
    around(_SUM_NORM, 0.006), {
        11: "norms add up only when the two vectors point the same way; these are at right angles.",
        9: "norms subtract only when the two vectors point in opposite directions; these are at right angles.",
        10: "F(x) does change the sum, a little: at right angles, the squares of the norms add up.",
        101: "101 is the squared norm ||x||^2 + ||F(x)||^2; take its square root.",
        0.1: "0.1 is the ratio ||F(x)|| / ||x||; the question asks for the norm of the sum.",
    }, "At right angles, the squares of the norms add up (Pythagoras): ||x + F(x)||^2 = ||x||^2 + ||F(x)||^2.",
    hint="Draw x and F(x) as the two short sides of a right triangle: x + F(x) is the long side.",
    solution="answer = math.sqrt(10**2 + 1**2)  # Pythagoras: about 10.05",
    praise="right: sqrt(101), about 10.05. A branch a tenth the size of its input changes the norm by "
           "half a percent and turns the direction by under 6 degrees: such a block is close to the "
           "identity, and deleting it changes little.",
)


# --- unrolled_paths ---
_PATHS_MISTAKES = {
    9: "9 counts the blocks. Each block offers two ways through (its branch F or its skip), and the "
       "choices of all the blocks combine.",
    18: "two ways through each block, but the choices multiply rather than add: 2 x 2 x ... x 2.",
    10: "the paths are not 'skip everything' plus one per block: every combination of branches is a path.",
    2**8: "2**8 is right for 8 blocks; ResNet-20 has 9 (three stages of three).",
    2**10: "2**10 would need 10 blocks; ResNet-20 has 9 (three stages of three).",
    20: "20 counts the layers with weights (19 convolutions and the linear layer), not the paths.",
    81: "9**2 multiplies the blocks by themselves; each block doubles the number of paths instead.",
}

unrolled_paths = number_exercise(
    "unrolled_paths",
    "ResNet-20 (`CifarResNet(20)`) has 9 residual blocks. Unrolled as Veit et al. unroll it, each "
    "block either applies its branch F or lets the input through its shortcut, and a path from the "
    "input to the output is one such choice per block. How many paths are there? (A block that "
    "changes the shape counts like any other: its shortcut is a way through too.)",
    2**9, _PATHS_MISTAKES, "Each block doubles the number of paths that reach it.",
    what="one number (a count of paths)",
    hint="One block: two paths (F or the skip). Two blocks in a row: each of those two continues in "
         "two ways. Go on to 9.",
    solution="answer = 2 ** 9  # two ways through each of the 9 blocks",
    praise="right: 2**9 = 512 paths, of lengths 0 to 9 blocks, most of them of middle length (126 "
           "go through exactly 4 branches and 5 skips). Deleting one block removes the 256 that pass "
           "through its branch and leaves the other 256 intact.",
)


# --- plain_lesions ---
_PLAIN_MISTAKES = {
    9: "the first blocks of layer2 and layer3 halve the size and double the channels; the identity "
       "cannot take their place, so the network would no longer run.",
    8: "two blocks change the shape, layer2.0 and layer3.0 (16 -> 32 and 32 -> 64 channels); only those two stay.",
    6: "layer1's first block keeps the shape too: the stem already outputs 16 channels at 32x32.",
    3: "only the first block of a stage can change the shape, and layer1's does not: count the blocks that keep it.",
    0: "a plain block that keeps the shape can be replaced by the identity: the network still runs, "
       "with one block fewer.",
}

plain_lesions = number_exercise(
    "plain_lesions",
    "In the plain network `CifarResNet(20, shortcut='none')` a block has no shortcut, so deleting "
    "it means putting the identity in its place, which works only where the block's output has its "
    "input's shape. How many of its 9 blocks can be deleted, one at a time?",
    7, _PLAIN_MISTAKES, "Go through the three stages of three blocks: which blocks change the number of "
                        "channels or the size of the maps?", what="one number (a count of blocks)",
    hint="The stem outputs 16 channels at 32x32. layer1 keeps 16 channels; layer2 and layer3 double the "
         "channels and halve the size, each in its first block.",
    solution="answer = 9 - 2  # layer2.0 and layer3.0 change the shape",
    praise="right: 7. In the ResNet all 9 can go, since even a block that changes the shape keeps its "
           "shortcut: `removable_blocks` lists them.",
)
