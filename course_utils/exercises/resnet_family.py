"""Exercises of ``04_resnet_family``: the bottleneck block, the shortcut options, pre-activation.

* ``bottleneck_weights``  the convolution weights of one bottleneck block on 256 channels
* ``projection_count``    how many blocks of ResNet-50 need a projection shortcut
* ``option_b_extra``      what the projections (option B) add to ResNet-20's parameters
* ``gradient_fraction``   the share of the input that a post-activation stack passes gradient to
"""
from __future__ import annotations

from course_utils.exercises import around, number_exercise

__all__ = ["bottleneck_weights", "gradient_fraction", "option_b_extra", "projection_count"]


# --- bottleneck_weights ---
bottleneck_weights = number_exercise(
    "bottleneck_weights",
    "How many weights do the three convolutions of `Bottleneck(256, 64)` hold together "
    "(1x1 from 256 to 64 channels, 3x3 from 64 to 64, 1x1 from 64 to 256; no biases, leave the "
    "batch norms out)? Work it out, then count it with `named_parameters()`.",
    69_632, {
        2 * 9 * 256 * 256: "that is a basic block working on 256 channels (two 3x3 convolutions, "
                           "256 -> 256): the block the bottleneck replaces.",
        9 * 64 * 64: "that is the 3x3 convolution alone; add the two 1x1 convolutions around it.",
        256 * 64 + 9 * 64 * 64: "the last 1x1 convolution, 64 -> 256 channels, has weights too.",
        256 * 64 + 9 * 64 * 64 + 64 * 64: "the last 1x1 convolution goes up to 4 x 64 = 256 channels, "
                                          "not to 64: that is what expansion = 4 means.",
        2 * 9 * 64 * 64: "that is a basic block on 64 channels: close to the bottleneck's count, which is "
                         "the point of the design, but count the bottleneck's own three convolutions.",
        70_400: "that includes the batch norms' 768 scales and shifts; count the convolutions only.",
        256 * 64 + 3 * 64 * 64 + 64 * 256: "a 3x3 kernel has 3 x 3 = 9 weights per input and output channel, not 3.",
    }, "A convolution holds k x k x C_in x C_out weights; add the three.",
    hint="1x1: 1 * 1 * 256 * 64. 3x3: 3 * 3 * 64 * 64. 1x1: 1 * 1 * 64 * 256. Then add them.",
    solution="answer = 256 * 64 + 9 * 64 * 64 + 64 * 256  # squeeze, 3x3, expand",
    praise="right: 16,384 + 36,864 + 16,384 = 69,632, about as many as a basic block on 64 channels "
           "(73,728) and 17 times fewer than a basic block on 256 (1,179,648).",
)


# --- projection_count ---
projection_count = number_exercise(
    "projection_count",
    "ResNet-50 has [3, 4, 6, 3] bottleneck blocks. In how many of these 16 blocks is the shortcut a "
    "1x1 projection rather than the identity? Reason it out, then count the blocks whose "
    "`downsample` is not None.",
    4, {
        3: "stage 1 keeps the size, but its first block receives the stem's 64 channels and puts out "
           "4 x 64 = 256: that changes the shape too.",
        16: "only a block whose input and output shapes differ needs a projection; the others add x itself.",
        0: "a block whose output has another shape than its input cannot add x as it is.",
        1: "every stage starts with a block that changes the shape, not only the first stage.",
        6: "count per stage, not per block of the largest stage: only the first block of a stage changes the shape.",
    }, "A block needs a projection where its output's shape differs from its input's: "
       "the first block of which stages?",
    hint="The first block of a stage receives the previous stage's width (the stem's 64 for stage 1) "
         "and puts out 4 x its channels; the other blocks receive exactly that.",
    solution="answer = 4  # the first block of each stage: 64 -> 256, then 256 -> 512 -> 1024 -> 2048 with stride 2",
    praise="right: the first block of each of the four stages. In ResNet-18 stage 1 needs none "
           "(64 channels in and out), so it has 3; the bottleneck's expansion adds one.",
)


# --- option_b_extra ---
option_b_extra = number_exercise(
    "option_b_extra",
    "ResNet-20 for CIFAR-10 (16, 32 and 64 channels) changes shape twice: 16 -> 32 channels and "
    "32 -> 64, each with stride 2. How many more parameters does it have with option B "
    "(a 1x1 convolution followed by a batch norm at each change) than with option A (zero padding)?",
    2_752, {
        16 * 32 + 32 * 64: "a batch norm follows each 1x1 convolution, with a scale and a shift per channel.",
        0: "option A has no parameters, but option B's 1x1 convolutions do.",
        16 * 32 + 2 * 32: "ResNet-20 changes shape twice: add the 32 -> 64 projection.",
        32 * 64 + 2 * 64: "ResNet-20 changes shape twice: add the 16 -> 32 projection.",
        16 * 32 + 4 * 32 + 32 * 64 + 4 * 64: "a batch norm's running mean and variance are buffers, not "
                                             "parameters: only its scale and shift are learnt.",
        9 * 16 * 32 + 2 * 32 + 9 * 32 * 64 + 2 * 64: "a projection is a 1x1 convolution: one weight per "
                                                     "input and output channel, not nine.",
    }, "Each projection is a 1x1 convolution (C_in x C_out weights, no bias) and a batch norm "
       "(2 x C_out); add the two projections.",
    hint="16 -> 32: 16 * 32 weights and 2 * 32 for its batch norm. 32 -> 64: 32 * 64 and 2 * 64.",
    solution="answer = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two projections, each a 1x1 conv and a BN",
    praise="right: 2,752 parameters, 1% of ResNet-20's 269,722. The paper found option B slightly more "
           "accurate on ImageNet; on CIFAR it used option A, which adds none.",
)


# --- gradient_fraction ---
gradient_fraction = number_exercise(
    "gradient_fraction",
    "Stack ten post-activation blocks whose residual branches all output zero, so that each block "
    "computes relu(x + 0). Feed it x = torch.randn(...) and backpropagate `out.sum()`. What fraction "
    "of the entries of x.grad are non-zero? Reason it out, then measure it.",
    (0.45, 0.55), {
        1: "1 is what the pre-activation stack gives: nothing follows its addition. Here every block ends in a ReLU.",
        0: "relu passes the gradient unchanged where its input is positive.",
        around(0.5 ** 10, 0.001): "after the first ReLU every value is >= 0, so the next nine ReLUs change "
                                  "nothing: relu(relu(x)) = relu(x).",
        around(0.25, 0.02): "one ReLU decides it, not two: after the first, every value is >= 0.",
    }, "The first ReLU zeroes the gradient where x < 0; what do the later ones do to values that "
       "are already >= 0? And how often is a standard normal number negative?",
    what="one fraction between 0 and 1", tolerance=0.0,
    hint="relu(relu(x)) = relu(x): only the first ReLU matters. Its gradient is 1 where x > 0 and 0 "
         "where x < 0. A standard normal number is positive half of the time.",
    solution="answer = 0.5  # the entries where x > 0; the later ReLUs see only values >= 0",
    praise="right: about half of the input gets no gradient at all through that stack, while a "
           "pre-activation stack passes a gradient of exactly 1 to every entry.",
)
