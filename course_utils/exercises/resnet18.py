"""Exercises of ``06_resnet18_training``: ResNet-18's stages, its stem and a training run.

* ``stage_shapes``       the output shape of each stage for a 32x32 image and the ImageNet stem
* ``make_layer``         write one stage: a first block that may change the shape, then the rest
* ``stem_savings``       how many parameters the CIFAR stem saves over the ImageNet stem
* ``layer4_size``        the height of layer4's output for a stride-2 stem and a 64x64 image
* ``stride_speedup``     how many times fewer multiply-adds a stride-2 stem costs
* ``best_epoch``         which epoch of a run ``fit`` keeps as the best checkpoint
* ``images_per_second``  the training throughput of a whole run, from its ``History``

``example_history()`` is the (invented, GPU-like) run that the last two exercises read.
"""
from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from course_utils.exercises import Code, Exercise, around, first_problem, number_exercise, seeded, shape_exercise, when
from course_utils.models import ResidualBlock, count_parameters
from course_utils.train import History

__all__ = ["stage_shapes", "make_layer", "stem_savings", "layer4_size", "stride_speedup", "best_epoch",
           "images_per_second", "example_history", "EXAMPLE_TRAIN_SIZE", "EXAMPLE_VAL_SIZE"]


# --- stage_shapes ---
_CHANNELS = [64, 128, 256, 512]


def _stages(*heights: int) -> tuple[tuple[int, int, int], ...]:
    """The four stages' (channels, height, width) for the given heights of square maps."""
    return tuple((c, h, h) for c, h in zip(_CHANNELS, heights))


_STAGE_SHAPES = _stages(8, 4, 2, 1)

#: Wrong heights (one per stage) and what each list means.
_SIZE_MISTAKES = {_stages(*heights): why for heights, why in {
    (16, 8, 4, 2): "layer1 gets 8x8, not 16x16: the ImageNet stem halves twice, with the 7x7 "
                   "convolution (stride 2: 32 -> 16) and then the 3x3 max-pool (stride 2: 16 -> 8). "
                   "Did you forget the max-pool?",
    (32, 16, 8, 4): "those are the CIFAR stem's sizes (a 3x3 convolution with stride 1, no pool). "
                    "The ImageNet stem halves the image twice before layer1: 32 -> 16 -> 8.",
    (4, 2, 1, 1): "layer1 keeps the size it is given (its blocks have stride 1); only layer2, "
                  "layer3 and layer4 start with a stride-2 block.",
    (56, 28, 14, 7): "those are the sizes for a 224x224 input; the question is about a 32x32 "
                     "CIFAR-10 image.",
    (7, 4, 2, 1): "the 7x7 convolution has padding 3: (32 + 2*3 - 7) // 2 + 1 = 16, not 13.",
    (8, 4, 2, 0): "a 3x3 convolution with stride 2 and padding 1 turns 2x2 into "
                  "(2 + 2 - 3) // 2 + 1 = 1, not 0: a feature map never shrinks below 1x1 here.",
    (8, 8, 8, 8): "layer2, layer3 and layer4 each start with a stride-2 block that halves the size.",
}.items()}


def _to_shape(item: Any) -> tuple[int, ...] | None:
    """One stage's shape as a tuple of ints (a leading batch dimension of 1 dropped), or None."""
    try:
        shape = tuple(int(v) for v in item)
    except (TypeError, ValueError):
        return None
    if len(shape) == 4 and shape[0] == 1:  # a torch.Size with the batch dimension
        shape = shape[1:]
    return shape


def _read_stages(answer: Any) -> tuple | None:
    """The answer's shapes, one per item (None for an item that is no shape); None when it is no list."""
    return tuple(_to_shape(item) for item in answer) if isinstance(answer, (list, tuple)) else None


#: What any other list gets wrong: the first row that applies.
_STAGE_STEPS = [
    when(lambda shapes: len(shapes) != 4,
         lambda shapes: f"give four shapes, one per stage (layer1 to layer4); you gave {len(shapes)}."),
    when(lambda shapes: any(s is None or len(s) != 3 for s in shapes),
         "write each shape as (channels, height, width), e.g. (64, 8, 8)."),
    when(lambda shapes: [s[0] for s in shapes] != _CHANNELS,
         lambda shapes: f"the channels should be {_CHANNELS}: stage k has 64 * 2**k channels, and you wrote "
                        f"{[s[0] for s in shapes]}. (Check the order: (channels, height, width).)"),
    when(lambda shapes: any(s[1] != s[2] for s in shapes),
         "a square image keeps square feature maps: height and width are equal at every stage."),
]

stage_shapes = shape_exercise(
    "stage_shapes",
    "A 32x32 CIFAR-10 image goes through ResNet-18 with the ImageNet stem (conv 7x7 stride 2 "
    "padding 3, BN, ReLU, max-pool 3x3 stride 2 padding 1). Give the output shape "
    "(channels, height, width) of layer1, layer2, layer3 and layer4, as a list of four tuples.",
    _STAGE_SHAPES, _SIZE_MISTAKES,
    lambda shapes: (f"the heights {[s[1] for s in shapes]} are not right. Follow 32 through the stem "
                    "(conv 7x7 stride 2 padding 3, then max-pool 3x3 stride 2 padding 1), then halve at "
                    "layer2, layer3 and layer4; each step is (n + 2p - k) // s + 1."),
    read=_read_stages, what="a list of four shapes, like [(64, 8, 8), ...]", steps=_STAGE_STEPS,
    hint="out = (n + 2p - k) // s + 1, for the convolution and the max-pool alike. Apply it at "
         "every step with stride 2: two in the stem, and the first block of each stage that "
         "doubles the channels (layer1 does not).",
    solution="answer = [(64, 8, 8), (128, 4, 4), (256, 2, 2), (512, 1, 1)]  "
             "# 32 -conv-> 16 -pool-> 8 -> 8 -> 4 -> 2 -> 1",
    praise="right: 32 -> 16 -> 8 before layer1, and layer4 works on a single pixel. "
           "That is the waste the CIFAR stem avoids.",
)


# --- make_layer ---
def _stride(block: nn.Module) -> tuple[int, ...] | None:
    """The stride of a block's conv1, or None when it has none."""
    conv = getattr(block, "conv1", None)
    return tuple(conv.stride) if isinstance(conv, nn.Conv2d) else None


#: The stages the check builds: (in_channels, channels, blocks, stride, input size).
_LAYER_CASES = [
    (64, 128, 2, 2, 8),   # layer2 of ResNet-18: changes the shape
    (64, 64, 2, 1, 8),    # layer1: keeps it
    (128, 256, 3, 2, 8),  # a ResNet-34-like stage with three blocks
]


@seeded(0)  # the same weights and test batches every time
@torch.no_grad()
def _check_make_layer(answer: Any) -> str | None:
    """Build each stage of ``_LAYER_CASES`` and run the steps on it; the first problem found is the answer."""
    if isinstance(answer, nn.Module) or not callable(answer):
        return f"give the function itself (`make_layer`, no brackets), not a {type(answer).__name__}."
    for in_channels, channels, blocks, stride, size in _LAYER_CASES:
        call = f"make_layer({in_channels}, {channels}, blocks={blocks}, stride={stride})"
        layer = answer(in_channels, channels, blocks, stride)
        problem = first_problem([_container_step, _output_step, _stride_step, _projection_step],
                                layer, call, (in_channels, channels, blocks, stride, size))
        if problem:
            return problem
    return None


def _container_step(layer: Any, call: str, case: tuple[int, ...]) -> str | None:
    """An nn.Sequential of ``blocks`` blocks, the second of which takes ``channels`` in."""
    _, channels, blocks, _, _ = case
    if isinstance(layer, (list, tuple)):
        return f"{call} returned a {type(layer).__name__}; wrap the blocks: nn.Sequential(*blocks)."
    if not isinstance(layer, nn.Sequential):
        return f"{call} should return an nn.Sequential, not {type(layer).__name__}."
    if len(layer) != blocks:
        return f"{call} holds {len(layer)} blocks; it should hold {blocks}, one per block."
    second_in = getattr(getattr(layer[1], "conv1", None), "in_channels", None) if blocks > 1 else None
    if second_in is not None and second_in != channels:
        return (f"in {call} the second block expects {second_in} input channels, but the first "
                f"block already turned them into {channels}: build the rest with "
                f"ResidualBlock(channels, channels).")
    return None


def _output_step(layer: nn.Sequential, call: str, case: tuple[int, ...]) -> str | None:
    """The stage runs, and gives ``channels`` maps ``stride`` times smaller."""
    in_channels, channels, _, stride, size = case
    x = torch.randn(2, in_channels, size, size)
    try:
        y = layer.eval()(x)
    except RuntimeError as err:
        return f"{call} crashed on an input of shape {tuple(x.shape)}: {str(err).splitlines()[0]}"
    out_size = size // stride
    if y.shape[1] != channels:
        return f"{call} outputs {y.shape[1]} channels; it should output {channels}."
    if y.shape[2] < out_size:
        return (f"{call} turns {size}x{size} into {y.shape[2]}x{y.shape[3]}, not {out_size}x{out_size}: "
                "only the first block gets the stride; the others use stride 1.")
    if y.shape[2] > out_size:
        return (f"{call} keeps {size}x{size}, but a stride-{stride} stage should give "
                f"{out_size}x{out_size}: pass the stride to the first block.")
    return None


def _stride_step(layer: nn.Sequential, call: str, case: tuple[int, ...]) -> str | None:
    """The stride sits in the first block's conv1 only."""
    stride = case[3]
    strides = [_stride(b) for b in layer]
    if strides[0] not in (None, (stride, stride)):
        return f"in {call} the first block's conv1 has stride {strides[0]}; it should have {stride}."
    if any(s not in (None, (1, 1)) for s in strides[1:]):
        return f"in {call} only the first block may have a stride; the others must keep the size."
    return None


def _projection_step(layer: nn.Sequential, call: str, case: tuple[int, ...]) -> str | None:
    """A projection on the first block when the shape changes, on no other; ResidualBlocks throughout."""
    in_channels, channels, blocks, stride, _ = case
    if (stride != 1 or in_channels != channels) and getattr(layer[0], "downsample", None) is None:
        return (f"in {call} the first block changes the shape, so its shortcut needs the 1x1 "
                "projection (`downsample`); ResidualBlock(in_channels, channels, stride) adds it.")
    if any(getattr(b, "downsample", None) is not None for b in layer[1:]):
        return (f"in {call} only the first block should project its shortcut; the others keep "
                "the shape, so theirs is the identity: build them with ResidualBlock(channels, channels).")
    expected = count_parameters(nn.Sequential(ResidualBlock(in_channels, channels, stride),
                                              *[ResidualBlock(channels, channels) for _ in range(1, blocks)]))
    if count_parameters(layer) != expected:
        return (f"{call} has {count_parameters(layer):,} parameters; a stage of ResidualBlocks has "
                f"{expected:,}. Use ResidualBlock from course_utils.models for every block.")
    return None


make_layer = Exercise(
    "make_layer",
    "Write `make_layer(in_channels, channels, blocks, stride)` returning an nn.Sequential of "
    "`blocks` ResidualBlocks: the first takes in_channels to channels with the given stride (it "
    "gets the 1x1 projection shortcut when the shape changes), the others keep channels and "
    "the size. The check builds layer1- and layer2-like stages and a three-block one.",
    _check_make_layer,
    hint="Build a Python list of blocks and wrap it in nn.Sequential. Only the first block sees "
         "in_channels and the stride; what do the others receive, and what stride keeps the size?",
    solution="""def make_layer(in_channels, channels, blocks, stride):
    layers = [ResidualBlock(in_channels, channels, stride)]       # may change the shape
    layers += [ResidualBlock(channels, channels) for _ in range(1, blocks)]  # keep it
    return nn.Sequential(*layers)""",
    praise="right: one block that may change the shape (stride, projection), then blocks that "
           "keep it. That is torchvision's _make_layer without the `self`.",
    answer_name="make_layer",
    context=lambda: {"ResidualBlock": ResidualBlock},
    mistakes=[(lambda i, c, b, s: [ResidualBlock(i, c, s)] + [ResidualBlock(c, c) for _ in range(1, b)],
               "nn.Sequential(*blocks)"),
              (lambda i, c, b, s: nn.Sequential(*[ResidualBlock(i if k == 0 else c, c, s) for k in range(b)]),
               "only the first block gets the stride"),
              (lambda i, c, b, s: nn.Sequential(*[ResidualBlock(i, c, s if k == 0 else 1) for k in range(b)]),
               "the second block expects"),
              (lambda i, c, b, s: nn.Sequential(*[ResidualBlock(i if k == 0 else c, c) for k in range(b)]),
               "pass the stride to the first block"),
              (Code("make_layer = ResidualBlock(64, 64)"), "the function itself")],
)


# --- stem_savings ---
_IMAGENET_CONV = 64 * 3 * 7 * 7  # 9,408
_CIFAR_CONV = 64 * 3 * 3 * 3     # 1,728
_SAVINGS = _IMAGENET_CONV - _CIFAR_CONV  # 7,680

_STEM_MISTAKES = {
    -_SAVINGS: "right size, wrong sign: give the saving as a positive number.",
    _IMAGENET_CONV: "9,408 is the whole 7x7 convolution (64 x 3 x 7 x 7); the CIFAR stem still "
                    "has its own 3x3 convolution (64 x 3 x 3 x 3): subtract it.",
    _CIFAR_CONV: "1,728 is the CIFAR stem's 3x3 convolution; the question asks for the difference.",
    64 * (49 - 9): "you left out the 3 colour channels: each of the 64 filters has 3 x k x k weights.",
    3 * (49 - 9): "you left out the 64 output channels: there is one k x k x 3 filter per output channel.",
    49 - 9: "that is the difference for one filter on one channel; multiply by 3 input and 64 output channels.",
    _SAVINGS + 64: "both convolutions have bias=False (a BatchNorm follows), and if they had "
                   "biases they would have 64 each: no difference.",
    _SAVINGS + 128: "BatchNorm(64) (128 parameters) is in both stems, so it cancels; and the "
                    "max-pool has no parameters at all.",
}

stem_savings = number_exercise(
    "stem_savings",
    "The ImageNet stem is conv 7x7 (3 -> 64, stride 2, no bias), BN(64), ReLU, max-pool; the "
    "CIFAR stem is conv 3x3 (3 -> 64, stride 1, no bias), BN(64), ReLU. How many parameters "
    "fewer does ResNet-18 have with the CIFAR stem? Work it out by hand.",
    _SAVINGS, _STEM_MISTAKES, "Only the first convolution differs: Conv2d(3, 64, 7) against Conv2d(3, 64, 3), "
                              "both without bias; BatchNorm is the same and pooling has no weights.",
    hint="A Conv2d(c_in, c_out, k, bias=False) has c_out * c_in * k * k weights. What is in one "
         "stem and not the other? (ReLU and max-pool have no parameters.)",
    solution="answer = 64 * 3 * 7 * 7 - 64 * 3 * 3 * 3  # 9,408 - 1,728 = 7,680",
    praise="right: 7,680 parameters fewer, 0.07% of the model. Yet the CIFAR stem costs about 15 "
           "times more multiply-adds, because every stage works on 16 times more pixels.",
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


# --- stride_speedup ---
stride_speedup = number_exercise(
    "stride_speedup",
    "Changing the stem's stride from 1 to 2 leaves the weights of ResNet-18 unchanged. By what "
    "factor does it cut the multiply-adds of one forward pass on a 32x32 image (almost all of "
    "them are in the convolutions)? Then compare your factor with the measured speed-up below.",
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


# --- best_epoch and images_per_second: read a History ---
#: Training images per epoch in the example run: CIFAR-10's 50,000 less 5,000 held out for validation.
EXAMPLE_TRAIN_SIZE = 45_000
EXAMPLE_VAL_SIZE = 5_000

#: The example run, one column per History field, one entry per epoch (examples_per_s follows from seconds).
_RUN = {
    "train_loss": [1.53, 0.92, 0.64, 0.48, 0.37, 0.27, 0.19],
    "train_acc": [0.441, 0.672, 0.776, 0.833, 0.871, 0.905, 0.934],
    "val_loss": [1.12, 0.79, 0.53, 0.56, 0.58, 0.64, 0.71],
    "val_acc": [0.612, 0.738, 0.821, 0.843, 0.862, 0.851, 0.848],
    "test_loss": [1.14, 0.81, 0.55, 0.57, 0.60, 0.65, 0.73],
    "test_acc": [0.605, 0.731, 0.815, 0.838, 0.853, 0.856, 0.842],  # for the record only
    "lr": [0.02, 0.19, 0.17, 0.13, 0.08, 0.04, 0.01],
    "seconds": [41.8, 23.4, 22.6, 22.9, 22.7, 23.1, 22.5],
}
_EX_SECONDS = _RUN["seconds"]
_BEST_EPOCH = 5


def example_history() -> History:
    """An invented 7-epoch CIFAR-10 run (45,000 training and 5,000 validation images), GPU-like timings.

    The first epoch is slow (workers start, cuDNN tries its algorithms). Validation loss is
    lowest at epoch 3 while validation accuracy peaks at epoch 5, as often happens once a
    model grows over-confident; the test set, recorded too, happens to peak at epoch 6. The
    numbers are made up for the exercises, not measured.
    """
    h = History()
    columns = {**_RUN, "examples_per_s": [EXAMPLE_TRAIN_SIZE / s for s in _EX_SECONDS]}
    kept = History.__dataclass_fields__  # the columns this version of History has
    for i in range(len(_EX_SECONDS)):
        h.append(epoch=i + 1, **{name: values[i] for name, values in columns.items() if name in kept})
    return h


_BEST_MISTAKES = {
    len(_EX_SECONDS): "that is the last epoch (and the one with the highest training accuracy). "
                      "fit keeps the epoch with the highest validation accuracy; after its peak "
                      "the model starts to over-fit.",
    _RUN["val_loss"].index(min(_RUN["val_loss"])) + 1:
        "that epoch has the lowest validation loss; fit (and the question) pick the highest validation accuracy.",
    _RUN["test_acc"].index(max(_RUN["test_acc"])) + 1:
        "that epoch has the highest *test* accuracy. fit chooses on the validation split (h.val_acc): a model "
        "chosen on the test set would make its test score look better than it is.",
    _BEST_EPOCH - 1: "that is the position in the list (Python counts from 0); the epoch number is "
                     "h.epoch[that index].",
}


def _best_epoch_otherwise(value: float) -> str:
    """An epoch the run does not have, or one that is not the best."""
    if not 1 <= value <= len(_EX_SECONDS):
        return f"the run has epochs 1 to {len(_EX_SECONDS)}; {value:g} is not one of them."
    return f"epoch {value:g} does not have the highest validation accuracy: compare h.val_acc."


def _history_context() -> dict[str, Any]:
    """What notebook 06 has defined when it asks: the run ``h`` and this module as ``ex``."""
    return {"h": example_history(), "ex": sys.modules[__name__]}


best_epoch = number_exercise(
    "best_epoch",
    "`h = ex.example_history()` is a 7-epoch run with a validation split. Which epoch's weights "
    "does `fit(..., checkpoint=...)` keep as the best ones, and `load_weights(model, path)` load? "
    "Compute it from h's columns (an epoch number, counting from 1).",
    _BEST_EPOCH, _BEST_MISTAKES, _best_epoch_otherwise, what="the epoch number (an int)",
    context=_history_context,
    hint="fit scores each epoch on the validation split, never on the test set. Careful: list "
         "positions count from 0, epochs from 1.",
    solution="answer = h.epoch[h.val_acc.index(max(h.val_acc))]  # 5 (h.best_epoch() agrees)",
    praise="right: epoch 5 (86.2% on validation). Its validation loss is not the lowest, it is not "
           "the last epoch, and the test set would have picked another: keeping the best "
           "checkpoint on held-out data is what saves you from the last epochs' over-fitting.",
)

_TOTAL_IMAGES = EXAMPLE_TRAIN_SIZE * len(_EX_SECONDS)
_RATE = _TOTAL_IMAGES / sum(_EX_SECONDS)
_RATE_MISTAKES = {
    sum(EXAMPLE_TRAIN_SIZE / s for s in _EX_SECONDS) / len(_EX_SECONDS):
        "that is the mean of the per-epoch rates. It gives the slow first epoch as much weight as "
        "the others although it lasted almost twice as long: divide all images by all seconds.",
    EXAMPLE_TRAIN_SIZE / sum(_EX_SECONDS):
        "that divides one epoch's images by the whole run's seconds: the run saw 45,000 images "
        "in each of its epochs.",
    (_TOTAL_IMAGES - EXAMPLE_TRAIN_SIZE) / sum(_EX_SECONDS[1:]):
        "that is the steady rate without the first epoch. Worth knowing, but the question asks "
        "for the whole run, warm-up included.",
    EXAMPLE_TRAIN_SIZE / _EX_SECONDS[-1]: "that is the last epoch's rate alone; take the whole run.",
    (EXAMPLE_TRAIN_SIZE + EXAMPLE_VAL_SIZE) * len(_EX_SECONDS) / sum(_EX_SECONDS):
        "the 5,000 validation images are held out of training: they are scored, not trained on, "
        "and h.seconds times the training pass only.",
    (EXAMPLE_TRAIN_SIZE + 10_000) * len(_EX_SECONDS) / sum(_EX_SECONDS):
        "the 10,000 test images are not part of it: h.seconds times the training pass only.",
    sum(_EX_SECONDS) / _TOTAL_IMAGES: "that is seconds per image; the question asks for images per second.",
}

images_per_second = number_exercise(
    "images_per_second",
    "In the same run `h = ex.example_history()`, every epoch trained on the 45,000 CIFAR-10 "
    "training images left after holding out 5,000 for validation (`ex.EXAMPLE_TRAIN_SIZE`). How "
    "many images per second did training process over the whole run, the slow first epoch "
    "included? Compute it from h.seconds.",
    _RATE, _RATE_MISTAKES,
    lambda value: (f"{value:,.1f} images/s is not it. Images seen: {len(_EX_SECONDS)} epochs x "
                   f"{EXAMPLE_TRAIN_SIZE:,}; time taken: sum(h.seconds)."),
    what="one number (images per second)", tolerance=0.002, context=_history_context,
    hint="A rate over a whole run is its total work over its total time. Averaging the "
         "per-epoch rates is not the same: the epochs did not last equally long.",
    solution="answer = len(h) * ex.EXAMPLE_TRAIN_SIZE / sum(h.seconds)  # 315,000 / 179.0 s = 1,760 images/s",
    praise=f"right: {_TOTAL_IMAGES:,} images in {sum(_EX_SECONDS):.1f} s, {_RATE:,.0f} images/s. "
           "(h.seconds covers the training passes only; evaluation comes on top.)",
)
