"""Exercises of ``03_residual_blocks``: the basic residual block, its shapes and its shortcut.

* ``block_output_shape``     the output shape of a stride-2 block that doubles the channels
* ``needs_projection``       when the shortcut cannot be the identity
* ``projection_parameters``  what the 1x1 projection shortcut costs
* ``residual_block``         write the whole block: F(x), the shortcut, the addition, the ReLU
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_utils.exercises.core import Code, Exercise, seeded
from course_utils.exercises.toolkit import check_calls, first_problem, number_exercise, override, shape_exercise, when
from course_utils.models import ResidualBlock, count_parameters

__all__ = ["block_output_shape", "needs_projection", "projection_parameters", "residual_block"]


# --- block_output_shape ---
_SHAPE = (8, 128, 8, 8)  # ResidualBlock(64, 128, stride=2) on (8, 64, 15, 15)

#: Wrong heights (= widths) and what each one means.
_SIZE_MISTAKES = {
    7: "7 is 15 // 2, or the size without padding ((15 - 3) // 2 + 1). conv1 is 3x3 with "
       "padding 1 and stride 2: (15 + 2*1 - 3) // 2 + 1 = 8. Halving is not the formula.",
    7.5: "feature maps have whole pixels: the formula floors, (15 + 2 - 3) // 2 + 1 = 8.",
    15: "15 is the input size: the stride of 2 in conv1 (and in the shortcut) halves it.",
    16: "16 is the size after the stride for a 32x32 input; this input is 15x15.",
    9: "(15 + 2 - 3) / 2 = 7, plus 1 is 8. Did you add the padding twice, or round up?",
}

#: What any other shape gets wrong: the first row that applies.
_SHAPE_STEPS = [
    when(lambda s: len(s) == 3, "give all four dimensions (N, C, H, W): the batch size 8 stays in front."),
    when(lambda s: len(s) != 4,
         lambda s: f"a batch of feature maps has four dimensions (N, C, H, W); you gave {len(s)}."),
    when(lambda s: s[1:] == (8, 8, 128),
         "PyTorch orders the dimensions (N, C, H, W): channels come before height and width."),
    when(lambda s: s[0] != 8, lambda s: f"the batch size does not change inside a network: it stays 8, not {s[0]}."),
    when(lambda s: s[1] == 64, "the block turns 64 channels into out_channels = 128 (conv1 has 128 filters)."),
    when(lambda s: s[1] != 128, lambda s: f"the output has out_channels = 128 channels, not {s[1]}."),
    when(lambda s: s[2] != s[3], "a square input gives a square output: height and width are equal."),
]

block_output_shape = shape_exercise(
    "block_output_shape",
    "A batch x of shape (8, 64, 15, 15) goes through ResidualBlock(64, 128, stride=2). "
    "What is the shape of the output, as a tuple (N, C, H, W)? Work it out by hand; "
    "conv1 is 3x3 with padding 1 and the given stride, conv2 3x3 with padding 1 and stride 1.",
    _SHAPE, {(8, 128, h, h): why for h, why in _SIZE_MISTAKES.items()},
    lambda s: (f"{s[2]} is not the height. Only conv1 (3x3, padding 1, stride 2) changes it: "
               "(n + 2p - k) // s + 1; conv2 has stride 1 and padding 1 and keeps it."),
    steps=_SHAPE_STEPS,
    hint="Go dimension by dimension. The batch size never changes; the channels are set by the "
         "block's convolutions; of the two, only the one with the stride changes the height and "
         "width (use the output-size formula, it floors).",
    solution="answer = (8, 128, 8, 8)  # (15 + 2*1 - 3) // 2 + 1 = 8; the 1x1 shortcut: (15 - 1) // 2 + 1 = 8",
    praise="right: (15 + 2 - 3) // 2 + 1 = 8. The 1x1 projection with stride 2 gives "
           "(15 - 1) // 2 + 1 = 8 as well, so the two paths can be added.",
)


# --- needs_projection ---
#: (in, out, stride), the right answer, and what a wrong answer means: the key cases first.
_PROJECTION_CASES = [
    ((64, 64, 1), False,
     "ResidualBlock(64, 64, stride=1) keeps the shape, so x can be added as it is: no "
     "projection. A projection on every block (the 'always on' version) costs parameters "
     "and takes the identity path away."),
    ((64, 64, 2), True,
     "with stride 2, F(x) is half as high and wide as x, so x cannot be added unchanged: "
     "the stride alone needs a projection (or any shortcut with stride 2)."),
    ((64, 128, 1), True,
     "when the channels change (64 -> 128), x has 64 channels and F(x) 128: the shapes "
     "differ even with stride 1."),
    ((128, 64, 1), True,
     "fewer channels (128 -> 64) need a projection too: any change of channels does, "
     "not only an increase."),
    ((64, 128, 2), True, "a block that changes both the channels and the size needs one."),
] + [((c_in, c_out, s), s != 1 or c_in != c_out,
      f"x of shape (N, {c_in}, H, W) and F(x) of shape (N, {c_out}, H/{s}, W/{s}) "
      f"{'differ' if s != 1 or c_in != c_out else 'agree'}.")
     for c_in in (3, 16, 32, 64, 512) for c_out in (16, 32, 64, 512) for s in (1, 2)]

needs_projection = Exercise(
    "needs_projection",
    "Write `needs_projection(in_channels, out_channels, stride)`: True when the shortcut of "
    "a block must be a 1x1 projection because x and F(x) have different shapes, False when "
    "x can be added as it is. The check tries a grid of channel counts and strides.",
    lambda answer: check_calls(answer, "needs_projection", _PROJECTION_CASES, returns=bool),
    hint="F(x) has out_channels channels and is `stride` times smaller than x. When does "
         "that shape differ from x's shape (N, in_channels, H, W)? Two conditions, joined by `or`.",
    solution="""def needs_projection(in_channels, out_channels, stride):
    return stride != 1 or in_channels != out_channels""",
    praise="right: a projection exactly when the stride or the channel count changes the shape. "
           "That is the `if` in torchvision's _make_layer and in ResidualBlock.__init__.",
    answer_name="needs_projection",
    mistakes=[(lambda i, o, s: True, "the 'always on' version"), (lambda i, o, s: s != 1, "channels change"),
              (lambda i, o, s: i != o, "the stride alone"), (lambda i, o, s: s != 1 or o > i, "fewer channels"),
              (lambda i, o, s: int(s != 1 or i != o), "return True or False"),
              (lambda i, o, s: None, "forget `return`")],
)


# --- projection_parameters ---
_CONV = 64 * 128          # 1x1 convolution, no bias
_BN = 2 * 128             # BatchNorm2d(128): a weight (gamma) and a bias (beta) per channel
_PROJECTION = _CONV + _BN  # 8,448

_PROJECTION_MISTAKES = {
    _CONV: "8,192 is the 1x1 convolution (128 filters of 64 x 1 x 1). The projection is conv1x1 "
           "followed by BatchNorm2d(128), which learns a weight and a bias per channel: add them.",
    _CONV + 128: "8,320 is one number per channel too few, or one kind too many. There is no conv "
                 "bias (bias=False, BN follows), and BatchNorm2d(128) has two parameters per channel "
                 "(weight and bias): 8,192 + 2 x 128.",
    _CONV + 4 * 128: "8,704 counts BatchNorm's running_mean and running_var. Those are buffers: "
                     "estimated from the data, not trained, and not in .parameters().",
    _CONV + 3 * 128: "8,576 adds a conv bias (128) to conv + BN. The 1x1 convolution has bias=False: "
                     "the BN after it has its own bias, which would cancel it.",
    _CONV + 5 * 128: "8,832 counts a conv bias and BN's running statistics; neither is a parameter here.",
    64 * 128 * 9 + _BN: "that is a 3x3 convolution plus BN: the projection uses a 1x1 kernel.",
    64 * 128 * 9: "73,728 is a 3x3 convolution 64 -> 128: the projection uses a 1x1 kernel (and a BN).",
    64 * 64 + 2 * 64: "4,224 is the projection of a 64 -> 64 block (the always-on version); this one "
                      "goes 64 -> 128.",
    64 + 2 * 128: "the 1x1 convolution has one weight per (input channel, output channel) pair: "
                  "64 x 128, not 64.",
    128 + 2 * 128: "the 1x1 convolution has one weight per (input channel, output channel) pair: "
                   "64 x 128, not 128.",
    64 * 128 * 4 + _BN: "the stride does not change the number of weights: a 1x1 kernel is 1x1 at any stride.",
    64 * 128 * 2 + _BN: "the stride does not change the number of weights: a 1x1 kernel is 1x1 at any stride.",
}

projection_parameters = number_exercise(
    "projection_parameters",
    "How many trainable parameters does the projection shortcut of ResidualBlock(64, 128, "
    "stride=2) have (its `downsample`: a 1x1 convolution 64 -> 128 with stride 2 and "
    "bias=False, then BatchNorm2d(128))? Work it out by hand.",
    _PROJECTION, _PROJECTION_MISTAKES, "The projection is Conv2d(64, 128, kernel_size=1, stride=2, "
                                       "bias=False) followed by BatchNorm2d(128); count both.",
    what="one number (an int)",
    hint="A Conv2d(c_in, c_out, k, bias=False) has c_out x c_in x k x k weights. BatchNorm2d(c) "
         "learns two numbers per channel; its running mean and variance are not parameters.",
    solution="answer = 64 * 128 * 1 * 1 + 2 * 128  # 8,192 + 256 = 8,448",
    praise="right: 8,192 + 256 = 8,448, under 4% of the block's 230,144. Cheap, but not free: "
           "that is why the shortcut is the identity wherever the shape allows it.",
)


# --- residual_block ---
#: (in_channels, out_channels, stride) the check builds; small, so it runs in a blink.
_BLOCK_CASES = [(16, 16, 1), (16, 32, 2), (16, 16, 2), (16, 32, 1)]
_SIZE = 9  # odd, so a shortcut that rounds differently from conv1 shows up


def _randomize_batch_norms(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial weights and running statistics, as after training."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _build(answer: Any, c_in: int, c_out: int, stride: int) -> tuple[nn.Module | None, str | None]:
    """The learner's block for one case, or None and why it cannot be built."""
    call = f"{answer.__name__}({c_in}, {c_out}, stride={stride})"
    try:
        block = answer(c_in, c_out, stride=stride) if stride != 1 else answer(c_in, c_out)
    except TypeError as err:
        return None, (f"{call} failed ({err}). The class must take (in_channels, out_channels, "
                      "stride=1), like ResidualBlock.")
    if not isinstance(block, nn.Module):
        return None, f"{call} should build an nn.Module, not {type(block).__name__}."
    return block, None


def _forward_problem(block: nn.Module, call: str, c_in: int, c_out: int, stride: int) -> str | None:
    """The block runs on a batch, and gives ``c_out`` channels ``stride`` times smaller."""
    x = torch.randn(2, c_in, _SIZE, _SIZE)
    size = (_SIZE - 1) // stride + 1
    try:
        with torch.no_grad():
            y = block.train()(x)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        if (stride != 1 or c_in != c_out) and "size of tensor" in first:
            return (f"{call} crashed on an input of shape {tuple(x.shape)} when adding: {first}. "
                    f"F(x) has shape (2, {c_out}, {size}, {size}) but the shortcut still gives x, "
                    f"(2, {c_in}, {_SIZE}, {_SIZE}). Build self.downsample (1x1 conv with the stride, "
                    "then BN) when the shape changes, and add self.downsample(x).")
        return f"{call} crashed on an input of shape {tuple(x.shape)}: {first}"
    expected = (2, c_out, size, size)
    if tuple(y.shape) != expected:
        got = tuple(y.shape)
        if got[1] != c_out:
            return f"{call} outputs {got[1]} channels; it should output out_channels = {c_out}."
        if got[2] == _SIZE and stride != 1:
            return (f"{call} keeps the size {_SIZE}x{_SIZE}: give conv1 (and the projection) "
                    f"stride={stride}.")
        return f"{call} turns a {_SIZE}x{_SIZE} input into {got[2]}x{got[3]}, not {size}x{size}."
    return None


def _layers_problem(block: nn.Module, call: str, c_in: int, c_out: int, stride: int) -> str | None:
    """torchvision's names conv1, bn1, conv2, bn2; 3x3 convolutions without bias, the stride in conv1."""
    for name, kind in (("conv1", nn.Conv2d), ("bn1", nn.BatchNorm2d),
                       ("conv2", nn.Conv2d), ("bn2", nn.BatchNorm2d)):
        if not isinstance(getattr(block, name, None), kind):
            return (f"{call} has no {kind.__name__} called `{name}`. Use torchvision's names "
                    "conv1, bn1, conv2, bn2 and downsample, so that the check (and "
                    "ResidualBlock's weights) can find them.")
    conv1, conv2 = block.conv1, block.conv2
    if conv1.bias is not None or conv2.bias is not None:
        return ("the convolutions have biases. Use bias=False: the BatchNorm right after each "
                "convolution subtracts the mean, bias included, and adds its own bias.")
    if conv1.kernel_size != (3, 3) or conv2.kernel_size != (3, 3):
        return "both convolutions of the residual branch are 3x3 (with padding 1)."
    if tuple(conv1.stride) != (stride, stride) or tuple(conv2.stride) != (1, 1):
        return (f"in {call} conv1 has stride {conv1.stride[0]} and conv2 stride {conv2.stride[0]}: "
                "the stride goes to conv1 (as in torchvision); conv2 always has stride 1.")
    return None


def _shortcut_problem(block: nn.Module, call: str, c_in: int, c_out: int, stride: int) -> str | None:
    """A projection called ``downsample`` exactly when the shape changes, else ``downsample = None``."""
    downsample = getattr(block, "downsample", None)
    changes_shape = stride != 1 or c_in != c_out
    if downsample is None:
        other = [n for n in ("shortcut", "projection", "proj", "conv3")
                 if isinstance(getattr(block, n, None), nn.Module)]
        if other:
            return (f"name the projection `downsample` (torchvision's name), not `{other[0]}`, and set "
                    "it to None when the shape is kept, so the check can find it and "
                    "ResidualBlock's weights load.")
        if changes_shape:
            return f"{call} changes the shape, so it needs a projection in self.downsample."
        if not hasattr(block, "downsample"):
            return ("set self.downsample = None when the shape is kept (as ResidualBlock does), "
                    "so that forward can test `if self.downsample is None`.")
    if not changes_shape and downsample is not None:
        if not any(True for _ in downsample.parameters()):  # nn.Identity(), nn.Sequential()
            return (f"{type(downsample).__name__}() works as the identity, but set "
                    "self.downsample = None when the shape is kept, as ResidualBlock does, so "
                    "the weights load either way.")
        return (f"{call} keeps the shape, but it has a projection anyway. That costs "
                f"{count_parameters(downsample, trainable_only=False):,} parameters and replaces "
                "the identity shortcut: build self.downsample only when stride != 1 or "
                "in_channels != out_channels, else set it to None.")
    return None


def _skip_problem(block: nn.Module, call: str, c_in: int, c_out: int, stride: int) -> str | None:
    """Silence F (zero bn2's weight and bias): the block must return relu(shortcut(x))."""
    _randomize_batch_norms(block)
    block.eval()
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
        x = torch.randn(2, c_in, _SIZE, _SIZE)
        shortcut = x.clone() if block.downsample is None else block.downsample(x)
        y = block(x.clone())
    if torch.allclose(y, torch.zeros_like(y)):
        return ("with the residual branch silenced (bn2's weight and bias set to 0) the block "
                "returned zeros: the skip connection is missing. Return relu(out + identity).")
    if torch.allclose(y, shortcut, atol=1e-5):
        return ("with the residual branch silenced the block returned the shortcut itself, "
                "negative values included: apply the ReLU last, to the sum: relu(F(x) + identity).")
    if not torch.allclose(y, torch.relu(shortcut), atol=1e-5):
        return ("with the residual branch silenced (bn2's weight and bias set to 0) the block should "
                "return relu(shortcut(x)): x itself, or downsample(x) when the shape changes. Add "
                "the shortcut unchanged, after bn2.")
    return None


def _same_as_reference(block: nn.Module, call: str, c_in: int, c_out: int, stride: int) -> str | None:
    """With ResidualBlock's weights loaded, the same outputs in eval and in train mode."""
    with seeded(1):
        reference = ResidualBlock(c_in, c_out, stride)
    _randomize_batch_norms(reference, seed=1)
    try:
        block.load_state_dict(reference.state_dict())
    except RuntimeError as err:
        detail = str(err).split(":", 1)[-1].strip().splitlines()[0]
        return (f"ResidualBlock({c_in}, {c_out}, stride={stride})'s weights do not fit {call}: "
                f"{detail}. Build the projection as nn.Sequential(conv1x1, BatchNorm2d), as "
                "ResidualBlock does.")
    x = torch.randn(2, c_in, _SIZE, _SIZE)
    with torch.no_grad():
        for mode in ("eval", "train"):
            reference.train(mode == "train")
            block.train(mode == "train")
            if not torch.allclose(block(x), reference(x), atol=1e-5):
                return (f"with ResidualBlock's weights loaded, {call} computes something else "
                        f"(in {mode} mode). The order is conv1 -> bn1 -> ReLU -> conv2 -> bn2, "
                        "then + shortcut, then ReLU; the projection is 1x1 conv then BN.")
    return None


@seeded(0)  # the same weights and test batches every time; the learner's RNG is untouched
def _check_residual_block(answer: Any) -> str | None:
    """Build the class for each case and run the steps on it; the first problem found is the answer."""
    if not (isinstance(answer, type) and issubclass(answer, nn.Module)):
        return f"give the class itself (`answer = MyBlock`), not {answer!r}."
    for c_in, c_out, stride in _BLOCK_CASES:
        block, problem = _build(answer, c_in, c_out, stride)
        if problem:
            return problem
        call = f"{answer.__name__}({c_in}, {c_out}, stride={stride})"
        problem = first_problem([_forward_problem, _layers_problem, _shortcut_problem, _skip_problem,
                                 _same_as_reference], block, call, c_in, c_out, stride)
        if problem:
            return problem
    return None


#: Known mistakes rewrite MyBlock's forward, or end its __init__ with one more line: ``override(*_INIT, line)``.
_FORWARD = ("MyBlock", "forward(self, x)")
_INIT = ("MyBlock", "__init__(self, in_channels, out_channels, stride=1)",
         "super().__init__(in_channels, out_channels, stride)")
_BRANCH = "self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))"
_PROJECT = ("nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), "
            "nn.BatchNorm2d(out_channels))")

residual_block = Exercise(
    "residual_block",
    "Write the class `MyBlock(in_channels, out_channels, stride=1)`: the residual branch "
    "conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN, the shortcut (the identity, or a "
    "1x1 conv with the stride + BN in `self.downsample` when the shape changes, else "
    "`self.downsample = None`), the addition, then a ReLU. Use the names conv1, bn1, conv2, "
    "bn2, downsample and bias=False. The check builds it for stride 1 and 2 and for a change "
    "of channels, silences the residual branch to see the skip, and compares it with "
    "ResidualBlock.",
    _check_residual_block,
    hint="Start from SimpleBlock above. Which convolution takes the stride, and which channel "
         "counts does each one map between? The shortcut needs a projection exactly when your "
         "needs_projection says so; it must give the same shape as the residual branch. In "
         "forward, compute the shortcut from the block's input, before x is overwritten.",
    solution="""class MyBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)""",
    praise="right: the shapes, the skip and the outputs all agree with ResidualBlock "
           "(torchvision's BasicBlock).",
    answer_name="MyBlock",
    mistakes=[(override(*_FORWARD, f"return self.relu({_BRANCH})"), "the skip connection is missing"),
              (override(*_FORWARD, f"return {_BRANCH} + (x if self.downsample is None else self.downsample(x))"),
               "apply the ReLU last"),
              (override(*_INIT, f"self.downsample = {_PROJECT}"), "it has a projection anyway"),
              (override(*_INIT, "self.downsample = None"), "Build self.downsample"),
              (override(*_INIT, "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1)"),
               "the convolutions have biases"),
              (override(*_INIT, "self.downsample = self.downsample and self.downsample[0]"), "weights do not fit"),
              (Code("MyBlock = MyBlock(16, 16)"), "give the class itself")],
)
