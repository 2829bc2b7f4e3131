"""Exercises of ``05_cifar_degradation``: the paper's CIFAR-10 networks and their training recipe.

* ``blocks_in_resnet56``  how many basic blocks a depth of 56 = 6n + 2 means
* ``paper_epochs``        how many passes over the training split the paper's 64,000 steps are
* ``lr_at_step``          the learning rate of the paper's schedule at a given step
"""
from __future__ import annotations

from course_utils.exercises import around, number_exercise

__all__ = ["blocks_in_resnet56", "lr_at_step", "paper_epochs"]


# --- blocks_in_resnet56 ---
blocks_in_resnet56 = number_exercise(
    "blocks_in_resnet56",
    "The paper's CIFAR-10 networks have depth 6n + 2: a 3x3 convolution, three stages of n basic "
    "blocks (two 3x3 convolutions each) and the linear layer. How many basic blocks does "
    "ResNet-56 have in all?",
    27, {
        9: "9 is n, the blocks of one stage; there are three stages.",
        28: "56 / 2 counts the first convolution and the linear layer as a block: take them away first.",
        54: "54 is the number of convolutions inside the blocks; each block holds two.",
        18: "three stages of n blocks: n = (56 - 2) / 6 = 9, so 3 x 9.",
        56: "56 counts layers with weights; a block holds two of them.",
    }, "Solve 6n + 2 = 56 for n, the blocks per stage, then count the stages.",
    hint="56 - 2 = 54 layers sit in the blocks, two per block.",
    solution="answer = 3 * (56 - 2) // 6  # three stages of n = 9 blocks",
    praise="right: n = 9 blocks per stage, 27 blocks, 54 convolutions, plus the first convolution and "
           "the linear layer: 56 layers. The plain-56 network has the same 27 pairs of convolutions, "
           "without the 27 additions.",
)


# --- paper_epochs ---
paper_epochs = number_exercise(
    "paper_epochs",
    "The paper trains on 45,000 of CIFAR-10's training images (5,000 are held out for validation) "
    "in batches of 128, and stops after 64,000 steps. How many passes over the 45,000 images "
    "(epochs) is that? One decimal is enough.",
    (181.5, 182.5), {
        around(163.84, 0.5): "5,000 of the 50,000 training images are held out: the network trains on 45,000.",
        500: "64,000 / 128 divides the steps by the batch size; multiply them instead: 128 images a step.",
        around(351.6, 1): "that is the number of steps in one epoch (45,000 / 128); divide 64,000 by it.",
        8_192_000: "that is the number of images seen; divide by the 45,000 of one pass.",
        around(0.0055, 0.001): "turn the fraction the other way up: images seen / images per pass.",
    }, "Images seen = steps x batch size; one epoch is one pass over 45,000 images.",
    what="one number (epochs)",
    hint="64,000 x 128 images are seen in all; divide by the 45,000 images of one pass.",
    solution="answer = 64_000 * 128 / 45_000  # images seen / images per pass",
    praise="right: about 182 epochs. At CIFAR-10's size a GPU takes an hour or so for ResNet-56; "
           "a class run sees a few hundred steps, the start of the paper's curves.",
)


# --- lr_at_step ---
lr_at_step = number_exercise(
    "lr_at_step",
    "The paper starts at a learning rate of 0.1 and divides it by 10 at step 32,000 and again at "
    "step 48,000. What is the learning rate at step 40,000?",
    0.01, {
        0.1: "step 40,000 is past the first division, at 32,000.",
        0.001: "the second division comes at step 48,000, after step 40,000.",
        0.05: "the rate is divided by 10 at each milestone, not halved.",
        0.09: "it is divided by 10, not lowered by a tenth of itself.",
    }, "Count the milestones (32,000 and 48,000) that step 40,000 has passed; divide 0.1 by 10 for each.",
    what="one number (a learning rate)", tolerance=1e-6,
    hint="40,000 is between 32,000 and 48,000: one division has happened.",
    solution="answer = 0.1 / 10  # one milestone passed (32,000), not yet the second (48,000)",
    praise="right: 0.01. In PyTorch this schedule is torch.optim.lr_scheduler.MultiStepLR(optimizer, "
           "milestones=[32_000, 48_000], gamma=0.1), stepped once per batch.",
)
