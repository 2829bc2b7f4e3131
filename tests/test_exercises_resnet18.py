"""The exercises of 06_resnet18_training accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import resnet18 as ex
from course_utils.models import ResidualBlock, conv3x3, count_parameters, resnet18

# --- stage_shapes ---------------------------------------------------------------

def real_stage_shapes(stem: str, size: int = 32) -> list[tuple[int, ...]]:
    model = resnet18(stem=stem).eval()
    x = model.maxpool(model.relu(model.bn1(model.conv1(torch.zeros(1, 3, size, size)))))
    shapes = []
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def test_stage_shapes_accepts_what_the_real_network_computes():
    shapes = real_stage_shapes("imagenet")
    assert shapes == [(64, 8, 8), (128, 4, 4), (256, 2, 2), (512, 1, 1)]
    assert ex.stage_shapes.check(shapes).passed


def test_stage_shapes_accepts_torch_sizes_with_the_batch_dimension():
    answer = [torch.Size([1, 64, 8, 8]), torch.Size([1, 128, 4, 4]),
              torch.Size([1, 256, 2, 2]), torch.Size([1, 512, 1, 1])]
    assert ex.stage_shapes.check(answer).passed


def test_stage_shapes_diagnoses_a_forgotten_max_pool():
    result = ex.stage_shapes.check([(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)])
    assert not result.passed and result.done and "forget the max-pool" in result.message


def test_stage_shapes_recognises_the_cifar_stem_sizes():
    assert real_stage_shapes("cifar") == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    result = ex.stage_shapes.check(real_stage_shapes("cifar"))
    assert not result.passed and "CIFAR stem" in result.message


@pytest.mark.parametrize("heights, says", [
    ((4, 2, 1, 1), "layer1 keeps the size"),
    ((56, 28, 14, 7), "224x224"),
    ((7, 4, 2, 1), "padding 3"),
    ((8, 4, 2, 0), "not 0"),
])
def test_stage_shapes_explains_other_size_mistakes(heights, says):
    answer = [(c, h, h) for c, h in zip([64, 128, 256, 512], heights)]
    result = ex.stage_shapes.check(answer)
    assert not result.passed and says in result.message


def test_stage_shapes_catches_wrong_channels_and_wrong_length():
    result = ex.stage_shapes.check([(64, 8, 8), (64, 4, 4), (64, 2, 2), (64, 1, 1)])
    assert not result.passed and "64 * 2**k" in result.message
    result = ex.stage_shapes.check([(64, 8, 8), (128, 4, 4), (256, 2, 2)])
    assert not result.passed and "four shapes" in result.message
    result = ex.stage_shapes.check([(8, 8, 64), (4, 4, 128), (2, 2, 256), (1, 1, 512)])
    assert not result.passed and "(channels, height, width)" in result.message


def test_stage_shapes_rejects_a_non_list_without_crashing():
    result = ex.stage_shapes.check(8)
    assert not result.passed and "list of four shapes" in result.message


# --- make_layer -------------------------------------------------------------------

def good_make_layer(in_channels, channels, blocks, stride):
    layers = [ResidualBlock(in_channels, channels, stride)]
    layers += [ResidualBlock(channels, channels) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def test_make_layer_accepts_the_solution_and_it_matches_the_reference_stage():
    assert ex.make_layer.check(good_make_layer).passed
    reference = resnet18().layer2
    mine = good_make_layer(64, 128, 2, 2)
    mine.load_state_dict(reference.state_dict())  # same names, same shapes
    assert count_parameters(mine) == count_parameters(reference)


def test_make_layer_catches_the_stride_given_to_every_block():
    def every_block_strides(in_channels, channels, blocks, stride):
        return nn.Sequential(ResidualBlock(in_channels, channels, stride),
                             *[ResidualBlock(channels, channels, stride) for _ in range(1, blocks)])
    result = ex.make_layer.check(every_block_strides)
    assert not result.passed and "only the first block gets the stride" in result.message


def test_make_layer_catches_the_rest_built_from_in_channels():
    def wrong_inputs(in_channels, channels, blocks, stride):
        return nn.Sequential(ResidualBlock(in_channels, channels, stride),
                             *[ResidualBlock(in_channels, channels) for _ in range(1, blocks)])
    result = ex.make_layer.check(wrong_inputs)
    assert not result.passed and "ResidualBlock(channels, channels)" in result.message


def test_make_layer_catches_a_forgotten_stride():
    def no_stride(in_channels, channels, blocks, stride):
        return good_make_layer(in_channels, channels, blocks, 1)
    result = ex.make_layer.check(no_stride)
    assert not result.passed and "pass the stride to the first block" in result.message


def test_make_layer_catches_a_list_and_a_wrong_block_count():
    result = ex.make_layer.check(lambda i, c, b, s: list(good_make_layer(i, c, b, s)))
    assert not result.passed and "nn.Sequential(*blocks)" in result.message
    result = ex.make_layer.check(lambda i, c, b, s: good_make_layer(i, c, b + 1, s))
    assert not result.passed and "one per block" in result.message


def test_make_layer_catches_a_projection_on_every_block():
    class AlwaysProject(ResidualBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def projecting(in_channels, channels, blocks, stride):
        return nn.Sequential(AlwaysProject(in_channels, channels, stride),
                             *[AlwaysProject(channels, channels) for _ in range(1, blocks)])
    result = ex.make_layer.check(projecting)
    assert not result.passed and "identity" in result.message


def test_make_layer_stub_is_not_done_yet():
    def stub(in_channels, channels, blocks, stride):
        raise NotImplementedError
    result = ex.make_layer.check(stub)
    assert not result.done and "not done yet" in repr(result)


# --- stem_savings -------------------------------------------------------------------

def test_stem_savings_accepts_the_difference_pytorch_counts():
    real = (count_parameters(resnet18(stem="imagenet")) - count_parameters(resnet18(stem="cifar")))
    assert real == 7_680
    assert ex.stem_savings.check(real).passed


@pytest.mark.parametrize("wrong, says", [
    (9_408, "subtract it"),
    (1_728, "difference"),
    (2_560, "3 colour channels"),
    (120, "64 output channels"),
    (-7_680, "wrong sign"),
    (7_808, "cancels"),
])
def test_stem_savings_explains_typical_mistakes(wrong, says):
    result = ex.stem_savings.check(wrong)
    assert not result.passed and says in result.message


# --- best_epoch ------------------------------------------------------------------------

def test_best_epoch_accepts_the_epoch_history_reports():
    h = ex.example_history()
    assert h.best_epoch() == 5
    assert ex.best_epoch.check(h.epoch[h.val_acc.index(max(h.val_acc))]).passed


@pytest.mark.parametrize("wrong, says", [
    (7, "last epoch"),
    (3, "lowest validation loss"),
    (6, "highest *test* accuracy"),
    (4, "counts from 0"),
    (9, "epochs 1 to 7"),
])
def test_best_epoch_explains_last_lowest_loss_test_set_and_zero_based_answers(wrong, says):
    result = ex.best_epoch.check(wrong)
    assert not result.passed and says in result.message


# --- images_per_second -------------------------------------------------------------------

def test_images_per_second_accepts_total_images_over_total_seconds():
    h = ex.example_history()
    right = len(h) * ex.EXAMPLE_TRAIN_SIZE / sum(h.seconds)
    assert ex.images_per_second.check(right).passed
    assert ex.images_per_second.check(round(right)).passed


def test_images_per_second_explains_averaged_rates_and_other_mistakes():
    h = ex.example_history()
    cases = [
        (sum(h.examples_per_s) / len(h), "mean of the per-epoch rates"),
        (ex.EXAMPLE_TRAIN_SIZE / sum(h.seconds), "one epoch's images"),
        (h.examples_per_s[-1], "last epoch"),
        ((len(h) - 1) * ex.EXAMPLE_TRAIN_SIZE / sum(h.seconds[1:]), "without the first epoch"),
        (sum(h.seconds) / (len(h) * ex.EXAMPLE_TRAIN_SIZE), "seconds per image"),
    ]
    for wrong, says in cases:
        result = ex.images_per_second.check(wrong)
        assert not result.passed and says in result.message, (wrong, result)


def test_example_history_is_a_fresh_copy_each_time():
    h = ex.example_history()
    h.seconds[0] = 0.0
    assert ex.example_history().seconds[0] > 0


# --- every exercise ----------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", [ex.stage_shapes, ex.make_layer, ex.stem_savings,
                                      ex.best_epoch, ex.images_per_second])
def test_unfinished_answers_are_not_done_yet(exercise):
    for unfinished in (..., None):
        result = exercise.check(unfinished)
        assert not result.done and "[not done yet]" in repr(result)


@pytest.mark.parametrize("exercise", [ex.stem_savings, ex.best_epoch, ex.images_per_second])
def test_value_exercises_reject_text_without_crashing(exercise):
    result = exercise.check("a lot")
    assert not result.passed and result.done and "not 'a lot'" in result.message


# --- layer4_size ----------------------------------------------------------------

def test_layer4_size_accepts_4_which_the_real_model_gives():
    model = resnet18()
    model.conv1 = conv3x3(3, 64, stride=2)
    seen = {}

    def remember(module, inputs, output):
        seen["shape"] = output.shape

    model.layer4.register_forward_hook(remember)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    assert seen["shape"][-1] == 4
    assert ex.layer4_size.check(4).passed
    assert ex.layer4_size.check((4, 4)).passed


@pytest.mark.parametrize("wrong, says", [
    (8, "stride-1 stem"),
    (2, "layer1 keeps the size"),
    (16, "layer2's output"),
    (512, "channel count"),
])
def test_layer4_size_explains_typical_mistakes(wrong, says):
    result = ex.layer4_size.check(wrong)
    assert not result.passed and says in result.message


# --- stride_speedup -------------------------------------------------------------

def test_stride_speedup_accepts_four():
    assert ex.stride_speedup.check(4).passed
    assert ex.stride_speedup.check(2 * 2).passed
    assert ex.stride_speedup.check(3.9).passed


@pytest.mark.parametrize("wrong, says", [
    (2, "height *and* the width"),
    (0.25, "fraction"),
    (16, "applied once"),
    (1, "number of positions"),
    (7, "height x width"),
])
def test_stride_speedup_explains_typical_mistakes(wrong, says):
    result = ex.stride_speedup.check(wrong)
    assert not result.passed and says in result.message
