"""The exercises of 09_fashion_mnist_resnet18_d2l accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.d2l_compat import d2l_resnet18, d2l_stem
from course_utils.exercises import d2l_resnet as ex
from course_utils.models import resnet18


@pytest.mark.parametrize("exercise", [ex.stem_size, ex.padding_matters, ex.projection_blocks,
                                      ex.conv_biases, ex.examples_per_sec])
@pytest.mark.parametrize("unfinished", [..., None])
def test_an_unfinished_answer_is_reported_as_not_done_yet(exercise, unfinished):
    result = exercise.check(unfinished)
    assert not result.passed and not result.done and "not done yet" in repr(result)


# --- stem_size -----------------------------------------------------------------

def test_stem_size_accepts_24_and_agrees_with_the_real_stem():
    real = d2l_stem(1)(torch.zeros(1, 1, 96, 96)).shape[-1]
    assert real == 24
    assert ex.stem_size.check(real).passed
    assert ex.stem_size.check(24.0).passed


@pytest.mark.parametrize("wrong, says", [
    (48, "max-pool"),
    (47, "+1"),
    (23, "padding 1"),
    (22, "both paddings"),
    (12, "b3"),
    (56, "224x224"),
])
def test_stem_size_diagnoses_a_forgotten_pool_and_other_slips(wrong, says):
    result = ex.stem_size.check(wrong)
    assert not result.passed and result.done and says in result.message


def test_stem_size_rejects_a_non_number_without_crashing():
    assert "one number" in ex.stem_size.check("24x24").message


# --- padding_matters -----------------------------------------------------------

def differs(n: int) -> bool:
    """Do the real stems with padding 3 and 2 give different sizes for an n x n image?"""
    x = torch.zeros(1, 1, n, n)
    return d2l_stem(1, padding=3)(x).shape != d2l_stem(1, padding=2)(x).shape


@pytest.mark.parametrize("n", range(90, 101))
def test_padding_matters_accepts_exactly_the_sizes_where_the_real_stems_disagree(n):
    assert ex.padding_matters.check(n).passed == differs(n)


def test_padding_matters_shows_both_convolution_sizes_for_a_size_that_hides_the_bug():
    result = ex.padding_matters.check(96)
    assert not result.passed and "48 (padding 3) and 47 (padding 2)" in result.message
    assert "both into 24" in result.message


@pytest.mark.parametrize("wrong, says", [(224, "outside 90..100"), (97.5, "whole number"),
                                         ("ninety-eight", "whole number")])
def test_padding_matters_asks_for_a_whole_size_in_range(wrong, says):
    assert says in ex.padding_matters.check(wrong).message


# --- projection_blocks ----------------------------------------------------------

def stages_with_projection(net: nn.Sequential) -> list[str]:
    return [name for name, stage in net.named_children()
            if any(getattr(block, "conv3", None) is not None for block in stage.children())]


@pytest.mark.parametrize("answer", [["b3", "b4", "b5"], ("b5", "b4", "b3"), {"B3", "b4", "b5"}, [3, 4, 5]])
def test_projection_blocks_accepts_b3_b4_b5_in_any_form(answer):
    assert stages_with_projection(d2l_resnet18()) == ["b3", "b4", "b5"]
    assert ex.projection_blocks.check(answer).passed


@pytest.mark.parametrize("wrong, says", [
    (["b2", "b3", "b4", "b5"], "b2 keeps 64 channels"),
    ([2, 3, 4], "torchvision's layer2-layer4"),
    (["b3", "b4"], "b5 also doubles"),
    (["b1", "b3", "b4", "b5"], "stem"),
    ("fc", "list of stage names"),
])
def test_projection_blocks_explains_what_is_wrong(wrong, says):
    result = ex.projection_blocks.check(wrong)
    assert not result.passed and says in result.message


# --- conv_biases ----------------------------------------------------------------

def test_conv_biases_accepts_the_count_pytorch_reports():
    net = d2l_resnet18()
    biases = sum(m.bias.numel() for m in net.modules() if isinstance(m, nn.Conv2d))
    assert biases == 4_800
    assert ex.conv_biases.check(biases).passed


def test_the_3008_gap_named_in_a_message_is_the_real_gap_to_resnet18():
    def count(model):
        return sum(p.numel() for p in model.parameters())
    assert count(d2l_resnet18()) - count(resnet18(in_channels=1, stem="imagenet")) == 3_008


@pytest.mark.parametrize("wrong, says", [
    (3_904, "1x1 projection"),
    (4_736, "stem"),
    (4_810, "linear layer"),
    (3_008, "whole gap"),
    (9_600, "not two"),
    (2_880, "one 3x3 convolution per block"),
    (1_234, "output channels"),
])
def test_conv_biases_diagnoses_forgotten_convolutions(wrong, says):
    result = ex.conv_biases.check(wrong)
    assert not result.passed and says in result.message


# --- examples_per_sec -----------------------------------------------------------

@pytest.mark.parametrize("answer", [2357.6, 60_000 * 10 / 254.5, "2357.6"])
def test_examples_per_sec_accepts_the_printed_figure(answer):
    assert ex.examples_per_sec.check(answer).passed


@pytest.mark.parametrize("wrong, says", [
    (60_000 / 254.5, "multiply by the 10 epochs"),
    (235 * 256 * 10 / 254.5, "last batch holds only 96"),
    (70_000 * 10 / 254.5, "test images"),
    (235 * 10 / 254.5, "batches per second"),
    (254.5 / 600_000, "upside down"),
    (2500, "metric[2]"),
])
def test_examples_per_sec_diagnoses_typical_slips(wrong, says):
    result = ex.examples_per_sec.check(wrong)
    assert not result.passed and says in result.message
