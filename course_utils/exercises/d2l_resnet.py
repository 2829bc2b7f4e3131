"""Exercises of ``09_fashion_mnist_resnet18_d2l``: d2l's ResNet-18 on 96x96 Fashion-MNIST.

* ``stem_size``          the side of the map that leaves d2l's stem for a 96x96 image (24)
* ``padding_matters``    an input size where the stem's padding 2 and 3 disagree
* ``projection_blocks``  which stages start with a 1x1-convolution shortcut (b3, b4, b5)
* ``conv_biases``        how many parameters the convolutions' biases add (4,800)
* ``examples_per_sec``   what ``d2l.train_ch6`` prints for a given timer reading
"""
from __future__ import annotations

from typing import Any

from course_utils.exercises import Exercise, around, as_number, number_exercise, table_exercise, when

__all__ = ["stem_size", "padding_matters", "projection_blocks", "conv_biases", "examples_per_sec"]


def _stem(n: int, padding: int) -> tuple[int, int]:
    """(after the 7x7/2 convolution, after the 3x3/2 max-pool with padding 1) for an n x n input."""
    conv = (n + 2 * padding - 7) // 2 + 1
    return conv, (conv + 2 * 1 - 3) // 2 + 1


# --- stem_size ---
_STEM_MISTAKES = {
    48: "48 is the convolution's output; the stem ends with a max-pool (3x3, stride 2, "
        "padding 1) that halves it again.",
    47: "47 is (96 + 2*3 - 7) / 2 = 47.5 floored, without the +1 of the formula and without "
        "the max-pool (or padding 2 without the max-pool). Finish both steps.",
    23: "one short: the max-pool has padding 1, and the formula ends with +1: "
        "floor((48 + 2*1 - 3) / 2) + 1.",
    22: "that leaves out both paddings (3 for the convolution, 1 for the max-pool).",
    12: "12 is after b3, whose first block halves again; the question asks what leaves the stem b1.",
    56: "56 is the answer for a 224x224 image; redo it for 96x96.",
    96: "the stem is not size-preserving: the convolution has stride 2 and so has the max-pool.",
    24.5: "sizes are whole numbers: each step floors (n + 2p - k) / s before adding 1.",
}

stem_size = number_exercise(
    "stem_size",
    "d2l's stem b1 is Conv2d(1, 64, kernel_size=7, stride=2, padding=3), BatchNorm, ReLU, "
    "MaxPool2d(kernel_size=3, stride=2, padding=1). A 96x96 image goes in: what is the height "
    "(= width) of the 64-channel map that comes out of b1? Work it out with the formula.",
    24, _STEM_MISTAKES, "Apply out = floor((n + 2p - k) / s) + 1 twice: the convolution (k=7, s=2, p=3), "
                        "then the max-pool (k=3, s=2, p=1).", what="one number, the height (= width) in pixels",
    hint="out = floor((n + 2*padding - kernel) / stride) + 1, once for the convolution "
         "(96 -> ?) and once for the max-pool.",
    solution="answer = 24  # conv: (96 + 6 - 7) // 2 + 1 = 48; max-pool: (48 + 2 - 3) // 2 + 1 = 24",
    praise="right: 96 -> 48 (convolution) -> 24 (max-pool); the stages then give 24, 12, 6, 3.",
)


# --- padding_matters ---
def _check_padding_matters(answer: Any) -> str | None:
    """A whole n in 90..100 for which the two stems end at different sizes."""
    value = as_number(answer)
    if value is None or value != int(value):
        return f"give one whole number between 90 and 100 (an input side in pixels), not {answer!r}."
    n = int(value)
    if not 90 <= n <= 100:
        return f"{n} is outside 90..100; pick a size in that range."
    (conv3, pool3), (conv2, pool2) = _stem(n, 3), _stem(n, 2)
    if pool3 == pool2:
        return (f"for {n}x{n} the convolution gives {conv3} (padding 3) and {conv2} (padding 2), "
                f"but the max-pool turns both into {pool3}. The pool computes floor((c - 1) / 2) + 1: "
                "for which c do c and c - 1 give different results?")
    return None


padding_matters = Exercise(
    "padding_matters",
    "A stem you will meet uses padding=2 where d2l uses padding=3, and both give 56 for 224 and "
    "24 for 96 after the max-pool. Find an input size n between 90 and 100 for which the two "
    "paddings give DIFFERENT sizes after the max-pool. `answer = n`.",
    _check_padding_matters,
    hint="Padding 2 makes the convolution's output one pixel smaller than padding 3 does. Work "
         "out both stems with the formula for a few n in the range: when does the max-pool "
         "(3x3, stride 2, padding 1) keep that one-pixel difference, and when does it absorb it?",
    solution="answer = 98  # conv: 49 (padding 3) vs 48 (padding 2); pool: 25 vs 24. "
             "Also 90, 93, 94 and 97: every n whose convolution output c is odd.",
    praise="right: here the two stems end one pixel apart after the pool. No input pixel is "
           "lost with padding 2: its grid of 7x7 windows starts one pixel further in, and fits one "
           "stride-2 step fewer. The sizes agree when n is 0 or 3 more than a multiple of 4 "
           "(224, 96, 99), which is why the difference often goes unnoticed.",
    mistakes=[(96, "the max-pool turns both into 24"), (92, "the max-pool turns both into"),
              (101, "outside 90..100"), (98.5, "give one whole number"), ("ninety-eight", "give one whole number")],
)


# --- projection_blocks ---
_BLOCK_NAMES = ("b1", "b2", "b3", "b4", "b5")


def _block_set(answer: Any) -> frozenset[str] | None:
    """{'b3', ...} from a list/tuple/set of names ('b3') or stage numbers (3), else None."""
    if isinstance(answer, (str, int)):
        answer = [answer]
    if not isinstance(answer, (list, tuple, set, frozenset)):
        return None
    names = [f"b{item}" if isinstance(item, int) and not isinstance(item, bool) else item for item in answer]
    if not all(isinstance(name, str) and name.strip().lower() in _BLOCK_NAMES for name in names):
        return None
    return frozenset(name.strip().lower() for name in names)


def _not_block_names(answer: Any) -> str:
    """What to say about an answer that is no list of stage names."""
    if isinstance(answer, (list, tuple, set)) and any("layer" in str(a) for a in answer):
        return ("those are torchvision's names (layer1-layer4); this network's stages are "
                "b2-b5, after the stem b1: give names such as 'b2'.")
    return f"give a list of stage names from 'b1'..'b5' (e.g. ['b2']), not {answer!r}."


_RIGHT_BLOCKS = frozenset({"b3", "b4", "b5"})
_BLOCK_STEPS = [
    when(lambda names: "b1" in names,
         "b1 is the stem (convolution, BN, ReLU, max-pool): it has no residual block, so no shortcut."),
    when(lambda names: "b2" in names,
         "b2 keeps 64 channels and the size the max-pool left (first_block=True), so its "
         "shortcut adds x as it is. (If you meant torchvision's layer2-layer4: here they are b3-b5.)"),
]

projection_blocks = table_exercise(
    "projection_blocks",
    "The network is Sequential(b1, b2, b3, b4, b5, avgpool, flatten, fc). In which of the "
    "stages does a Residual block use the 1x1 convolution (conv3) on its shortcut? "
    "`answer = [...]`, a list of names such as 'b2'.",
    _RIGHT_BLOCKS, {},
    lambda names: (f"{', '.join(sorted(_RIGHT_BLOCKS - names))} also doubles the channels and halves the "
                   "size in its first block, so x must be projected there too (use_1x1conv=True, strides=2)."),
    read=_block_set, what=_not_block_names, steps=_BLOCK_STEPS,
    examples=[(["b2", "b3", "b4", "b5"], "b2 keeps 64 channels"), (["b3", "b4"], "b5 also doubles"),
              (["b1", "b3"], "b1 is the stem"), (["layer2", "layer3", "layer4"], "torchvision's names"),
              ("fc", "list of stage names")],
    hint="x can be added to F(x) only when both have the same shape. Which stages change the "
         "channel count or the height and width? Print net.b2 and net.b3 to check.",
    solution="answer = ['b3', 'b4', 'b5']  # the first block of each: 64->128, 128->256, 256->512 "
             "channels, stride 2",
    praise="right: only the first block of b3, b4 and b5 changes the shape; every other block adds x as it is.",
)


# --- conv_biases ---
_BIASES = 64 + 2 * (64 + 64) + (3 * 128 + 2 * 128) + (3 * 256 + 2 * 256) + (3 * 512 + 2 * 512)  # 4,800
_SHORTCUT_BN = 2 * (128 + 256 + 512)  # 1,792: weight and bias of the shortcut BNs in resnet18

_BIAS_MISTAKES = {
    _BIASES - (128 + 256 + 512): "you left out the three 1x1 projection convolutions "
                                 "(in b3, b4 and b5): they have biases too, 128 + 256 + 512.",
    _BIASES - 64: "you left out the stem's convolution (64 output channels, so 64 biases).",
    _BIASES + 10: "the linear layer's 10 biases are in both networks; count only the convolutions'.",
    _BIASES - _SHORTCUT_BN: "3,008 is the whole gap between the two networks: the biases minus "
                            "the 1,792 parameters of the BatchNorms that resnet18 has on its "
                            "shortcuts and d2l has not. The question asks for the biases alone.",
    2 * _BIASES: "a convolution has one bias per output channel, not two: you may have counted "
                 "BatchNorm's weight and bias instead.",
    _BIASES - 2 * (64 + 128 + 256 + 512): "you counted one 3x3 convolution per block; each of the "
                                          "eight blocks has two (conv1 and conv2).",
}

conv_biases = number_exercise(
    "conv_biases",
    "d2l's ResNet-18 keeps a bias in every convolution; torchvision-style models (resnet18 in "
    "course_utils.models) drop them. How many parameters are these convolution biases, in "
    "the whole d2l network? Count them by hand: the stem, the 16 3x3 convolutions of the "
    "eight blocks, and the 1x1 projections.",
    _BIASES, _BIAS_MISTAKES, "Each Conv2d with a bias has one per output channel: add up the output "
                             "channels of the stem, of both 3x3 convolutions of all eight blocks, and "
                             "of the three 1x1 projections.", what="one number (an int)",
    hint="A Conv2d has one bias per output channel. List every convolution with its "
         "out_channels: the stem, the two in each Residual block (two blocks per stage), and "
         "the 1x1 ones in the stages that change the shape (print(net) shows them all).",
    solution="answer = 64 + 2*2*64 + (2*2*128 + 128) + (2*2*256 + 256) + (2*2*512 + 512)  # 4,800",
    praise="right: 4,800 biases. resnet18(stem='imagenet') has none of them but 1,792 BatchNorm "
           "parameters on its shortcuts, so d2l's network is 4,800 - 1,792 = 3,008 larger.",
)


# --- examples_per_sec ---
_EPOCHS, _TRAIN, _SECONDS, _BATCH = 10, 60_000, 254.5, 256
_RIGHT_SPEED = _EPOCHS * _TRAIN / _SECONDS  # 2357.56...
_BATCHES = -(-_TRAIN // _BATCH)  # 235, the last one holding 96 images


def _near(value: float) -> tuple[float, float]:
    """The interval within 1% of ``value``."""
    return around(value, 0.01 * value)


#: Known wrong rates, each within 1%, and what each one means.
_SPEED_MISTAKES = {
    (_RIGHT_SPEED - 1, _RIGHT_SPEED - 0.5): (
        f"that is close, but round rather than cut off the decimals: {_EPOCHS * _TRAIN:,} / {_SECONDS} "
        f"= {_RIGHT_SPEED:.2f}."),
    _near(_TRAIN / _SECONDS): "that is one epoch's examples over the time of all ten: multiply by the 10 epochs.",
    _near(_EPOCHS * _BATCHES * _BATCH / _SECONDS): (
        "you counted 235 full batches of 256; the last batch holds only 96 images "
        "(60,000 = 234 x 256 + 96). d2l adds up X.shape[0], the images really seen."),
    _near(_EPOCHS * 70_000 / _SECONDS): (
        "you added the 10,000 test images: the timer runs only around training batches, "
        "and d2l counts only training examples."),
    _near(_EPOCHS * _BATCHES / _SECONDS): "that is batches per second; d2l reports examples (images) per second.",
    _near(_SECONDS / (_EPOCHS * _TRAIN)): "that is seconds per example, upside down: examples divided by seconds.",
}

examples_per_sec = number_exercise(
    "examples_per_sec",
    "A d2l run trains for 10 epochs on the 60,000 Fashion-MNIST training images in batches of "
    "256, and its Timer sums to 254.5 seconds. What does train_ch6 print as 'examples/sec' "
    "(one decimal)? Read the last print of train_ch6's source.",
    around(_RIGHT_SPEED, 0.5), _SPEED_MISTAKES,  # 2357.6 as printed, 2358 rounded, 2357.56...
    "d2l prints metric[2] * num_epochs / timer.sum(): the training examples of one epoch, "
    "times the epochs, over the timer's total.", what="one number (examples per second)",
    hint="Find what metric[2] and timer.sum() count in train_ch6's source: one epoch or all of "
         "them? The printed rate must be examples over seconds of the same span.",
    solution="answer = 60_000 * 10 / 254.5  # 2357.6 examples/sec",
    praise="right: 2357.6 examples/sec. It leaves out the time the loader "
           "spends preparing batches and the test-set evaluation, so a whole epoch takes longer "
           "than 60,000 / 2357.6 = 25.4 s.",
)
