"""Exercises of ``01_conv2d_output_size``: the output-size formula, by hand and in code.

* ``output_size``         AlexNet's first convolution on a 224x224 image, by hand (55)
* ``conv_out``            write the formula as a function; checked against real ``nn.Conv2d``
* ``stride_padding``      a (stride, padding) that maps 32 -> 16 with a 3x3 kernel
* ``dilated_padding``     the padding that keeps the size for a 3x3 kernel with dilation 2
* ``linear_in_features``  the Linear layer's in_features after the CIFAR-10 conv stack on 64x64
* ``mult_adds``           the multiply-adds of ResNet-18's halving 3x3 convolution (57,802,752)
* ``stem_receptive_field`` the receptive field of ResNet's stem and two 3x3 convolutions (27)

Every check compares with what PyTorch itself computes (torchinfo's multiply-adds,
the gradient of one output pixel), and names the usual slips: rounding up instead
of down, forgetting the ``+ 1``, padding one side only (``p`` instead of ``2p``),
forgetting the dilation, the input channels, the square of the kernel, or that a
stride spaces out every later layer's taps.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import torch
from torch import nn

from course_utils.exercises import Exercise, not_a_length, number_exercise

__all__ = ["output_size", "conv_out", "stride_padding", "dilated_padding", "linear_in_features",
           "mult_adds", "stem_receptive_field"]

#: The formula, as the checks quote it.
FORMULA = "out = floor((n + 2p - d(k - 1) - 1) / s) + 1"


def _real_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """The output height of a real ``nn.Conv2d`` on an ``n x n`` input: the ground truth."""
    conv = nn.Conv2d(1, 1, kernel_size=k, stride=s, padding=p, dilation=d, bias=False)
    with torch.no_grad():
        return conv(torch.zeros(1, 1, n, n)).shape[-1]


# --- output_size ---
_OUTPUT_SIZE_MISTAKES = {
    55.25: "you did not round down. 217 / 4 = 54.25 windows do not exist: only whole windows "
           "count, so take floor(217 / 4) = 54, then add 1.",
    56: "you rounded up (ceil), or divided 224 by the stride alone. Round down: a last window "
        "that would stick out past the padded input is dropped, and the kernel takes up 11 pixels.",
    54: "one short. Three slips give 54: forgetting the + 1 (the first window sits at position 0 "
        "and is counted too), padding one side only (p instead of 2p: the padding is on both "
        "sides), or no padding at all.",
    57: "you forgot to subtract the kernel: (224 + 4) / 4 = 57 counts the positions where a window "
        "could *start*, but the last ones would stick out. Use n + 2p - k.",
    54.25: "you neither rounded down nor added 1: floor(54.25) + 1.",
    218: "that is the size for stride 1; with stride 4 the window jumps 4 pixels at a time: divide "
         "its sliding room by 4.",
    214: "that is the size for stride 1 and no padding; with stride 4 the window jumps 4 pixels at "
         "a time, and the padding adds 2 pixels on each side.",
}

output_size = number_exercise(
    "output_size",
    "torchvision's AlexNet starts with nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2) "
    "on a 3x224x224 image. Work out by hand (pencil, not PyTorch) the height of its output.",
    55, _OUTPUT_SIZE_MISTAKES, f"Substitute n = 224, k = 11, s = 4, p = 2, d = 1 into {FORMULA}.",
    what="one number (the height, which equals the width)",
    hint="Use the formula with d = 1. The padding is added on both sides of the image, and the "
         "floor comes before the + 1.",
    solution="answer = (224 + 2 * 2 - 11) // 4 + 1  # floor(217 / 4) + 1 = 54 + 1 = 55",
    praise="right: floor((224 + 4 - 11) / 4) + 1 = 55. (The AlexNet paper says its input is 224, "
           "but its 55 only comes out exactly with 227 and no padding: (227 - 11) / 4 + 1 = 55. "
           "torchvision pads by 2 instead and lets the floor absorb the rest.)",
)


# --- conv_out ---
#: The grid the learner's function is compared on: (n, k, s, p, d), every one a valid layer.
_GRID = [(n, k, s, p, d)
         for n in (2, 5, 8, 13, 32)
         for k in (1, 2, 3, 5)
         for s in (1, 2, 3)
         for p in (0, 1, 2)
         for d in (1, 2, 3)
         if n + 2 * p >= d * (k - 1) + 1]


@lru_cache(maxsize=1)
def _truth() -> dict[tuple[int, int, int, int, int], int]:
    """What real ``nn.Conv2d`` layers give on the whole grid (computed once, in well under a second)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny layers: threads only add overhead
    try:
        return {case: _real_size(*case) for case in _GRID}
    finally:
        torch.set_num_threads(threads)


#: The usual slips in writing the formula, and what each one gets wrong.
_SLIPS = {
    "span=k": "it forgets the dilation: a k x k kernel with dilation d spans d(k - 1) + 1 pixels, "
              "so subtract d(k - 1) + 1, not k",
    "span=dk": "it treats a dilated kernel as d * k pixels wide: its k taps have d - 1 gaps between "
               "them, so it spans d(k - 1) + 1",
    "span=d(k-1)": "it subtracts d(k - 1), one pixel too few: the kernel itself covers d(k - 1) + 1 "
                   "pixels (k pixels when d = 1), all of which must fit",
    "ceil": "it rounds up (ceil): PyTorch rounds down, because a last window that would stick out "
            "past the padded input is dropped, not counted",
    "no+1": "it forgets the + 1: floor(...) counts the steps of the window, and its starting "
            "position is one more output",
    "pad=p": "it uses p instead of 2p: the padding is added on both sides (top and bottom, left and right)",
    "pad=0": "it ignores the padding: the window slides over the padded input, n + 2p pixels wide",
    "no-stride": "it ignores the stride: the window jumps s pixels at a time, so divide its "
                 "sliding room by s (and round down)",
}


def _with_slips(slips: tuple[str, ...]) -> Callable[..., int]:
    """The output-size formula with some of the usual slips made: what such a function returns."""
    def size(n: int, k: int, s: int, p: int, d: int) -> int:
        """The output size as a function with these slips computes it."""
        span = d * (k - 1) + 1
        if "span=k" in slips:
            span = k
        elif "span=dk" in slips:
            span = d * k
        elif "span=d(k-1)" in slips:
            span = d * (k - 1)
        pad = p if "pad=p" in slips else 0 if "pad=0" in slips else 2 * p
        room, step = n + pad - span, 1 if "no-stride" in slips else s
        steps = -(-room // step) if "ceil" in slips else room // step
        return steps if "no+1" in slips else steps + 1
    return size


def _slip_sets() -> list[tuple[str, ...]]:
    """One or two slips at a time (two compatible ones: not two ways of writing the same term)."""
    singles = [(slip,) for slip in _SLIPS]
    term = lambda slip: slip.split("=")[0]
    pairs = [(a, b) for i, a in enumerate(_SLIPS) for b in list(_SLIPS)[i + 1:] if term(a) != term(b)]
    return singles + pairs


def _check_conv_out(fn: Any) -> str | None:
    """Compare ``fn`` with real layers on the grid; name the slip (or the first wrong layer), then the defaults."""
    if not callable(fn):
        return f"conv_out should be a function, not {type(fn).__name__}."
    truth = _truth()
    got = {case: fn(*case) for case in truth}  # NotImplementedError reaches Exercise.check
    floats = [(case, v) for case, v in got.items() if isinstance(v, float)]
    if floats:
        case, v = next(((c, v) for c, v in floats if v != int(v)), floats[0])
        if v != int(v):
            return (f"conv_out{case} returned {v}, a fraction: you divided with / and did not "
                    "round down. Use // (floor division), since only whole windows count.")
        return (f"conv_out{case} returned {v!r}, a float: sizes are whole numbers (torch.zeros(1, {v}) "
                "fails). Use // rather than / and int().")
    bad = [case for case in truth if got[case] != truth[case]]
    if bad:
        for slips in _slip_sets():
            wrong = _with_slips(slips)
            if all(got[case] == wrong(*case) for case in truth):
                return "; and ".join(_SLIPS[slip] for slip in slips) + "."
        # show the most ordinary failing layer: no dilation, stride 1, no padding, a large n first
        n, k, s, p, d = case = min(bad, key=lambda c: (c[4], c[2], c[3], -c[0], c[1]))
        return (f"conv_out({n}, {k}, s={s}, p={p}, d={d}) returned {got[case]!r}, but "
                f"nn.Conv2d(1, 1, {k}, stride={s}, padding={p}, dilation={d}) turns {n}x{n} into "
                f"{truth[case]}x{truth[case]}{_where_wrong(bad)}. The formula: {FORMULA}.")
    defaults = fn(10, 3)
    if defaults != 8:
        return (f"conv_out(10, 3) returned {defaults!r}, not 8: the defaults should be those of "
                "nn.Conv2d, s=1, p=0, d=1.")
    return None


def _where_wrong(bad: list[tuple[int, int, int, int, int]]) -> str:
    """A clue from where the learner's function goes wrong: only with dilation, stride or padding."""
    for index, what, neutral in ((4, "dilation d > 1", 1), (2, "stride s > 1", 1), (3, "padding p > 0", 0)):
        if all(case[index] != neutral for case in bad):
            return f" (it is right everywhere except with {what}: look at that term)"
    return ""


conv_out = Exercise(
    "conv_out",
    "Write conv_out(n, k, s=1, p=0, d=1): the output height of nn.Conv2d with kernel k, stride s, "
    "padding p and dilation d on an input of height n. The check compares it with real "
    f"nn.Conv2d layers on {len(_GRID)} combinations.",
    _check_conv_out,
    hint="Three questions: how wide is a kernel of k taps with d - 1 gaps between neighbours? "
         "How much room does the padded input leave it? How many whole strides fit in that room, "
         "counting the starting position? Test it on a case you can count by hand.",
    solution="def conv_out(n, k, s=1, p=0, d=1):\n"
             "    return (n + 2 * p - d * (k - 1) - 1) // s + 1",
    praise="right: your formula agrees with nn.Conv2d on every combination.",
    answer_name="conv_out",
    mistakes=[*((_with_slips((slip,)), why) for slip, why in _SLIPS.items()), (55, "should be a function")],
)


# --- stride_padding ---
def _whole(value: Any) -> bool:
    """Whether ``value`` is a whole number of pixels (``2`` or ``2.0``; not ``True``, not ``0.5``)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and float(value).is_integer())


def _stride_padding_size(stride: int, padding: int) -> int:
    """The output size of the exercise's layer (3x3 kernel, 32x32 input) for ``stride`` and ``padding``."""
    return (32 + 2 * padding - 3) // stride + 1


def _check_stride_padding(answer: Any) -> str | None:
    """A pair of whole numbers that gives 16; else what the pair gives and which way to change it."""
    if isinstance(answer, dict):
        answer = (answer.get("stride"), answer.get("padding"))
    try:
        stride, padding = answer
    except (TypeError, ValueError):
        return f"give a pair (stride, padding), e.g. (1, 0), not {answer!r}."
    if not (_whole(stride) and _whole(padding)):
        return (f"stride and padding are whole numbers of pixels; {answer!r} is not. "
                "(A half pixel of padding does not exist: choose a stride that makes the sizes work.)")
    stride, padding = int(stride), int(padding)
    if stride < 1 or padding < 0:
        return f"the stride must be at least 1 and the padding at least 0, not {answer!r}."
    out = _stride_padding_size(stride, padding)
    if out == 16:
        return None
    if stride == 1:
        if padding >= 1 and _stride_padding_size(padding, stride) == 16:
            return (f"(stride 1, padding {padding}) gives {out}. Did you swap them? The answer is "
                    "(stride, padding), in that order.")
        return (f"stride 1 gives {out}: with stride 1 a 3x3 window moves one pixel at a time and "
                "shrinks 32 by at most 2. Halving takes a stride of 2.")
    if stride == 2 and padding == 0:
        return ("stride 2 without padding gives 15: the window has 32 - 3 = 29 pixels of room, "
                "floor(29 / 2) + 1 = 15. A little padding gives the last window the room it needs.")
    if stride == 2:
        return (f"stride 2 is right, but padding {padding} gives {out}: the padded input is too "
                "wide. Try a smaller padding.")
    return (f"(stride {stride}, padding {padding}) gives {out}, not 16. Which stride halves the size? "
            "Then solve the formula for the padding.")


stride_padding = Exercise(
    "stride_padding",
    "A layer nn.Conv2d(32, 64, kernel_size=3, stride=?, padding=?) should turn 32x32 maps into "
    "16x16 maps. Give (stride, padding).",
    _check_stride_padding,
    hint="Halving the size takes a window that jumps 2 pixels at a time. With that stride, try "
         "small paddings in the formula until it gives 16.",
    solution="answer = (2, 1)  # floor((32 + 2 - 3) / 2) + 1 = floor(15.5) + 1 = 16",
    praise="right: that layer gives 16x16. (2, 1) is what every ResNet uses to halve a map "
           "(conv3x3 with stride 2), and the only pair with padding smaller than the kernel; "
           "stride 3 with padding 8 or 9 also gives 16, but most of its windows would see only zeros.",
    mistakes=[((1, 0), "stride 1 gives 30"), ((1, 2), "Did you swap them?"), ((2, 0), "gives 15"),
              ((2, 3), "Try a smaller padding"), ((2, 0.5), "whole numbers"), ((0, 1), "at least 1"),
              ((4, 1), "gives 8, not 16"), (16, "give a pair (stride, padding)")],
)


# --- dilated_padding ---
_DILATED_MISTAKES = {
    1: "1 is the 'same' padding of an ordinary 3x3 kernel; with dilation 2 the kernel spans "
       "d(k - 1) + 1 = 5 pixels, like a 5x5 one.",
    4: "4 = d(k - 1) is the total padding needed; it is split between the two sides, so each gets half.",
    3: "3 treats the kernel as d * k = 6 pixels wide; with dilation 2 its 3 taps span "
       "d(k - 1) + 1 = 5 pixels.",
    5: "5 is the span of the dilated kernel; the padding on each side is (span - 1) / 2.",
}


def _not_same(answer: Any) -> str | None:
    """The message for ``'same'``, PyTorch's name for the padding asked, else None."""
    if isinstance(answer, str) and answer.strip().lower() == "same":
        return ("padding='same' works in PyTorch (for stride 1), but give the number it "
                "computes for this layer.")
    return None


def _dilated_otherwise(value: float) -> str:
    """What an unknown padding gives instead of 32x32, measured on a real layer."""
    if value != int(value):
        return f"{value!r} is not a whole number of pixels; solve n = n + 2p - d(k - 1) for p."
    size = _real_size(32, 3, 1, int(value), 2)
    return f"padding {int(value)} gives {size}x{size} maps, not 32x32. Solve n = n + 2p - d(k - 1) for p."


dilated_padding = number_exercise(
    "dilated_padding",
    "A dilated convolution nn.Conv2d(64, 64, kernel_size=3, dilation=2, padding=?) with stride 1 "
    "should keep 32x32 maps 32x32. Which padding does that?",
    2, _DILATED_MISTAKES, _dilated_otherwise, before=_not_same,
    hint="With stride 1 the formula is out = n + 2p - d(k - 1). Set out = n and solve for p.",
    solution="answer = 2 * (3 - 1) // 2  # p = d(k - 1) / 2 = 2",
    praise="right: p = d(k - 1) / 2 = 2. A 3x3 kernel with dilation 2 covers 5x5 pixels, so it "
           "needs the padding of a 5x5 kernel.",
)


# --- linear_in_features ---
_LINEAR_MISTAKES = {
    1024: "1024 = 64 x 4 x 4 is for a 32x32 input. This input is 64x64: every map is twice as high "
          "and wide, so the flattened vector is 4 times longer.",
    16384: "that is 64 x 16 x 16: there are three max-pools, each halving (64 -> 32 -> 16 -> 8).",
    65536: "that is 64 x 32 x 32: there are three max-pools, each halving (64 -> 32 -> 16 -> 8).",
    262144: "that is 64 x 64 x 64: the max-pools halve the maps three times (64 -> 32 -> 16 -> 8).",
    64: "that is 8 x 8, one channel's map; the last convolution has 64 channels, and "
        "Flatten keeps them all: channels x height x width.",
    8: "8 is the height (and width) of the last maps; Flatten multiplies channels x height x width.",
    192: "that is 3 x 8 x 8: the 3 is the image's channels, but the last convolution has 64 output channels.",
    2048: "that is 32 x 8 x 8: the last convolution has 64 output channels, not 32.",
    512: "that is 64 x 8: flatten multiplies channels, height *and* width.",
}

linear_in_features = number_exercise(
    "linear_in_features",
    "Feed the CIFAR-10 model (conv 5x5 p2 -> pool 2, three times, with 32, 32, 64 channels) a "
    "3x64x64 image instead of 3x32x32. What must the first Linear layer's in_features be?",
    4096, _LINEAR_MISTAKES, "Follow the height: each 5x5 convolution with padding 2 keeps it, each "
                            "max-pool halves it; then multiply the 64 channels by the final height and width.",
    before=not_a_length,
    hint="The convolutions keep the height, each of the three max-pools halves it: 64 -> ? -> ? -> ?. "
         "Flatten then gives channels x height x width numbers per image.",
    solution="answer = 64 * (64 // 2 // 2 // 2) ** 2  # 64 channels x 8 x 8 = 4096",
    praise="right: 64 x 8 x 8 = 4096. The convolutions do not care about the image size, but the "
           "Linear layer does: this is why nn.Linear(1024, 64) fails on 64x64 images, and why "
           "ResNet ends with a global average pool instead.",
)


# --- mult_adds ---
_H_OUT, _C_IN, _C_OUT, _K = 28, 64, 128, 3  # nn.Conv2d(64, 128, 3, stride=2, padding=1) on 56x56
_MULT_ADDS = _H_OUT * _H_OUT * _C_OUT * _C_IN * _K * _K  # 57,802,752

_MULT_ADDS_MISTAKES = {
    56 * 56 * _C_OUT * _C_IN * _K * _K: "you counted the input's 56 x 56 positions. The kernel is applied "
                                        "only where the output has a pixel: with stride 2, 28 x 28 of them.",
    2 * _MULT_ADDS: "that is twice the answer: it counts each multiplication and each addition as one "
                    "operation (FLOPs). A multiply-add is the pair.",
    _H_OUT * _H_OUT * _C_OUT * _K * _K: "you forgot the input channels: each filter is 64 x 3 x 3, it "
                                        "looks at all 64 input maps at once.",
    _H_OUT * _H_OUT * _C_IN * _K * _K: "that is one filter's work: each of the 128 filters computes its "
                                       "own 28 x 28 map.",
    _H_OUT * _H_OUT * _C_OUT * _C_IN * _K: "a 3x3 kernel has 9 taps per channel, not 3: use k * k.",
    _H_OUT * _H_OUT * _C_OUT * _C_IN: "you forgot the kernel: each output number takes 64 x 3 x 3 "
                                      "multiply-adds, one per weight of its filter.",
    _C_OUT * _C_IN * _K * _K: "that is the number of weights (73,728). Each one is used once per output "
                              "position: multiply by the 28 x 28 positions.",
    _MULT_ADDS + _H_OUT * _H_OUT * _C_OUT: "this layer has bias=False, so there is no bias to add.",
    29 * 29 * _C_OUT * _C_IN * _K * _K: "the output is 28 x 28, not 29 x 29: floor((56 + 2 - 3) / 2) + 1 "
                                        "= 27 + 1; round down.",
    27 * 27 * _C_OUT * _C_IN * _K * _K: "the output is 28 x 28, not 27 x 27: floor(55 / 2) = 27 steps, "
                                        "plus the first position.",
}

mult_adds = number_exercise(
    "mult_adds",
    "ResNet-18 halves its 64x56x56 maps with nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1, "
    "bias=False). How many multiply-adds does this one layer cost on one image? (torchinfo's "
    "\"Mult-Adds\" counts the same.)",
    _MULT_ADDS, _MULT_ADDS_MISTAKES,
    "Count the output numbers (H_out x W_out x C_out), then the multiply-adds each one takes "
    "(C_in x k x k).", what="one number (an int)", tolerance=0.0005,
    hint="First the output size, with the formula of section 2. Each output number is one filter "
         "(C_in x k x k weights) laid over the input patch under it: one multiply-add per weight.",
    solution="answer = 28 * 28 * 128 * 64 * 3 * 3  # H_out W_out C_out C_in k^2 = 57,802,752",
    praise="right: 28 x 28 x 128 x 64 x 9 = 57,802,752, about 58 million. The stride-2 layer has "
           "twice the filters of a 64-channel one but a quarter of the positions, so it costs half "
           "as much as each 3x3 convolution before it.",
)


# --- stem_receptive_field ---
_STEM = "7x7 stride 2, 3x3 max-pool stride 2, 3x3, 3x3"

_STEM_MISTAKES = {
    13: "13 = 1 + 6 + 2 + 2 + 2 leaves out the strides. After a stride-2 layer, neighbouring pixels "
        "are 2 input pixels apart, so each later tap reaches twice as far: size += (k - 1) x jump, "
        "and jump *= stride.",
    37: "one stride too many: a layer's stride spaces out the taps of the layers *after* it, not its "
        "own (the 7x7 kernel covers 7 adjacent pixels). Add (k - 1) x jump first, then multiply the "
        "jump by the stride. (Adding k x jump instead of (k - 1) x jump also gives 37.)",
    38: "each layer adds (k - 1) x jump, not k x jump: a kernel of k taps reaches k - 1 steps beyond "
        "the first one, which the field already covers.",
    16: "16 = 7 + 3 + 3 + 3 adds the kernel sizes. The fields overlap, and the strides spread the "
        "later taps: size += (k - 1) x jump, and jump *= stride.",
    15: "the max-pool counts too: a 3x3 window with stride 2 widens the field like a convolution "
        "does, and doubles the jump.",
    17: "the 7x7 convolution's stride 2 multiplies the jump as well: after it, neighbouring pixels "
        "sit 2 input pixels apart, and after the max-pool 4.",
    19: "19 is the field after the first 3x3 convolution (or with the max-pool's stride forgotten: "
        "after the pool the jump is 4, so each 3x3 adds 2 x 4 = 8).",
    11: "11 is the field of the stem alone (the 7x7 convolution and the max-pool); the two 3x3 "
        "convolutions add 2 x 4 pixels each.",
}

stem_receptive_field = number_exercise(
    "stem_receptive_field",
    "ResNet-18 begins with nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3), then "
    "nn.MaxPool2d(3, stride=2, padding=1), then two nn.Conv2d(64, 64, kernel_size=3, padding=1). "
    "How many input pixels wide is the receptive field of one output pixel of the second 3x3 "
    "convolution?",
    27, _STEM_MISTAKES, f"Go through the layers ({_STEM}) from the input, starting with size = 1, "
                        "jump = 1: size += (k - 1) x jump, then jump *= stride.",
    what="one number (the width, which equals the height)",
    hint="Keep two numbers, size and jump, both 1 at the input. For each layer, first size += "
         "(k - 1) x jump, then jump *= stride. The max-pool is a layer with a kernel and a stride too.",
    solution="answer = 1 + 6 * 1 + 2 * 2 + 2 * 4 + 2 * 4  # jumps 1, 2, 4, 4: size 7, 11, 19, 27",
    praise="right: 7, then 11 after the pool, then 19 and 27. The first two layers quarter the map, "
           "so every later 3x3 adds 8 input pixels instead of 2: downsampling early is what lets a "
           "stack of small kernels see the whole image.",
)
