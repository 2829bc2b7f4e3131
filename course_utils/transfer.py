"""Fine-tuning a pretrained ResNet: which layers learn, a few labelled images, the right input.

Three choices make transfer learning work, and each is one function here:

* ``fine_tune_from(model, "layer4")`` freezes everything before a stage: its
  weights stop learning (``requires_grad=False``) *and* its BatchNorm layers stop
  updating their running statistics, which ``requires_grad`` alone does not do.
* ``few_shot_indices(labels, per_class)`` picks a small, balanced training set:
  the same number of images of every class, the same ones for the same seed.
* ``resized(model, size)`` puts a resize in front of the network, so that small
  images reach it at the size its features were learned at.

>>> model = fine_tune_from(resnet18_imagenet(num_classes=10), "fc")  # doctest: +SKIP
>>> sum(p.numel() for p in trainable_parameters(model))  # doctest: +SKIP
5130
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["STAGES", "fine_tune_from", "trainable_parameters", "few_shot_indices", "resized"]

#: torchvision's ResNet children in the order the input meets them; ``fine_tune_from`` names one.
STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4", "fc")


def fine_tune_from(model: nn.Module, first: str) -> nn.Module:
    """Freeze every part of a torchvision ResNet that comes before ``first``; the rest learns.

    ``first`` is one of ``STAGES``: ``"fc"`` trains the last layer only (the
    backbone is a fixed feature extractor), ``"layer4"`` the last stage and the
    last layer, ``"conv1"`` everything. Frozen parts get ``requires_grad=False``,
    and their ``BatchNorm2d`` layers are swapped for torchvision's
    ``FrozenBatchNorm2d`` holding the same statistics: a BatchNorm layer in
    training mode updates its running mean and variance on every batch even when
    its weights are frozen, so without the swap ``model.train()`` would quietly
    change the "frozen" backbone. Changes ``model`` in place and returns it.
    """
    if first not in STAGES:
        raise ValueError(f"first must be one of {', '.join(map(repr, STAGES))}, not {first!r}: "
                         "the first part of the network that learns")
    children = dict(model.named_children())
    missing = [name for name in STAGES if name not in children]
    if missing:
        raise ValueError(f"fine_tune_from expects a torchvision ResNet (with {', '.join(STAGES)}); "
                         f"this {type(model).__name__} has no {', '.join(missing)}")
    order = list(children)  # conv1, bn1, relu, maxpool, layer1, ..., layer4, avgpool, fc
    for name in order[:order.index(first)]:
        module = children[name]
        module.requires_grad_(False)
        setattr(model, name, _freeze_batchnorm(module))
    return model


def _freeze_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with each ``BatchNorm2d`` inside it replaced by a ``FrozenBatchNorm2d`` copy."""
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        frozen.load_state_dict({k: v for k, v in module.state_dict().items() if k != "num_batches_tracked"})
        return frozen.to(module.weight.device)
    for name, child in module.named_children():
        setattr(module, name, _freeze_batchnorm(child))
    return module


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that still learn: give these, and only these, to the optimizer."""
    return [p for p in model.parameters() if p.requires_grad]


def few_shot_indices(labels: torch.Tensor, per_class: int, *, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` examples of every class, drawn at random but the same for one seed.

    The result is sorted, so the images keep their order in the dataset. A
    class with fewer than ``per_class`` examples is an error: the set would
    not be balanced.

    >>> few_shot_indices(torch.tensor([0, 1, 0, 1, 0, 1]), 2, seed=0).tolist()  # doctest: +SKIP
    [0, 1, 2, 3]
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a whole number of images, at least 1, not {per_class!r}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    chosen = []
    for c in labels.unique().tolist():
        of_class = order[labels[order] == c]
        if len(of_class) < per_class:
            raise ValueError(f"class {c} has {len(of_class)} examples, fewer than per_class={per_class}; "
                             "ask for fewer, or use more data")
        chosen.append(of_class[:per_class])
    return torch.cat(chosen).sort().values


def resized(model: nn.Module, size: int) -> nn.Sequential:
    """``model`` behind a bilinear resize to ``size`` x ``size``: ``Sequential(Upsample, model)``.

    ImageNet's ResNet-18 learned its features on 224x224 images, downsampled 32
    times on the way: a 32x32 CIFAR-10 image would leave one pixel per map at
    ``layer4``. Resizing in the model keeps the data small on its way there
    (and on the GPU the resize is almost free).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be a whole number of pixels, at least 32, not {size!r}")
    return nn.Sequential(nn.Upsample(size=(size, size), mode="bilinear", align_corners=False), model)
