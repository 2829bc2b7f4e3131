"""The exercises of 11_transfer_learning: each right answer is what PyTorch and torchvision give."""
from __future__ import annotations

import torch
import torchvision
from torchvision import transforms

from course_utils.exercises import transfer_learning as ex
from course_utils.pretrained import IMAGENET_MEAN, IMAGENET_STD
from course_utils.transfer import fine_tune_from, trainable_parameters


def test_imagenet_input_is_what_torchvisions_normalize_gives():
    pixel = torch.full((3, 1, 1), 128, dtype=torch.uint8)
    red = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)(pixel.float() / 255)[0, 0, 0].item()
    assert ex.imagenet_input.check(round(red, 3)).passed
    cifar = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))(pixel.float() / 255)
    assert "CIFAR-10's own statistics" in ex.imagenet_input.check(cifar[0, 0, 0].item()).message


def layer4_side(size: int) -> int:
    model, seen = torchvision.models.resnet18().eval(), {}
    model.layer4.register_forward_hook(lambda m, i, o: seen.update(side=o.shape[-1]))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return seen["side"]


def test_layer4_side_is_what_resnet18_gives_for_112_and_32_pixels():
    assert layer4_side(112) == 4 and ex.layer4_side.check(layer4_side(112)).passed
    assert "32x32" in ex.layer4_side.check(layer4_side(32)).message
    assert layer4_side(224) == 7 and "layer3" in ex.layer4_side.check(7).message


def test_layer4_trainable_counts_what_fine_tune_from_leaves_learning():
    model = fine_tune_from(torchvision.models.resnet18(num_classes=10), "layer4")
    count = sum(p.numel() for p in trainable_parameters(model))
    assert ex.layer4_trainable.check(count).passed
    only_layer4 = sum(p.numel() for p in model.layer4.parameters())
    assert "layer4 alone" in ex.layer4_trainable.check(only_layer4).message
