"""The exercises of 10_visualizing_residual_connections accept right answers and explain wrong ones."""
from __future__ import annotations

import math

import pytest
import torch

from course_utils.exercises import visualizing as ex
from course_utils.models import CifarResNet, resnet18
from course_utils.skips import removable_blocks, residual_blocks

# --- count_adds -----------------------------------------------------------------

def test_count_adds_accepts_8_which_is_what_torchviz_draws():
    from course_utils.viz import render_graph
    graph = render_graph(resnet18(), (1, 3, 32, 32))  # building the graph needs no `dot`
    assert sum("AddBackward0" in line for line in graph.body) == 8
    assert ex.count_adds.check(8).passed


@pytest.mark.parametrize("wrong, says", [
    (2, "one stage"),
    (4, "two blocks"),
    (16, "convolutions"),
    (9, "AddmmBackward0"),
    (3, "1x1 projection"),
])
def test_count_adds_explains_typical_miscounts(wrong, says):
    result = ex.count_adds.check(wrong)
    assert not result.passed and says in result.message


# --- sum_norm -------------------------------------------------------------------

def test_sum_norm_accepts_the_norm_torch_computes_for_orthogonal_vectors():
    x, f = torch.tensor([10.0, 0.0]), torch.tensor([0.0, 1.0])
    real = (x + f).norm().item()
    assert ex.sum_norm.check(real).passed
    assert ex.sum_norm.check(math.sqrt(101)).passed and ex.sum_norm.check(10.05).passed


@pytest.mark.parametrize("wrong, says", [
    (11, "same way"), (9, "opposite"), (10, "a little"), (101, "square root"), (0.1, "ratio"), (10.5, "Pythagoras"),
])
def test_sum_norm_explains_typical_mistakes(wrong, says):
    result = ex.sum_norm.check(wrong)
    assert not result.passed and says in result.message


# --- unrolled_paths -------------------------------------------------------------

def test_unrolled_paths_accepts_two_to_the_number_of_blocks_of_resnet20():
    blocks = len(residual_blocks(CifarResNet(20)))
    assert blocks == 9
    assert ex.unrolled_paths.check(2 ** blocks).passed
    assert sum(math.comb(blocks, k) for k in range(blocks + 1)) == 512  # every length of path, counted


@pytest.mark.parametrize("wrong, says", [
    (9, "counts the blocks"), (18, "multiply"), (256, "8 blocks"), (1024, "10 blocks"), (20, "layers"), (100, "doubles"),
])
def test_unrolled_paths_explains_typical_mistakes(wrong, says):
    result = ex.unrolled_paths.check(wrong)
    assert not result.passed and says in result.message


# --- plain_lesions --------------------------------------------------------------

def test_plain_lesions_accepts_what_removable_blocks_finds_in_the_plain_network():
    real = len(removable_blocks(CifarResNet(20, shortcut="none")))
    assert real == 7
    assert ex.plain_lesions.check(real).passed


@pytest.mark.parametrize("wrong, says", [
    (9, "cannot take their place"), (8, "two blocks change the shape"), (6, "layer1's first block"),
    (0, "identity"), (5, "channels or the size"),
])
def test_plain_lesions_explains_typical_mistakes(wrong, says):
    result = ex.plain_lesions.check(wrong)
    assert not result.passed and says in result.message


@pytest.mark.parametrize("exercise", [ex.count_adds, ex.sum_norm, ex.unrolled_paths, ex.plain_lesions])
def test_unanswered_exercises_are_not_done_yet(exercise):
    for answer in (..., None):
        result = exercise.check(answer)
        assert not result.done and "not done yet" in repr(result)
