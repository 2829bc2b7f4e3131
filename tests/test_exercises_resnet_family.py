"""The exercises of 04_resnet_family: each right answer is what the real models give."""
from __future__ import annotations

import torch
from torch import nn

from course_utils.exercises import resnet_family as ex
from course_utils.models import Bottleneck, CifarResNet, ResidualBlock, count_parameters, resnet50


def test_bottleneck_weights_is_what_the_block_holds():
    block = Bottleneck(256, 64)
    weights = sum(p.numel() for name, p in block.named_parameters() if name.startswith("conv"))
    assert weights == 69_632 and ex.bottleneck_weights.check(weights).passed
    basic_on_256 = sum(p.numel() for name, p in ResidualBlock(256, 256).named_parameters() if name.startswith("conv"))
    assert not ex.bottleneck_weights.check(basic_on_256).passed
    assert "basic block working on 256" in ex.bottleneck_weights.check(basic_on_256).message


def test_projection_count_is_what_resnet50_has():
    model = resnet50()
    with_projection = [m for m in model.modules() if isinstance(m, Bottleneck) and m.downsample is not None]
    assert len(with_projection) == 4 and ex.projection_count.check(len(with_projection)).passed


def test_option_b_extra_is_the_difference_in_parameters():
    extra = count_parameters(CifarResNet(20, shortcut="projection")) - count_parameters(CifarResNet(20, shortcut="zeros"))
    assert extra == 2_752 and ex.option_b_extra.check(extra).passed


def test_gradient_fraction_is_what_a_silenced_post_activation_stack_passes():
    torch.manual_seed(0)
    blocks = [ResidualBlock(8, 8) for _ in range(10)]
    for block in blocks:
        nn.init.zeros_(block.bn2.weight)  # F(x) = 0: each block is relu(x + 0)
    stack = nn.Sequential(*blocks).eval()
    x = torch.randn(4, 8, 16, 16, requires_grad=True)
    stack(x).sum().backward()
    fraction = (x.grad != 0).float().mean().item()
    assert 0.45 < fraction < 0.55 and ex.gradient_fraction.check(fraction).passed
    assert "pre-activation" in ex.gradient_fraction.check(1).message
