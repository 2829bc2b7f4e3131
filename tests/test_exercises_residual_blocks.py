"""The exercises of 03_residual_blocks accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import residual_blocks as ex
from course_utils.models import ResidualBlock, count_parameters


def failed_with(result, says: str) -> bool:
    return not result.passed and result.done and says in result.message


# --- block_output_shape -----------------------------------------------------------

def test_block_output_shape_accepts_what_the_real_block_computes():
    with torch.no_grad():
        y = ResidualBlock(64, 128, stride=2).eval()(torch.zeros(8, 64, 15, 15))
    assert tuple(y.shape) == (8, 128, 8, 8)
    assert ex.block_output_shape.check(y.shape).passed
    assert ex.block_output_shape.check((8, 128, 8, 8)).passed
    assert ex.block_output_shape.check([8, 128, 8, 8]).passed


@pytest.mark.parametrize("wrong, says", [
    ((8, 128, 7, 7), "15 // 2"),
    ((8, 128, 7.5, 7.5), "floors"),
    ((8, 128, 15, 15), "halves it"),
    ((8, 128, 16, 16), "32x32"),
    ((8, 64, 8, 8), "out_channels = 128"),
    ((128, 8, 8), "four dimensions"),
    ((8, 8, 8, 128), "(N, C, H, W)"),
    ((1, 128, 8, 8), "batch size"),
])
def test_block_output_shape_explains_typical_mistakes(wrong, says):
    assert failed_with(ex.block_output_shape.check(wrong), says)


def test_block_output_shape_rejects_a_number_without_crashing():
    assert failed_with(ex.block_output_shape.check(8), "give a shape")


def test_block_output_shape_unanswered_is_not_done_yet():
    result = ex.block_output_shape.check(...)
    assert not result.done and "not done yet" in repr(result)


# --- needs_projection -------------------------------------------------------------

def right_needs_projection(in_channels, out_channels, stride):
    return stride != 1 or in_channels != out_channels


def test_needs_projection_accepts_the_rule_and_agrees_with_the_reference_block():
    assert ex.needs_projection.check(right_needs_projection).passed
    for args in [(64, 64, 1), (64, 64, 2), (64, 128, 1), (128, 64, 2), (3, 16, 1)]:
        has_projection = ResidualBlock(*args).downsample is not None
        assert right_needs_projection(*args) == has_projection


@pytest.mark.parametrize("wrong, says", [
    (lambda i, o, s: True, "always on"),
    (lambda i, o, s: s != 1, "channels change"),
    (lambda i, o, s: i != o, "stride alone"),
    (lambda i, o, s: s != 1 or o > i, "fewer channels"),
    (lambda i, o, s: s != 1 and i != o, "stride alone"),
])
def test_needs_projection_explains_typical_mistakes(wrong, says):
    assert failed_with(ex.needs_projection.check(wrong), says)


def test_needs_projection_insists_on_a_bool():
    result = ex.needs_projection.check(lambda i, o, s: int(s != 1 or i != o))
    assert failed_with(result, "return True or False")


def test_needs_projection_stub_is_not_done_yet():
    def stub(in_channels, out_channels, stride):
        raise NotImplementedError
    result = ex.needs_projection.check(stub)
    assert not result.done and "not done yet" in repr(result)


# --- projection_parameters -----------------------------------------------------------

def test_projection_parameters_accepts_what_pytorch_counts():
    real = count_parameters(ResidualBlock(64, 128, stride=2).downsample)
    assert real == 8_448
    assert ex.projection_parameters.check(real).passed


@pytest.mark.parametrize("wrong, says", [
    (8_192, "weight and a bias per channel"),
    (8_704, "buffers"),
    (8_576, "bias=False"),
    (8_320, "two parameters per channel"),
    (73_728 + 256, "1x1 kernel"),
    (4_224, "64 -> 64"),
])
def test_projection_parameters_diagnoses_typical_miscounts(wrong, says):
    assert failed_with(ex.projection_parameters.check(wrong), says)


def test_projection_parameters_buffers_really_are_not_parameters():
    bn = nn.BatchNorm2d(128)
    assert count_parameters(bn) == 256
    assert sum(b.numel() for b in bn.buffers()) == 2 * 128 + 1  # running stats + num_batches_tracked


def test_projection_parameters_rejects_text_and_is_not_done_when_unanswered():
    assert failed_with(ex.projection_parameters.check("many"), "one number")
    assert not ex.projection_parameters.check(None).done


# --- residual_block ----------------------------------------------------------------

class RightBlock(nn.Module):
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

    def residual(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x):
        return self.relu(self.residual(x) + self.shortcut(x))


def test_residual_block_accepts_the_solution_and_the_reference():
    assert ex.residual_block.check(RightBlock).passed
    assert ex.residual_block.check(ResidualBlock).passed


def test_residual_block_catches_a_missing_projection():
    class NoProjection(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.downsample = None
    assert failed_with(ex.residual_block.check(NoProjection), "Build self.downsample")


def test_residual_block_catches_a_missing_skip():
    class NoSkip(RightBlock):
        def forward(self, x):
            return self.relu(self.residual(x))
    assert failed_with(ex.residual_block.check(NoSkip), "skip connection is missing")


@pytest.mark.parametrize("forward", [
    lambda self, x: self.residual(x) + self.shortcut(x),                # no final ReLU
    lambda self, x: self.relu(self.residual(x)) + self.shortcut(x),     # ReLU before the addition
])
def test_residual_block_catches_the_relu_in_the_wrong_place(forward):
    WrongRelu = type("WrongRelu", (RightBlock,), {"forward": forward})
    assert failed_with(ex.residual_block.check(WrongRelu), "apply the ReLU last")


def test_residual_block_catches_a_projection_on_every_block():
    class AlwaysProject(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
    assert failed_with(ex.residual_block.check(AlwaysProject), "projection anyway")


@pytest.mark.parametrize("identity", [nn.Identity, nn.Sequential])
def test_residual_block_asks_for_none_rather_than_a_parameter_free_identity_module(identity):
    class IdentityModule(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            if self.downsample is None:
                self.downsample = identity()
    result = ex.residual_block.check(IdentityModule)
    assert failed_with(result, "works as the identity") and "self.downsample = None" in result.message


def test_residual_block_catches_conv_biases():
    class Biased(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
    assert failed_with(ex.residual_block.check(Biased), "bias=False")


def test_residual_block_catches_the_stride_on_the_second_convolution():
    class LateStride(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)
    assert failed_with(ex.residual_block.check(LateStride), "the stride goes to conv1")


def test_residual_block_catches_a_forgotten_stride():
    class NoStride(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, 1)
    assert failed_with(ex.residual_block.check(NoStride), "stride=2")


def test_residual_block_asks_for_torchvision_names():
    class KuangliuNames(nn.Module):  # the popular pytorch-cifar spelling: self.shortcut
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_channels != out_channels:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(out_channels))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))
    assert failed_with(ex.residual_block.check(KuangliuNames), "name the projection `downsample`")


def test_residual_block_catches_a_wrong_order_inside_the_branch():
    class ReluBeforeBn(RightBlock):
        def residual(self, x):
            return self.bn2(self.conv2(self.bn1(self.relu(self.conv1(x)))))
    assert failed_with(ex.residual_block.check(ReluBeforeBn), "conv1 -> bn1 -> ReLU")


def test_residual_block_catches_a_projection_without_batch_norm():
    class D2lShortcut(RightBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            if self.downsample is not None:
                self.downsample = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
    assert failed_with(ex.residual_block.check(D2lShortcut), "weights do not fit")


def test_residual_block_reports_a_wrong_signature_and_a_non_class():
    class OneArgument(RightBlock):
        def __init__(self, channels):
            super().__init__(channels, channels)
    assert failed_with(ex.residual_block.check(OneArgument), "(in_channels, out_channels")
    assert failed_with(ex.residual_block.check(RightBlock(16, 16)), "the class itself")


def test_residual_block_stub_is_not_done_yet():
    class Stub(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            raise NotImplementedError
    result = ex.residual_block.check(Stub)
    assert not result.done and "not done yet" in repr(result)


def test_every_exercise_has_a_question_hint_and_solution(capsys):
    for exercise in (ex.block_output_shape, ex.needs_projection, ex.projection_parameters,
                     ex.residual_block):
        exercise.question()
        exercise.hint()
        exercise.solution()
        out = capsys.readouterr().out
        assert exercise.name in out and "Hint" in out and "Solution" in out
