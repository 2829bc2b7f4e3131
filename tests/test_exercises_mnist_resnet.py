"""The exercises of 08_mnist_resnet accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import mnist_resnet as ex
from course_utils.models import MnistResidualBlock, count_parameters

# --- flatten_size ------------------------------------------------------------

def test_flatten_size_accepts_375_and_agrees_with_the_real_network():
    from course_utils.models import MnistResNet
    model = MnistResNet()
    assert model.fc.in_features == 375
    assert ex.flatten_size.check(375).passed
    assert ex.flatten_size.check(15 * 5 * 5).passed


@pytest.mark.parametrize("wrong, says", [
    (735, "kept the size"),
    (1500, "second max-pool"),
    (500, "20 to 15"),
    (540, "shrinks 12 to 10"),
    (240, "not 9"),
])
def test_flatten_size_explains_typical_mistakes(wrong, says):
    result = ex.flatten_size.check(wrong)
    assert not result.passed and result.done and says in result.message


def test_flatten_size_rejects_a_non_number_without_crashing():
    result = ex.flatten_size.check("three hundred")
    assert not result.passed and "one number" in result.message


# --- block_parameters -----------------------------------------------------------

def test_block_parameters_accepts_the_count_pytorch_reports():
    real = count_parameters(MnistResidualBlock(20))
    assert real == 20_450
    assert ex.block_parameters.check(real).passed


@pytest.mark.parametrize("wrong, says", [
    (20_400, "left out the biases"),
    (20_430, "second's 20"),
    (15_030, "first convolution alone"),
    (5_420, "second convolution alone"),
    (4_850, "k * k"),
    (35_795, "both blocks"),
    (15_345, "second block"),
])
def test_block_parameters_diagnoses_biases_and_other_mistakes(wrong, says):
    result = ex.block_parameters.check(wrong)
    assert not result.passed and says in result.message


# --- residual_block -------------------------------------------------------------

class GoodBlock(nn.Module):
    def __init__(self, channels, inner_relu=False):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 30, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(30, channels, kernel_size=3, padding=1)
        self.act = nn.ReLU(inplace=True) if inner_relu else nn.Identity()

    def forward(self, x):
        return torch.relu(self.conv2(self.act(self.conv1(x))) + x)


def make_block(*, skip=True, final_relu=True, pad=True, inner="option", hidden=30, out_channels=None):
    """A block with one deliberate mistake, for the tests below."""
    class Block(nn.Module):
        def __init__(self, channels, inner_relu=False):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, hidden, 5, padding=2 if pad else 0)
            self.conv2 = nn.Conv2d(hidden, out_channels or channels, 3, padding=1 if pad else 0)
            self.inner_relu = {"option": inner_relu, "never": False, "always": True}[inner]

        def forward(self, x):
            out = self.conv1(x)
            if self.inner_relu:
                out = torch.relu(out)
            out = self.conv2(out)
            if skip:
                out = out + x
            return torch.relu(out) if final_relu else out
    return Block


def test_residual_block_accepts_a_correct_block_and_the_reference():
    assert ex.residual_block.check(GoodBlock).passed
    assert ex.residual_block.check(make_block()).passed
    assert ex.residual_block.check(MnistResidualBlock).passed  # the course's own block


@pytest.mark.parametrize("block, says", [
    (make_block(skip=False), "skip connection is missing"),
    (make_block(final_relu=False), "ReLU after the addition"),
    (make_block(pad=False), "pad the convolutions"),
    (make_block(inner="never"), "Put a ReLU between them"),
    (make_block(inner="always"), "without inner_relu"),
    (make_block(hidden=16), "30 output channels"),
    (make_block(out_channels=10), "back to `channels`"),
])
def test_residual_block_catches_each_typical_mistake(block, says):
    result = ex.residual_block.check(block)
    assert not result.passed and says in result.message, result.message


def test_residual_block_without_inner_relu_argument_is_reported_not_raised():
    class NoOption(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, 30, 5, padding=2)
            self.conv2 = nn.Conv2d(30, channels, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv2(self.conv1(x)) + x)

    result = ex.residual_block.check(NoOption)
    assert not result.passed and "TypeError" in result.message


def test_residual_block_stub_is_not_done_yet():
    class Stub(nn.Module):
        def __init__(self, channels, inner_relu=False):
            super().__init__()
            raise NotImplementedError

    result = ex.residual_block.check(Stub)
    assert not result.done and "NotImplementedError" in result.message
    assert not ex.residual_block.check(...).done


# --- should_save ---------------------------------------------------------------

def test_should_save_accepts_the_solution():
    assert ex.should_save.check(lambda acc, best: best is None or acc > best).passed


@pytest.mark.parametrize("wrong, says", [
    (lambda acc, best: best is None or acc >= best, "tie"),
    (lambda acc, best: acc > (best or 0), "`best is None`"),
    (lambda acc, best: True, "must not overwrite"),
    (lambda acc, best: best is None or acc < best, "better than the best"),
    (lambda acc, best: acc > best, "TypeError"),  # crashes on best=None: reported, not raised
])
def test_should_save_explains_what_is_wrong(wrong, says):
    result = ex.should_save.check(wrong)
    assert not result.passed and says in result.message, result.message


def test_should_save_without_return_says_so():
    def forgot(acc, best):
        best is None or acc > best  # noqa: B018 - the slip this test is about: no return

    result = ex.should_save.check(forgot)
    assert not result.passed and "forget `return`" in result.message


def test_should_save_stub_is_not_done_yet():
    def stub(acc, best):
        raise NotImplementedError

    assert not ex.should_save.check(stub).done
