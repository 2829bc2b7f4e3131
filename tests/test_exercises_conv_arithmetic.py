"""The exercises of 01_conv2d_output_size accept right answers and explain wrong ones."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils.exercises import conv_arithmetic as ex

EXERCISES = [ex.output_size, ex.conv_out, ex.stride_padding, ex.dilated_padding, ex.linear_in_features,
             ex.mult_adds, ex.stem_receptive_field]


def real_size(n, k, s=1, p=0, d=1):
    return nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)(torch.zeros(1, 1, n, n)).shape[-1]


# --- every exercise ---------------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_unfinished_answer_is_reported_as_not_done_yet(exercise):
    for answer in (..., None):
        result = exercise.check(answer)
        assert not result.passed and not result.done and "not done yet" in repr(result)


def test_stub_function_that_raises_not_implemented_is_not_done_yet():
    def conv_out(n, k, s=1, p=0, d=1):
        raise NotImplementedError

    result = ex.conv_out.check(conv_out)
    assert not result.done and "NotImplementedError" in result.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_hint_and_solution_print_something(exercise, capsys):
    exercise.question(); exercise.hint(); exercise.solution()
    out = capsys.readouterr().out
    assert f"Hint for {exercise.name}" in out and f"Solution of {exercise.name}" in out


# --- output_size ------------------------------------------------------------------

def test_output_size_accepts_55_which_alexnets_first_conv_gives():
    conv = nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2)
    assert conv(torch.zeros(1, 3, 224, 224)).shape[-1] == 55
    assert ex.output_size.check(55).passed
    assert ex.output_size.check(55.0).passed
    assert ex.output_size.check((55, 55)).passed


@pytest.mark.parametrize("wrong, says", [
    (55.25, "did not round down"),
    (56, "rounded up"),
    (54, "+ 1"),
    (54, "p instead of 2p"),
    (57, "subtract the kernel"),
    (218, "stride 1"),
    (214, "no padding"),
    (99, "Substitute n = 224"),
    ("fifty-five", "give one number"),
])
def test_output_size_explains_typical_mistakes(wrong, says):
    result = ex.output_size.check(wrong)
    assert not result.passed and result.done and says in result.message


# --- conv_out ---------------------------------------------------------------------

def test_conv_out_accepts_the_solution_and_agrees_with_real_layers():
    def conv_out(n, k, s=1, p=0, d=1):
        return (n + 2 * p - d * (k - 1) - 1) // s + 1

    assert ex.conv_out.check(conv_out).passed
    for n, k, s, p, d in [(32, 5, 1, 2, 1), (224, 7, 2, 3, 1), (17, 3, 3, 0, 4), (9, 4, 2, 1, 2)]:
        assert conv_out(n, k, s, p, d) == real_size(n, k, s, p, d)


def test_conv_out_accepts_other_correct_ways_of_writing_it():
    assert ex.conv_out.check(lambda n, k, s=1, p=0, d=1: math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1).passed
    assert ex.conv_out.check(lambda n, k, s=1, p=0, d=1: int((n + 2 * p - d * (k - 1) - 1) / s) + 1).passed


@pytest.mark.parametrize("wrong, says", [
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - k) // s + 1, "forgets the dilation"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * k) // s + 1, "d * k pixels wide"),
    (lambda n, k, s=1, p=0, d=1: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1, "rounds up (ceil)"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s, "forgets the + 1"),
    (lambda n, k, s=1, p=0, d=1: (n + p - d * (k - 1) - 1) // s + 1, "p instead of 2p"),
    (lambda n, k, s=1, p=0, d=1: (n - d * (k - 1) - 1) // s + 1, "ignores the padding"),
    (lambda n, k, s=1, p=0, d=1: n + 2 * p - d * (k - 1), "ignores the stride"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1)) // s + 1, "one pixel too few"),
])
def test_conv_out_names_the_typical_slip(wrong, says):
    result = ex.conv_out.check(wrong)
    assert not result.passed and says in result.message


def test_conv_out_names_both_slips_when_two_combine():
    result = ex.conv_out.check(lambda n, k, s=1, p=0, d=1: (n + p - k) // s + 1)
    assert "forgets the dilation" in result.message and "p instead of 2p" in result.message


def test_conv_out_says_to_round_down_when_it_returns_fractions():
    result = ex.conv_out.check(lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) / s + 1)
    assert not result.passed and "a fraction" in result.message and "//" in result.message


def test_conv_out_rejects_whole_floats_because_sizes_are_ints():
    result = ex.conv_out.check(lambda n, k, s=1, p=0, d=1: float((n + 2 * p - d * (k - 1) - 1) // s + 1))
    assert not result.passed and "a float" in result.message


def test_conv_out_shows_a_failing_layer_and_where_it_goes_wrong_otherwise():
    def off_for_stride_3(n, k, s=1, p=0, d=1):
        return (n + 2 * p - d * (k - 1) - 1) // s + 1 + (s == 3)

    result = ex.conv_out.check(off_for_stride_3)
    assert not result.passed
    assert "nn.Conv2d(1, 1" in result.message and "stride s > 1" in result.message


def test_conv_out_checks_the_defaults_match_nn_conv2d():
    result = ex.conv_out.check(lambda n, k, s=2, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s + 1)
    assert not result.passed and "defaults" in result.message


def test_conv_out_reports_a_crash_in_the_learners_code():
    result = ex.conv_out.check(lambda n, k, s=1, p=0, d=1: n // 0)
    assert not result.passed and "ZeroDivisionError" in result.message


def test_conv_out_rejects_a_number_instead_of_a_function():
    result = ex.conv_out.check(32)
    assert not result.passed and "function" in result.message


# --- stride_padding ---------------------------------------------------------------

def test_stride_padding_accepts_every_pair_the_real_layer_maps_to_16():
    found = [(s, p) for s in range(1, 5) for p in range(0, 20) if real_size(32, 3, s, p) == 16]
    assert (2, 1) in found and len(found) > 1  # stride 3 with a lot of padding works too
    for pair in found:
        assert ex.stride_padding.check(pair).passed, pair
    assert ex.stride_padding.check([2, 1]).passed
    assert ex.stride_padding.check({"stride": 2, "padding": 1}).passed


@pytest.mark.parametrize("wrong, says", [
    ((1, 2), "swap"),
    ((1, 1), "Halving takes a stride of 2"),
    ((1, 0), "Halving takes a stride of 2"),
    ((2, 0), "gives 15"),
    ((2, 2), "smaller padding"),
    ((2, 0.5), "whole numbers"),
    ((4, 1), "gives 8"),
    ((0, 1), "at least 1"),
    (16, "pair (stride, padding)"),
])
def test_stride_padding_explains_typical_mistakes(wrong, says):
    result = ex.stride_padding.check(wrong)
    assert not result.passed and says in result.message


# --- dilated_padding --------------------------------------------------------------

def test_dilated_padding_accepts_2_which_keeps_32x32():
    assert real_size(32, 3, 1, 2, 2) == 32
    assert ex.dilated_padding.check(2).passed


@pytest.mark.parametrize("wrong, says", [
    (1, "ordinary 3x3"),
    (4, "total padding"),
    (3, "d * k"),
    ("same", "padding='same'"),
    (1.5, "whole number"),
    (6, "gives 40x40"),
])
def test_dilated_padding_explains_typical_mistakes(wrong, says):
    result = ex.dilated_padding.check(wrong)
    assert not result.passed and says in result.message


# --- linear_in_features -----------------------------------------------------------

def test_linear_in_features_accepts_what_the_real_conv_stack_gives_on_64x64():
    from course_utils.models import SequentialCNN

    convs = nn.Sequential(*list(SequentialCNN())[:7])  # up to and including Flatten
    assert isinstance(convs[-1], nn.Flatten)
    features = convs(torch.zeros(1, 3, 64, 64)).shape[1]
    assert features == 4096
    assert ex.linear_in_features.check(features).passed


@pytest.mark.parametrize("wrong, says", [
    (1024, "32x32 input"),
    (16384, "three max-pools"),
    (64, "one channel"),
    (192, "image's channels"),
    (2048, "64 output channels"),
    ((64, 8, 8), "the product"),
    (1000, "Follow the height"),
])
def test_linear_in_features_explains_typical_mistakes(wrong, says):
    result = ex.linear_in_features.check(wrong)
    assert not result.passed and says in result.message


# --- mult_adds ----------------------------------------------------------------------

def test_mult_adds_accepts_what_torchinfo_measures_for_the_layer():
    from torchinfo import summary

    layer = nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1, bias=False)
    measured = summary(layer, input_size=(1, 64, 56, 56), verbose=0).total_mult_adds
    assert measured == 57_802_752
    assert ex.mult_adds.check(measured).passed
    assert ex.mult_adds.check(57.8e6).passed  # "57.8 million" is close enough


@pytest.mark.parametrize("wrong, says", [
    (56 * 56 * 128 * 64 * 9, "input's 56 x 56 positions"),
    (2 * 57_802_752, "FLOPs"),
    (28 * 28 * 128 * 9, "forgot the input channels"),
    (28 * 28 * 128 * 64 * 3, "not 3: use k * k"),
    (128 * 64 * 9, "number of weights"),
    (57_802_752 + 28 * 28 * 128, "bias=False"),
    (29 * 29 * 128 * 64 * 9, "round down"),
    (58e6, "Count the output numbers"),
    ("58M", "give one number"),
])
def test_mult_adds_explains_typical_mistakes(wrong, says):
    result = ex.mult_adds.check(wrong)
    assert not result.passed and result.done and says in result.message


def test_mult_adds_bias_mistake_is_what_torchinfo_counts_with_a_bias():
    from torchinfo import summary

    with_bias = nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1)
    measured = summary(with_bias, input_size=(1, 64, 56, 56), verbose=0).total_mult_adds
    assert "bias=False" in ex.mult_adds.check(measured).message


# --- stem_receptive_field -----------------------------------------------------------

def test_stem_receptive_field_accepts_what_the_gradient_of_one_output_pixel_measures():
    from course_utils.shapes import measured_receptive_field

    stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.MaxPool2d(3, stride=2, padding=1),
                         nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1))
    measured = measured_receptive_field(stem, (1, 3, 96, 96))
    assert measured == 27
    assert ex.stem_receptive_field.check(measured).passed
    assert ex.stem_receptive_field.check((27, 27)).passed


@pytest.mark.parametrize("wrong, says", [
    (13, "leaves out the strides"),
    (37, "not its own"),
    (38, "not k x jump"),
    (16, "adds the kernel sizes"),
    (15, "the max-pool counts too"),
    (17, "multiplies the jump as well"),
    (19, "first 3x3 convolution"),
    (11, "stem alone"),
    (25, "size += (k - 1) x jump"),
    ("27 pixels", "give one number"),
])
def test_stem_receptive_field_explains_typical_mistakes(wrong, says):
    result = ex.stem_receptive_field.check(wrong)
    assert not result.passed and result.done and says in result.message
