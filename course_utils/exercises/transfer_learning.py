"""Exercises of ``11_transfer_learning``: the input a pretrained ResNet-18 expects, and what learns.

* ``imagenet_input``   the value one CIFAR-10 pixel becomes under ImageNet's normalisation
* ``layer4_side``      the side of layer4's maps for a 112x112 input
* ``layer4_trainable`` how many parameters learn when the last stage and a new head are trained
"""
from __future__ import annotations

import torchvision

from course_utils.exercises import around, number_exercise
from course_utils.transfer import fine_tune_from, trainable_parameters

__all__ = ["imagenet_input", "layer4_side", "layer4_trainable"]


# --- imagenet_input ---
imagenet_input = number_exercise(
    "imagenet_input",
    "torchvision's ImageNet weights expect each channel as (x - mean) / std, with x in [0, 1], and "
    "for red mean = 0.485 and std = 0.229. A CIFAR-10 pixel has a red value of 128 (of 255). What "
    "value does the network receive in the red channel? Three decimals are enough.",
    around(0.0741, 0.002), {
        around(0.0428, 0.002): "that uses CIFAR-10's own statistics (0.4914, 0.2470); the weights learned "
                               "ImageNet's, and the input must look like what they learned on.",
        around(556.8, 1): "x must be in [0, 1] first: divide 128 by 255 before subtracting the mean.",
        around(0.0170, 0.002): "that is x - mean; divide it by the standard deviation too.",
        around(0.502, 0.002): "that is x in [0, 1], before the normalisation: subtract the mean, divide by std.",
        around(1.707, 0.005): "subtract the mean from x, then divide by std: (x - mean) / std, not x / std - mean.",
    }, "Turn 128 into [0, 1] (divide by 255), subtract the red mean, divide by the red std.",
    hint="128 / 255 = 0.502.",
    solution="answer = (128 / 255 - 0.485) / 0.229",
    praise="right: about 0.074, a little above ImageNet's average red. With CIFAR-10's own statistics "
           "the same pixel would reach the network as 0.043: a shift the pretrained first layer was "
           "never trained on.",
)


# --- layer4_side ---
layer4_side = number_exercise(
    "layer4_side",
    "torchvision's ResNet-18 halves the side of its maps five times: conv1 (7x7, stride 2, padding 3), "
    "the max-pool (3x3, stride 2, padding 1), and the first convolution of layer2, layer3 and layer4 "
    "(3x3, stride 2, padding 1). Each gives floor((n + 2p - k) / s) + 1. What is the side of "
    "layer4's output maps for a 112x112 input?",
    4, {
        3.5: "112 / 32 is not a side: each layer rounds, floor((n + 2p - k) / s) + 1, one step at a time.",
        3: "at the last step the formula gives floor((7 + 2 - 3) / 2) + 1 = 4: with padding, a stride-2 "
           "layer rounds an odd side up.",
        7: "that is layer3's output: layer4's first block halves it once more.",
        1: "that is the side for CIFAR-10's own 32x32 images, the reason to resize them.",
        14: "that is layer2's output: layer3 and layer4 each halve it again.",
        56: "that is conv1's output: the max-pool and three stages follow.",
    }, "Apply floor((n + 2p - k) / s) + 1 five times, starting from n = 112.",
    hint="conv1: floor((112 + 6 - 7) / 2) + 1 = 56; the max-pool: floor((56 + 2 - 3) / 2) + 1 = 28.",
    solution="answer = 4  # 112 -> 56 (conv1) -> 28 (max-pool) -> 14 -> 7 -> 4",
    praise="right: 112 -> 56 -> 28 -> 14 -> 7 -> 4, so layer4 still sees a 4x4 map of every image. At "
           "224 it is 7x7, the size ImageNet's features were learned at; at 32 it is 1x1.",
)


# --- layer4_trainable ---
layer4_trainable = number_exercise(
    "layer4_trainable",
    "Take ResNet-18 with a new 10-class head, then fine_tune_from(model, \"layer4\"): layer4 and fc "
    "learn, everything before them is frozen. How many parameters learn? Count them with "
    "trainable_parameters(model).",
    8_398_858, {
        8_393_728: "that is layer4 alone: the new head (512 x 10 weights + 10 biases) learns too.",
        8_906_728: "that counts ImageNet's 1000-class head; the new head has 10 outputs.",
        5_130: "that is the head alone, fine_tune_from(model, \"fc\"); layer4 learns too.",
        11_181_642: "that is every parameter: the parts before layer4 are frozen and do not count.",
        11_689_512: "that is the whole ImageNet model; the head has 10 classes, and only layer4 and fc learn.",
        3: "count the parameters (numbers), not the parts: sum(p.numel() for p in trainable_parameters(model)).",
    }, "Sum p.numel() over trainable_parameters(model) after fine_tune_from(model, \"layer4\").",
    hint="course_utils.transfer has a function that lists the tensors that still learn; each tensor's "
         "numel() is how many numbers it holds. Give the model its 10-class head before you count.",
    solution=("model = fine_tune_from(torchvision.models.resnet18(num_classes=10), \"layer4\")\n"
              "answer = sum(p.numel() for p in trainable_parameters(model))"),
    praise="right: 8.4 million of ResNet-18's 11.2 million parameters sit in its last stage (its "
           "convolutions have 512 channels), so training layer4 is most of the network's parameters "
           "but a small part of its computation, which happens on its smallest maps (4x4 at 112 "
           "pixels, 7x7 at 224).",
    context=lambda: {"torchvision": torchvision, "fine_tune_from": fine_tune_from,
                     "trainable_parameters": trainable_parameters},
)
