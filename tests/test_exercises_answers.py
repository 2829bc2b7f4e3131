"""Every exercise of every notebook, against a table of answers as learners write them.

One row per exercise: right answers (rounded where rounding is natural, int or
float, a tuple (h, w) for a size, several correct implementations) must pass;
typical wrong answers must fail with a message that says what is wrong. A new
exercise without its row fails ``test_every_exercise_has_a_row``.

The same table drives the other promises of an exercise: a check leaves the
learner's random numbers alone, a hint is a nudge that does not contain the
solution's code, and the question reads as markdown.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import torch
from torch import nn

from course_utils import get_device
from course_utils.exercises import NOTEBOOK_MODULES, Exercise, all_exercises, conv_arithmetic, question_text, resnet18
from course_utils.models import MnistResidualBlock, ResidualBlock

EXERCISES = all_exercises()


@dataclass
class Row:
    right: list[Any]
    wrong: list[tuple[Any, str]]  # (answer, what the message must say)
    check: Callable[[Exercise, Any], Any] | None = None  # how to check, when not ex.check(answer)


# ---------------------------------------------------------------------------
# Learners' implementations, right and wrong
# ---------------------------------------------------------------------------

def conv_out_floor(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_out_math(n, k, s=1, p=0, d=1):
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def conv_out_int(n, k, s=1, p=0, d=1):
    return int((n + 2 * p - d * (k - 1) - 1) / s) + 1  # int() floors: the room is never negative


def conv_out_ceil(n, k, s=1, p=0, d=1):
    return math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1


def conv_out_no_dilation(n, k, s=1, p=0, d=1):
    return (n + 2 * p - k) // s + 1


def conv_out_fraction(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) / s + 1


def relu_cnn(order: str = "pool-relu", last_relu: bool = False, flatten: bool = True, relus: bool = True):
    def make():
        def stage(c_in, c_out):
            conv, pool = nn.Conv2d(c_in, c_out, 5, padding=2), nn.MaxPool2d(2)
            if not relus:
                return [conv, pool]
            return [conv, pool, nn.ReLU()] if order == "pool-relu" else [conv, nn.ReLU(), pool]
        layers = [*stage(3, 32), *stage(32, 32), *stage(32, 64)]
        layers += [nn.Flatten()] if flatten else []
        layers += [nn.Linear(1024, 64), *([nn.ReLU()] if relus else []), nn.Linear(64, 10)]
        layers += [nn.ReLU()] if last_relu else []
        return nn.Sequential(*layers)
    return make


def confusion_predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """Cat is the hardest class (4 of 10 right), mostly taken for a dog; frogs are often called cats."""
    matrix = [[10 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[3] = [0, 0, 1, 4, 0, 3, 2, 0, 0, 0]  # cat
    matrix[6] = [0, 0, 0, 4, 0, 0, 6, 0, 0, 0]  # frog, taken for a cat 4 times
    y_true, y_pred = [], []
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            y_true += [i] * count
            y_pred += [j] * count
    return torch.tensor(y_true), torch.tensor(y_pred)


def check_confusion(exercise: Exercise, answer: Any):
    return exercise.check(answer, *confusion_predictions())


MyBlock = EXERCISES["residual_blocks.residual_block"].solved()  # 03: the solution, run as code


class FunctionalBlock(MyBlock):  # 03: the same with torch.relu, the shortcut computed last
    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class NoSkipBlock(MyBlock):
    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class ReluBeforeAddBlock(MyBlock):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))) + identity


class AlwaysProjectBlock(MyBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                        nn.BatchNorm2d(out_channels))


MyResBlock = EXERCISES["mnist_resnet.residual_block"].solved()  # 05: the solution, run as code


class ModuleResBlock(nn.Module):  # 05: nn.ReLU modules instead of torch.relu
    def __init__(self, channels, inner_relu=False):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 30, 5, padding=2)
        self.act = nn.ReLU() if inner_relu else nn.Identity()
        self.conv2 = nn.Conv2d(30, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.act(self.conv1(x))) + x)


class NoSkipResBlock(MyResBlock):
    def forward(self, x):
        out = self.conv1(x)
        return torch.relu(self.conv2(torch.relu(out) if self.inner_relu else out))


class AlwaysInnerReluBlock(MyResBlock):
    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)


def make_layer_solution(in_channels, channels, blocks, stride):
    layers = [ResidualBlock(in_channels, channels, stride)]
    layers += [ResidualBlock(channels, channels) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def make_layer_loop(in_channels, channels, blocks, stride):
    layer = nn.Sequential()
    for i in range(blocks):
        layer.append(ResidualBlock(in_channels if i == 0 else channels, channels, stride if i == 0 else 1))
    return layer


def make_layer_list(in_channels, channels, blocks, stride):
    return [ResidualBlock(in_channels, channels, stride)] + [ResidualBlock(channels, channels)
                                                             for _ in range(1, blocks)]


def make_layer_every_stride(in_channels, channels, blocks, stride):
    return nn.Sequential(ResidualBlock(in_channels, channels, stride),
                         *[ResidualBlock(channels, channels, stride) for _ in range(1, blocks)])


def make_layer_rest_from_in(in_channels, channels, blocks, stride):
    return nn.Sequential(ResidualBlock(in_channels, channels, stride),
                         *[ResidualBlock(in_channels, channels) for _ in range(1, blocks)])


def epoch_plan_solution(n_images, global_batch, world_size):
    per_rank = math.ceil(n_images / world_size)
    steps = math.ceil(per_rank / (global_batch // world_size))
    return per_rank, steps, per_rank * world_size - n_images


def epoch_plan_integers(n_images, global_batch, world_size):
    per_rank = -(-n_images // world_size)
    batch = global_batch // world_size
    return [per_rank, -(-per_rank // batch), per_rank * world_size - n_images]


def epoch_plan_floored(n_images, global_batch, world_size):
    per_rank = n_images // world_size
    return per_rank, math.ceil(per_rank / (global_batch // world_size)), 0


def epoch_plan_global_batch(n_images, global_batch, world_size):
    per_rank = math.ceil(n_images / world_size)
    return per_rank, math.ceil(per_rank / global_batch), per_rank * world_size - n_images


def epoch_plan_drop_last(n_images, global_batch, world_size):
    per_rank = math.ceil(n_images / world_size)
    return per_rank, per_rank // (global_batch // world_size), per_rank * world_size - n_images


# ---------------------------------------------------------------------------
# The table: one row per exercise, "module.name"
# ---------------------------------------------------------------------------

HERE = get_device().type
ELSEWHERE = "cuda" if HERE != "cuda" else "cpu"
H = resnet18.example_history()
RATE = len(H) * resnet18.EXAMPLE_TRAIN_SIZE / sum(H.seconds)

TABLE: dict[str, Row] = {
    # 00_setup
    "setup.device": Row([HERE, HERE.upper(), f" {HERE} ", f"{HERE}:0"],
                        [("gpu", "no device called 'gpu'"), ("tpu", "not one of PyTorch's device types"),
                         (0, "as a string"), (ELSEWHERE, f"get_device() picks '{HERE}'")]),
    "setup.run_length": Row([1, 1.0, "1"], [(10, "smoke wins over RUN"), (30, "full run"),
                                            (3, "pick returns smoke"), ("ten", "one number")]),
    "setup.epoch_minutes": Row([50_000 / 20 / 60, 41.67, 41.7, 42, 41, "41.7"],
                               [(2500, "seconds"), (50_000 / 2500 / 60, "T4's time"), (0.69, "hours"),
                                (1250, "whole 30-epoch run"), (40, "Divide the images"), (43, "Divide"),
                                ("long", "one number of minutes")]),
    # 01_conv2d_output_size
    "conv_arithmetic.output_size": Row([55, 55.0, (55, 55), torch.Size([55, 55]), (224 + 2 * 2 - 11) // 4 + 1],
                                       [(56, "rounded up"), (54, "one short"), (55.25, "did not round down"),
                                        (57, "subtract the kernel"), (218, "stride 1"), ("55 pixels", "give one number")]),
    "conv_arithmetic.conv_out": Row([conv_out_floor, conv_out_math, conv_out_int],
                                    [(conv_out_ceil, "rounds up"), (conv_out_no_dilation, "forgets the dilation"),
                                     (conv_out_fraction, "floor division"), (55, "should be a function")]),
    "conv_arithmetic.stride_padding": Row([(2, 1), [2, 1], {"stride": 2, "padding": 1}, (2.0, 1.0), (3, 8)],
                                          [((1, 0), "stride 1 gives 30"), ((2, 0), "gives 15"),
                                           ((1, 2), "swap them"), ((2, 3), "smaller padding"),
                                           ((2, 0.5), "whole numbers"), (16, "a pair (stride, padding)")]),
    "conv_arithmetic.dilated_padding": Row([2, 2.0, "2", (2, 2), 2 * (3 - 1) // 2],
                                           [(1, "ordinary 3x3"), (4, "split between the two sides"),
                                            (3, "d * k"), (5, "span"), ("same", "give the number"),
                                            (0, "gives 28x28"), (2.5, "whole number")]),
    "conv_arithmetic.linear_in_features": Row([4096, 4096.0, 64 * 8 * 8],
                                              [(1024, "32x32 input"), (16384, "three max-pools"),
                                               ((64, 8, 8), "give its length"), (64, "channels x height x width")]),
    "conv_arithmetic.mult_adds": Row([57_802_752, 57802752.0, 57.8e6, 28 * 28 * 128 * 64 * 3 * 3],
                                     [(231_211_008, "56 x 56 positions"), (115_605_504, "FLOPs"),
                                      (903_168, "input channels"), (19_267_584, "use k * k"),
                                      (57_903_104, "bias=False"), ("58 million", "one number")]),
    "conv_arithmetic.stem_receptive_field": Row([27, 27.0, "27", (27, 27), 1 + 6 + 2 * 2 + 2 * 4 + 2 * 4],
                                                [(13, "leaves out the strides"), (37, "not its own"),
                                                 (16, "adds the kernel sizes"), (15, "max-pool counts"),
                                                 (11, "stem alone"), ("27 px", "one number")]),
    # 02_cifar10_sequential_cnn
    "cifar_cnn.conv_parameters": Row([51_264, 51264.0, 64 * 32 * 5 * 5 + 64],
                                     [(51_200, "left out the biases"), (1_664, "input channels"),
                                      (145_578, "whole model"), ("many", "one number")]),
    "cifar_cnn.costliest_layer": Row([("conv2", 6_553_600), ("conv2", 6_561_792), ["Conv2", 6.55e6],
                                      ("conv2", 16 * 16 * 32 * 32 * 5 * 5)],
                                     [(("conv1", 2_457_600), "3 channels"), (("linear1", 65_600), "once per image"),
                                      (("conv2", 26_214_400), "16x16 maps"), (("conv2", 25_632), "parameters"),
                                      ("conv2", "give a pair")]),
    "cifar_cnn.relu_sequential": Row([relu_cnn(), relu_cnn("relu-pool"), relu_cnn()()],
                                     [(relu_cnn(relus=False), "no ReLU"), (relu_cnn(last_relu=True), "after the last Linear"),
                                      (relu_cnn(flatten=False), "nn.Flatten() is missing"),
                                      (lambda: MnistResidualBlock(20), "asks for an nn.Sequential")]),
    "cifar_cnn.confusion_reading": Row([("cat", "dog"), ["Cat", "dog "]],
                                       [(("airplane", "dog"), "*easiest* class"), (("cat", "frog"), "you read its column"),
                                        (("cat", "cat"), "skip the diagonal"), ((3, "dog"), "not its label"),
                                        ("cat", "two class names")], check=check_confusion),
    # 03_residual_blocks
    "residual_blocks.block_output_shape": Row([(8, 128, 8, 8), [8, 128, 8, 8], torch.Size([8, 128, 8, 8]),
                                               (8, 128, (15 + 2 - 3) // 2 + 1, (15 + 2 - 3) // 2 + 1)],
                                              [((8, 128, 7, 7), "15 // 2"), ((8, 64, 8, 8), "out_channels = 128"),
                                               ((128, 8, 8), "four dimensions"), ((8, 8, 8, 128), "(N, C, H, W)"),
                                               (8, "give a shape")]),
    "residual_blocks.needs_projection": Row([lambda i, o, s: s != 1 or i != o,
                                             lambda i, o, s: not (s == 1 and i == o),
                                             lambda i, o, s: (i, s) != (o, 1)],
                                            [(lambda i, o, s: i != o, "the stride alone"),
                                             (lambda i, o, s: s != 1, "channels change"),
                                             (lambda i, o, s: o > i or s != 1, "fewer channels"),
                                             (lambda i, o, s: True, "keeps the shape"),
                                             (lambda i, o, s: int(s != 1 or i != o), "return True or False")]),
    "residual_blocks.projection_parameters": Row([8448, 8448.0, 64 * 128 + 2 * 128],
                                                 [(8192, "BatchNorm2d(128)"), (8704, "running_mean"),
                                                  (8576, "conv bias"), (True, "one number")]),
    "residual_blocks.residual_block": Row([MyBlock, FunctionalBlock],
                                          [(NoSkipBlock, "skip connection is missing"),
                                           (ReluBeforeAddBlock, "apply the ReLU last"),
                                           (AlwaysProjectBlock, "projection anyway"),
                                           (MyBlock(16, 16), "give the class itself")]),
    # 04_resnet_family
    "resnet_family.bottleneck_weights": Row([69_632, 69632.0, 256 * 64 + 9 * 64 * 64 + 64 * 256],
                                            [(1_179_648, "basic block working on 256"), (36_864, "3x3 convolution alone"),
                                             (53_248, "64 -> 256 channels, has weights"), (57_344, "expansion = 4"),
                                             (73_728, "basic block on 64"), (70_400, "batch norms"),
                                             (16_384 + 3 * 4096 + 16_384, "not 3"), ("many", "one number")]),
    "resnet_family.projection_count": Row([4, 4.0, "4"],
                                          [(3, "4 x 64 = 256"), (16, "whose input and output shapes differ"),
                                           (0, "cannot add x"), (1, "every stage"), (6, "count per stage")]),
    "resnet_family.option_b_extra": Row([2752, 2752.0, 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64],
                                        [(2560, "scale and a shift"), (0, "option A has no parameters"),
                                         (576, "add the 32 -> 64"), (2176, "add the 16 -> 32"),
                                         (2944, "buffers"), (23_232, "not nine")]),
    "resnet_family.gradient_fraction": Row([0.5, 0.49, "0.5", 0.51],
                                           [(1, "pre-activation"), (0.5 ** 10, "relu(relu(x))"),
                                            (0, "passes the gradient unchanged"), (0.25, "one ReLU decides")]),
    # 05_cifar_degradation
    "cifar_degradation.blocks_in_resnet56": Row([27, 27.0, "27", 3 * 9],
                                                [(9, "one stage"), (28, "56 / 2"), (54, "each block holds two"),
                                                 (18, "three stages"), (56, "counts layers")]),
    "cifar_degradation.paper_epochs": Row([182, 182.0, 64_000 * 128 / 45_000, "182.0"],
                                          [(163.84, "45,000"), (500, "multiply them"), (351.6, "steps in one epoch"),
                                           (8_192_000, "images seen"), (45_000 / 64_000 / 128, "other way up")]),
    "cifar_degradation.lr_at_step": Row([0.01, 0.1 / 10, "0.01", 1e-2],
                                        [(0.1, "past the first division"), (0.001, "after step 40,000"),
                                         (0.05, "not halved"), (0.09, "not lowered")]),
    # 06_resnet18_training
    "resnet18.stage_shapes": Row([[(64, 8, 8), (128, 4, 4), (256, 2, 2), (512, 1, 1)],
                                  [[64, 8, 8], [128, 4, 4], [256, 2, 2], [512, 1, 1]],
                                  [torch.Size([1, 64, 8, 8]), torch.Size([1, 128, 4, 4]),
                                   torch.Size([1, 256, 2, 2]), torch.Size([1, 512, 1, 1])]],
                                 [([(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)], "forget the max-pool"),
                                  ([(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)], "CIFAR stem"),
                                  ([(64, 8, 8), (64, 4, 4), (128, 2, 2), (256, 1, 1)], "64 * 2**k"),
                                  ((64, 8, 8), "four shapes, one per stage"),
                                  ([64, 128, 256, 512], "(channels, height, width)")]),
    "resnet18.make_layer": Row([make_layer_solution, make_layer_loop],
                               [(make_layer_list, "nn.Sequential(*blocks)"),
                                (make_layer_every_stride, "only the first block gets the stride"),
                                (make_layer_rest_from_in, "second block expects"),
                                (ResidualBlock(64, 64), "the function itself")]),
    "resnet18.stem_savings": Row([7680, 7680.0, 64 * 3 * 7 * 7 - 64 * 3 * 3 * 3],
                                 [(9408, "whole 7x7"), (-7680, "wrong sign"), (1728, "difference")]),
    "resnet18.layer4_size": Row([4, 4.0, (4, 4), torch.Size([4, 4])],
                                [(8, "stride-1 stem"), (2, "layer1 keeps the size"), (16, "layer2's output"),
                                 (512, "channel count")]),
    "resnet18.stride_speedup": Row([4, 4.0, 2 * 2, 3.9],
                                   [(2, "*and* the width"), (0.25, "fraction of the work left"),
                                    (16, "applied once"), (1, "grows with the number")]),
    "resnet18.best_epoch": Row([5, 5.0, H.epoch[H.val_acc.index(max(H.val_acc))], H.best_epoch()],
                               [(7, "last epoch"), (3, "lowest validation loss"), (6, "*test* accuracy"),
                                (4, "counts from 0"), (9, "epochs 1 to 7"), ("five", "epoch number")]),
    "resnet18.images_per_second": Row([RATE, round(RATE), round(RATE, 1), 1760],
                                      [(sum(H.examples_per_s) / len(H), "mean of the per-epoch rates"),
                                       (H.examples_per_s[-1], "last epoch"),
                                       (7 * 50_000 / sum(H.seconds), "validation images"),
                                       (sum(H.seconds) / (len(H) * resnet18.EXAMPLE_TRAIN_SIZE), "seconds per image")]),
    # 07_resnet18_fast
    "resnet18_fast.loader_bound": Row([1 / 0.30, 3.33, 3.3, "3.33", 10 / 3],
                                      [(1 / 0.38, "loading only"), (0.7, "share of time removed"),
                                       (70, "in percent"), (1 / 0.7, "other way round"), (0.3, "share of time left"),
                                       (2.33, "add the 1 back"), ("fast", "a factor")]),
    "resnet18_fast.dataset_bytes": Row([184.32, 184, 184.3, "184.32", 60_000 * 3 * 32 * 32 / 1e6],
                                       [(737.28, "float32"), (61.44, "3 colour channels"), (153.6, "training images alone"),
                                        (175.78, "MiB"), (184_320_000, "number of bytes"), (1474.56, "bits"),
                                        ("184 MB", "one number of megabytes")]),
    "resnet18_fast.step_speedup": Row([2300 / 1200, 1.92, 1.9, "1.92"],
                                      [(2300 / 900, "compares with the baseline"), (2300 / 1100, "two above"),
                                       (1100, "difference"), (1200 / 2300, "upside down"),
                                       (3200 / 1200, "which come after it"), (3200 / 900, "whole ladder")]),
    # 08_mnist_resnet
    "mnist_resnet.flatten_size": Row([375, 375.0, 15 * 5 * 5],
                                     [(735, "kept the size"), (1500, "second max-pool"), (500, "20 to 15"),
                                      ((15, 5, 5), "give its length"), ("three hundred", "one number")]),
    "mnist_resnet.block_parameters": Row([20_450, 20450.0, (30 * 20 * 5 * 5 + 30) + (20 * 30 * 3 * 3 + 20)],
                                         [(20_400, "left out the biases"), (15_030, "first convolution alone"),
                                          (35_795, "both blocks"), (True, "one number")]),
    "mnist_resnet.residual_block": Row([MyResBlock, ModuleResBlock, MnistResidualBlock],
                                       [(NoSkipResBlock, "skip connection is missing"),
                                        (AlwaysInnerReluBlock, "without inner_relu"),
                                        (MyResBlock(20), "give the class itself")]),
    "mnist_resnet.should_save": Row([lambda acc, best: best is None or acc > best,
                                     lambda acc, best: True if best is None else acc > best,
                                     lambda acc, best: acc > (best if best is not None else -1.0)],
                                    [(lambda acc, best: not best or acc > best, "best=0.0 is a real best"),
                                     (lambda acc, best: acc > best if best else True, "best=0.0 is a real best"),
                                     (lambda acc, best: best is None or acc >= best, "tie"),
                                     (lambda acc, best: acc > (best or 0), "`best is None`"),
                                     (lambda acc, best: acc > best, "deal with `best is None`"),
                                     (lambda acc, best: None, "forget `return`")]),
    # 09_fashion_mnist_resnet18_d2l
    "d2l_resnet.stem_size": Row([24, 24.0, (24, 24)],
                                [(48, "max-pool"), (23, "one short"), (56, "224x224"), (96, "not size-preserving")]),
    "d2l_resnet.padding_matters": Row([98, 90, 93, 94, 97, 98.0],
                                      [(96, "the max-pool turns both into"), (92, "max-pool turns both"),
                                       (101, "outside 90..100"), (98.5, "whole number")]),
    "d2l_resnet.projection_blocks": Row([["b3", "b4", "b5"], ("b3", "b4", "b5"), {"b3", "b4", "b5"}, [3, 4, 5],
                                         ["B3", "b4", "b5"]],
                                        [(["b2", "b3", "b4", "b5"], "b2 keeps 64 channels"), (["b3"], "b4, b5 also"),
                                         (["layer2", "layer3", "layer4"], "torchvision's names"),
                                         (["b1", "b3"], "stem")]),
    "d2l_resnet.conv_biases": Row([4800, 4800.0, 64 + 2 * 2 * 64 + (2 * 2 * 128 + 128) + (2 * 2 * 256 + 256)
                                   + (2 * 2 * 512 + 512)],
                                  [(4800 - 896, "1x1 projection"), (4736, "stem"), (3008, "whole gap"),
                                   (9600, "one bias per output channel")]),
    "d2l_resnet.examples_per_sec": Row([60_000 * 10 / 254.5, 2357.6, 2358, 2357.56, "2357.6"],
                                       [(235.8, "multiply by the 10 epochs"), (2357, "round rather than cut off"),
                                        (70_000 * 10 / 254.5, "test images"), (9.2, "batches per second"),
                                        (2400, "metric[2] * num_epochs")]),
    # 10_visualizing_residual_connections
    "visualizing.count_adds": Row([8, 8.0, 4 * 2], [(2, "one stage"), (4, "two blocks"), (16, "3x3 convolutions"),
                                                    (9, "AddmmBackward0")]),
    "visualizing.sum_norm": Row([math.sqrt(101), 10.05, "10.05", (10**2 + 1**2) ** 0.5],
                                [(11, "same way"), (9, "opposite"), (10, "a little"), (101, "square root"),
                                 (0.1, "the ratio")]),
    "visualizing.unrolled_paths": Row([512, 512.0, 2 ** 9, "512"],
                                      [(9, "counts the blocks"), (18, "multiply"), (256, "8 blocks"),
                                       (1024, "10 blocks"), (20, "counts the layers")]),
    "visualizing.plain_lesions": Row([7, 7.0, 9 - 2, "7"],
                                     [(9, "cannot take their place"), (8, "two blocks change the shape"),
                                      (6, "layer1's first block"), (0, "identity")]),
    # 12_from_notebook_to_multi_gpu
    "multi_gpu.per_rank_batch": Row([64, 64.0, 512 // (2 * 4)],
                                    [(128, "GPUs of one machine"), (256, "machines only"), (512, "global batch"),
                                     (4096, "not multiplied")]),
    "multi_gpu.epoch_plan": Row([epoch_plan_solution, epoch_plan_integers],
                                [(epoch_plan_floored, "you floored"), (epoch_plan_global_batch, "global batch"),
                                 (epoch_plan_drop_last, "round up"), ((500, 4, 0), "the function itself")]),
    "multi_gpu.scaled_lr": Row([0.8, 0.1 * 8, 0.1 * (8 * 256) / 256, "0.8"],
                               [(0.1, "one-GPU learning rate"), (0.1 * math.sqrt(8), "square-root rule"),
                                (0.1 / 8, "you divided"), (0.4, "check the global batch")]),
    "multi_gpu.who_writes": Row([{0}, [0], 0, (0,)],
                                [({0, 4}, "LOCAL_RANK-0"), (set(range(8)), "corrupt"), ({1}, "rank 0 is the one"),
                                 (0.5, "whole numbers"), ("rank zero", "set of ranks")]),
    # 11_transfer_learning
    "transfer_learning.imagenet_input": Row([0.074, 0.0741, (128 / 255 - 0.485) / 0.229, "0.074"],
                                            [(0.043, "CIFAR-10's own statistics"), (556.8, "divide 128 by 255"),
                                             (0.017, "divide it by the standard deviation"),
                                             (0.502, "before the normalisation"), (1.707, "not x / std - mean")]),
    "transfer_learning.layer4_side": Row([4, 4.0, "4"],
                                         [(3.5, "one step at a time"), (3, "rounds an odd side up"),
                                          (7, "layer3's output"), (1, "32x32"), (14, "layer2's output")]),
    "transfer_learning.layer4_trainable": Row([8_398_858, 8398858.0, "8398858", 8_393_728 + 5_130],
                                              [(8_393_728, "layer4 alone"), (8_906_728, "1000-class head"),
                                               (5_130, "the head alone"), (11_181_642, "every parameter")]),
}


def right_cases() -> list:
    return [pytest.param(key, answer, id=f"{key}-{i}")
            for key, row in TABLE.items() for i, answer in enumerate(row.right)]


def run_check(key: str, answer: Any):
    row, exercise = TABLE[key], EXERCISES[key]
    return row.check(exercise, answer) if row.check else exercise.check(answer)


# ---------------------------------------------------------------------------
# The table itself
# ---------------------------------------------------------------------------

def test_every_exercise_has_a_row():
    missing = sorted(set(EXERCISES) - set(TABLE))
    assert not missing, f"add a row of right and wrong answers to TABLE for: {missing}"
    assert not set(TABLE) - set(EXERCISES), "rows for exercises that no longer exist"


def test_every_row_has_right_and_wrong_answers():
    for key, row in TABLE.items():
        assert row.right and len(row.wrong) >= 3, key


@pytest.mark.parametrize("key, answer", right_cases())
def test_right_answer_as_a_learner_writes_it_passes(key, answer):
    result = run_check(key, answer)
    assert result.passed, f"{key} rejected the right answer {answer!r}: {result.message}"


@pytest.mark.parametrize("key, answer, says", [pytest.param(k, a, s, id=f"{k}-{i}")
                                               for k, row in TABLE.items() for i, (a, s) in enumerate(row.wrong)])
def test_typical_wrong_answer_fails_and_says_why(key, answer, says):
    result = run_check(key, answer)
    assert not result.passed and result.done, f"{key} accepted the wrong answer {answer!r}"
    assert says in result.message, f"{key}, {answer!r}: {result.message}"
    assert f"ex.{result.exercise}.hint()" in result.message


@pytest.mark.parametrize("key", sorted(TABLE))
def test_unfinished_answer_is_not_done_yet(key):
    for unfinished in (..., None):
        result = run_check(key, unfinished)
        assert not result.done and "[not done yet]" in repr(result)


def test_a_pair_still_holding_dots_is_not_done_yet():
    assert not check_confusion(EXERCISES["cifar_cnn.confusion_reading"], ("cat", ...)).done
    assert not EXERCISES["conv_arithmetic.stride_padding"].check((..., ...)).done


# ---------------------------------------------------------------------------
# Checks leave the learner's random numbers alone
# ---------------------------------------------------------------------------

def rng_states():
    import numpy
    return torch.get_rng_state(), random.getstate(), numpy.random.get_state()[1].copy()


@pytest.mark.parametrize("key", sorted(TABLE))
def test_check_leaves_the_global_random_generators_unchanged(key):
    torch.manual_seed(1234)
    before = rng_states()
    answers = [*TABLE[key].right[:2], TABLE[key].wrong[0][0]]
    for answer in answers:
        run_check(key, answer)
    after = rng_states()
    assert torch.equal(before[0], after[0]), f"{key}'s check changed torch's random state"
    assert before[1] == after[1], f"{key}'s check changed Python's random state"
    assert (before[2] == after[2]).all(), f"{key}'s check changed NumPy's random state"


def test_learners_next_random_numbers_are_what_they_would_have_been():
    torch.manual_seed(0)
    expected = torch.randn(3)
    torch.manual_seed(0)
    EXERCISES["mnist_resnet.residual_block"].check(MyResBlock)
    assert torch.equal(torch.randn(3), expected)


def test_no_checker_calls_torch_manual_seed():
    import course_utils.exercises as package
    for name in {key.split(".")[0] for key in EXERCISES}:
        source = inspect.getsource(getattr(package, name))
        assert "torch.manual_seed" not in source, f"{name} reseeds the learner's RNG: use seeded()"


def test_checks_with_random_inputs_give_the_same_verdict_every_time():
    first = [EXERCISES["residual_blocks.residual_block"].check(ReluBeforeAddBlock).message for _ in range(2)]
    torch.manual_seed(99)
    first.append(EXERCISES["residual_blocks.residual_block"].check(ReluBeforeAddBlock).message)
    assert len(set(first)) == 1


# ---------------------------------------------------------------------------
# Hints are nudges, not the solution
# ---------------------------------------------------------------------------

def code_lines(solution: str) -> list[str]:
    """The solution's non-trivial code lines, comments and ``answer =`` cut, spaces removed."""
    lines = []
    for line in solution.splitlines():
        code = re.sub(r"^answer\s*=\s*", "", line.split("  #")[0].strip())
        code = re.sub(r"\s+", "", code)
        if len(code) >= 10 and code not in {"super().__init__()", "defforward(self,x):"}:
            lines.append(code)
    return lines


def leaks(hint: str, solution: str) -> list[str]:
    """What of the solution's code the hint repeats: whole lines, or any run of 20 characters."""
    hint = re.sub(r"\s+", "", hint)
    lines = code_lines(solution)
    found = [line for line in lines if line in hint]
    code = "".join(lines)
    match = difflib.SequenceMatcher(None, hint, code, autojunk=False).find_longest_match(
        0, len(hint), 0, len(code))
    if match.size >= 20:
        found.append(hint[match.a:match.a + match.size])
    return found


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_hint_does_not_contain_the_solutions_code(key):
    exercise = EXERCISES[key]
    leaked = leaks(exercise._hint, exercise._solution)
    assert not leaked, f"the hint of {key} gives away the solution: {leaked}"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_hint_is_short_and_prints_only_when_asked(key, capsys):
    exercise = EXERCISES[key]
    assert len(exercise._hint) < 400, f"{key}: a hint is a nudge, a few lines at most"
    exercise.check(...)
    assert capsys.readouterr().out == ""
    exercise.hint()
    assert exercise._hint in capsys.readouterr().out


@pytest.mark.parametrize("hint", [
    "Write: return stride != 1 or in_channels != out_channels.",  # a whole line
    "blocks = [ResidualBlock(in_channels, channels, stride)], then the rest.",  # a long run of it
])
def test_the_leak_finder_catches_a_hint_that_spells_out_the_solution(hint):
    solution = ("def f(in_channels, channels, stride):\n"
                "    layers = [ResidualBlock(in_channels, channels, stride)]\n"
                "    return stride != 1 or in_channels != out_channels")
    assert leaks(hint, solution)
    assert not leaks("Which stride keeps the size?", solution)


# ---------------------------------------------------------------------------
# Questions read as markdown, without running code
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_markdown_names_the_exercise_and_holds_the_question(key):
    exercise = EXERCISES[key]
    text = exercise.markdown()
    assert text.startswith(f"**Exercise `{exercise.name}`.** ")
    assert question_text(key) in text


def test_question_text_takes_a_unique_name_or_module_and_name():
    assert question_text("stem_savings") == question_text("resnet18.stem_savings")
    with pytest.raises(KeyError, match="several notebooks"):
        question_text("residual_block")
    with pytest.raises(KeyError, match="no exercise is called"):
        question_text("no_such_exercise")


def test_all_exercises_finds_each_module_and_name_once():
    assert "conv_arithmetic.conv_out" in EXERCISES and "mnist_resnet.flatten_size" in EXERCISES
    assert all(key.endswith("." + ex.name) for key, ex in EXERCISES.items())
    modules = [importlib.import_module(f"course_utils.exercises.{m}") for m in NOTEBOOK_MODULES]
    listed = [name for module in modules for name in module.__all__ if isinstance(getattr(module, name), Exercise)]
    assert len(EXERCISES) == len(listed) >= 3 * len(modules)  # every exercise a module exports, once
    assert conv_arithmetic.conv_out is EXERCISES["conv_arithmetic.conv_out"]
