"""What the skip connections do inside a network: the size of each residual branch, and lesions.

A residual block outputs ``relu(F(x) + shortcut(x))``. Two measurements tell
what its skip does once the network is trained:

* ``residual_terms`` / ``residual_ratios``: the two terms of each block's
  addition, and ||F(x)|| / ||shortcut(x)||. A small ratio means the block
  nudges its input rather than replacing it.
* ``without_block``: the lesion test of Veit et al. (2016), "Residual Networks
  Behave Like Ensembles of Relatively Shallow Networks". Delete one block
  (its branch F) and measure what the network still gets right.

``residual_blocks`` and ``removable_blocks`` name the blocks these work on.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from course_utils.models import ResidualBlock, eval_mode


def residual_blocks(model: nn.Module) -> list[str]:
    """The names of the ``ResidualBlock`` modules of ``model``, in order (with or without a skip).

    >>> from course_utils.models import CifarResNet
    >>> residual_blocks(CifarResNet(20))[:4]
    ['layer1.0', 'layer1.1', 'layer1.2', 'layer2.0']
    """
    return [name for name, module in model.named_modules() if isinstance(module, ResidualBlock)]


def keeps_shape(block: ResidualBlock) -> bool:
    """True when the block's output has its input's shape: stride 1 and as many channels out as in."""
    return block.conv1.stride == (1, 1) and block.conv1.in_channels == block.conv2.out_channels


def removable_blocks(model: nn.Module) -> list[str]:
    """The blocks ``without_block`` can delete: every block with a skip, and plain blocks that keep the shape.

    A residual block without its branch still has its shortcut, which carries
    the input on (reshaped where the block changes the shape). A plain block
    has nothing else: it can only be replaced by the identity, so its output
    must have its input's shape.

    >>> from course_utils.models import CifarResNet
    >>> len(removable_blocks(CifarResNet(20))), len(removable_blocks(CifarResNet(20, shortcut="none")))
    (9, 7)
    """
    blocks = [(name, model.get_submodule(name)) for name in residual_blocks(model)]
    return [name for name, block in blocks if block.skip or keeps_shape(block)]


@torch.no_grad()
def residual_terms(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The two terms each residual block adds, ``(F(x), shortcut(x))``, for one forward pass on ``x``.

    ``F(x)`` is the branch's output before the addition (after ``bn2``), and
    ``shortcut(x)`` what the skip carries to it: the block's input itself, or its
    projection or zero-padded copy in a block that changes the shape. A forward
    hook on each block recomputes both from the block's input during one pass in
    eval mode (BatchNorm uses its running statistics); plain blocks, which add
    nothing, are left out.

    >>> from course_utils.models import CifarResNet
    >>> f, s = residual_terms(CifarResNet(20), torch.randn(2, 3, 32, 32))["layer2.0"]
    >>> f.shape == s.shape == (2, 32, 16, 16)
    True
    """
    terms: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = []
    for name in residual_blocks(model):
        block = model.get_submodule(name)
        if not block.skip:
            continue

        def keep(module, inputs, output, name=name, block=block):
            branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(inputs[0])))))
            shortcut = inputs[0] if block.downsample is None else block.downsample(inputs[0])
            terms[name] = (branch.detach().clone(), shortcut.detach().clone())

        hooks.append(block.register_forward_hook(keep))
    try:
        with eval_mode(model):
            model(x.to(next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return terms


def residual_ratios(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """||F(x)|| / ||shortcut(x)|| for each residual block, averaged over the images of ``x``.

    Each image's two terms are compared as whole tensors (all channels and
    pixels); 0 means the block passes its input on unchanged, 1 that its branch
    adds as much as it receives.

    >>> from course_utils.models import CifarResNet
    >>> model = CifarResNet(20)
    >>> _ = model.layer1[0].bn2.weight.data.zero_()  # F(x) = bn2's output = its bias, 0
    >>> residual_ratios(model, torch.randn(2, 3, 32, 32))["layer1.0"]
    0.0
    """
    ratios = {}
    for name, (branch, shortcut) in residual_terms(model, x).items():
        per_image = branch.flatten(1).norm(dim=1) / shortcut.flatten(1).norm(dim=1)
        ratios[name] = per_image.mean().item()
    return ratios


class Lesioned(nn.Module):
    """What is left of a block whose branch F is deleted: ``relu(shortcut(x))``, or ``x`` for a plain block."""

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.block.skip:
            return x  # a plain block has no shortcut: the identity takes its place
        shortcut = x if self.block.downsample is None else self.block.downsample(x)
        return torch.relu(shortcut)  # relu(0 + shortcut(x)): the block with F = 0


@contextmanager
def without_block(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Inside the ``with``, the block ``name`` of ``model`` has lost its branch F; afterwards it is back.

    A residual block keeps its shortcut (so a block that changes the shape still
    does); a plain block is replaced by the identity, which only works where it
    keeps the shape (``removable_blocks`` lists the blocks that can go). The
    model is changed in place, and restored even if the ``with`` body fails.

    >>> from course_utils.models import CifarResNet
    >>> model = CifarResNet(20)
    >>> with without_block(model, "layer2.1"):
    ...     type(model.layer2[1]).__name__
    'Lesioned'
    >>> type(model.layer2[1]).__name__
    'ResidualBlock'
    """
    if name not in removable_blocks(model):
        raise ValueError(f"{name!r} is not a block that can be deleted; choose one of removable_blocks(model): "
                         f"{', '.join(removable_blocks(model))}")
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    block = getattr(parent, child)
    setattr(parent, child, Lesioned(block))
    try:
        yield model
    finally:
        setattr(parent, child, block)
