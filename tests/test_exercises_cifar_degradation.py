"""The exercises of 05_cifar_degradation: each right answer is what PyTorch gives."""
from __future__ import annotations

import math

import torch
from torch import nn

from course_utils.exercises import cifar_degradation as ex
from course_utils.models import CifarResNet, ResidualBlock


def test_blocks_in_resnet56_is_what_the_model_has_and_the_depth_counts_its_layers():
    model = CifarResNet(56, shortcut="zeros")
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(blocks) == 27 and len(layers) == 56
    assert ex.blocks_in_resnet56.check(len(blocks)).passed
    assert not ex.blocks_in_resnet56.check(len(blocks) * 2).passed  # 54 convolutions


def test_paper_epochs_is_the_number_of_passes_64k_steps_of_128_make():
    steps_per_epoch = 45_000 / 128
    epochs = 64_000 / steps_per_epoch
    assert math.isclose(epochs, 182.04, abs_tol=0.01) and ex.paper_epochs.check(round(epochs, 1)).passed
    assert "45,000" in ex.paper_epochs.check(64_000 * 128 / 50_000).message


def test_lr_at_step_is_what_multisteplr_gives():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[32_000, 48_000], gamma=0.1)
    for _ in range(40_000):
        optimizer.step()
        schedule.step()
    lr = optimizer.param_groups[0]["lr"]
    assert math.isclose(lr, 0.01) and ex.lr_at_step.check(lr).passed
