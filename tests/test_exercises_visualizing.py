"""The exercises of 10_visualizing_residual_connections accept right answers and explain wrong ones."""
from __future__ import annotations

import pytest
import torch

from course_utils.exercises import visualizing as ex
from course_utils.models import conv3x3, resnet18

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


# --- stage_channels -------------------------------------------------------------

def test_stage_channels_accepts_the_real_channel_counts():
    model = resnet18()
    real = [getattr(model, f"layer{k}")[-1].conv2.out_channels for k in range(1, 5)]
    assert ex.stage_channels.check(real).passed
    assert ex.stage_channels.check((64, 128, 256, 512)).passed


@pytest.mark.parametrize("wrong, says", [
    ([64, 64, 128, 256], "into"),
    ([512, 256, 128, 64], "reversed"),
    ([16, 32, 64], "CifarResNet"),
    ([64, 128, 256], "four numbers"),
    ([64, 64, 64, 64], "doubles"),
    ("64, 128", "list of four whole numbers"),
])
def test_stage_channels_explains_typical_mistakes(wrong, says):
    result = ex.stage_channels.check(wrong)
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


@pytest.mark.parametrize("exercise", [ex.count_adds, ex.layer4_size, ex.stage_channels, ex.stride_speedup])
def test_unanswered_exercises_are_not_done_yet(exercise):
    for answer in (..., None):
        result = exercise.check(answer)
        assert not result.done and "not done yet" in repr(result)
