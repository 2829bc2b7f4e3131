"""Reference networks of the course, written the way the papers draw them.

The notebooks rebuild each of these step by step; the tests pin down their
shapes and parameter counts, so a learner's version can be compared with them.

* ``SequentialCNN``  the classic CIFAR-10 model: three conv/pool pairs, two linears
* ``ResidualBlock``  the basic block of ResNet-18/34 (torchvision's ``BasicBlock``),
  with the paper's shortcut options: a projection (B), zero padding (A, ``ZeroPadShortcut``)
  or none (a plain block)
* ``Bottleneck``     the 1x1-3x3-1x1 block of ResNet-50/101/152, ``expansion = 4``
* ``PreActBlock``    the pre-activation block of "Identity Mappings in Deep Residual Networks"
* ``ResNet``, ``resnet18``, ``resnet50``  blocks stacked into four stages with ``_make_layer``
* ``CifarResNet``    the 16-32-64 family of the ResNet paper's CIFAR section (and its plain twins)
* ``MnistResNet``    the small two-block MNIST network

Forwards are pure, as torchvision's: no checks, no printing, so ``torch.fx`` and
``torchvision.models.feature_extraction.create_feature_extractor`` work on them.
What a network takes is declared instead, in ``image_shape`` (channels, height,
width; ``None`` where any size will do), and ``check_input`` compares the first
batch with it before the first layer (``fit``, ``evaluate``, ``predict``,
``trace_shapes`` and ``check_output_shape`` call it): a wrong shape gets an error
that names the input and the fix, not a failure deep inside the network.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1: keeps height and width when ``stride=1``.

    No bias, because a BatchNorm follows and would cancel it.
    """
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride,
                     padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution: changes the channel count (and, with a stride, the size)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def check_images(x: object, channels: int, size: int | None = None, *, model: str) -> None:
    """Stop with an error that says what to do when ``x`` is not a batch the model can take.

    A network takes a *batch* of images, shape (N, C, H, W), as floats. When the
    shape is wrong, PyTorch's own error comes from deep inside the network
    ("mat1 and mat2 shapes cannot be multiplied (1x4096 and 1024x64)"); this
    one names the input, what was expected and the usual fix.

    >>> check_images(torch.zeros(3, 32, 32), 3, 32, model="SequentialCNN")
    Traceback (most recent call last):
    ...
    ValueError: SequentialCNN takes a batch of images of shape (N, 3, 32, 32), but got one image of shape (3, 32, 32): add the batch dimension with x.unsqueeze(0).
    """
    want = f"(N, {channels}, {size or 'H'}, {size or 'W'})"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model} takes a tensor of shape {want}, not a {type(x).__name__}. Convert "
                        "images with torchvision.transforms.ToTensor() (or the course's dataset transforms).")
    shape = tuple(x.shape)
    if x.ndim == 3 and shape[0] == channels:
        raise ValueError(f"{model} takes a batch of images of shape {want}, but got one image of "
                         f"shape {shape}: add the batch dimension with x.unsqueeze(0).")
    if x.ndim != 4:
        raise ValueError(f"{model} takes a batch of images of shape {want}, but got a "
                         f"{x.ndim}-dimensional tensor of shape {shape}.")
    if shape[1] != channels:
        if shape[3] == channels:
            hint = "it looks channels-last (N, H, W, C), as NumPy and PIL store images: use x.permute(0, 3, 1, 2)"
        elif channels == 3 and shape[1] == 1:
            hint = "these are grey images: repeat the channel with x.expand(-1, 3, -1, -1), or build the model for 1 channel"
        elif channels == 1 and shape[1] == 3:
            hint = "these are colour images: convert them with torchvision.transforms.Grayscale()"
        else:
            hint = "check which dataset the images come from"
        raise ValueError(f"{model} takes {channels}-channel images, shape {want}, but got "
                         f"{shape[1]} channels in shape {shape}: {hint}.")
    if size is not None and shape[2:] != (size, size):
        raise ValueError(f"{model} takes {size}x{size} images, shape {want}, but got {shape[2]}x{shape[3]} "
                         f"in shape {shape}: its layers were sized for {size}x{size} (notebook 01 derives "
                         f"why). Resize the images with torchvision.transforms.Resize(({size}, {size})).")
    if not x.is_floating_point():
        raise TypeError(f"{model} takes float images, but got {x.dtype}: convert uint8 pixels with "
                        "x.float() / 255, then normalise them as the training images were.")


def check_input(model: nn.Module, x: object) -> None:
    """Check a batch ``x`` against the ``image_shape`` that ``model`` declares, if it declares one.

    ``image_shape`` is (channels, height, width), ``None`` for a size the model
    does not fix (global average pooling takes any). A model that declares
    nothing, such as one you wrote yourself, is not checked: only its own
    layers know what they take. Called on the first batch, not in ``forward``,
    so the network itself stays pure.

    >>> check_input(SequentialCNN(), torch.zeros(2, 1, 32, 32))
    Traceback (most recent call last):
    ...
    ValueError: Sequential takes 3-channel images, shape (N, 3, 32, 32), but got 1 channels in shape (2, 1, 32, 32): these are grey images: repeat the channel with x.expand(-1, 3, -1, -1), or build the model for 1 channel.
    """
    model = getattr(model, "_orig_mod", model)  # torch.compile's wrapper: ask the model inside
    shape = getattr(model, "image_shape", None)
    if shape is not None:
        channels, height, _width = shape
        check_images(x, channels, height, model=type(model).__name__)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the ``with`` block; every submodule's own mode afterwards.

    Eval mode makes BatchNorm use its running statistics (and leaves them untouched) and turns
    Dropout off. Restoring module by module, even after an error, matters: some parts may have
    been frozen in eval mode on purpose while the rest trains.

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2).eval())  # the BN frozen on purpose
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training, net[1].training
    (True, False)
    """
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def SequentialCNN(num_classes: int = 10, relu: bool = False, pool: str = "max") -> nn.Sequential:
    """A small CIFAR-10 CNN of the kind many first courses train, as a plain ``nn.Sequential``.

    Three times "conv 5x5 (padding 2) then pool 2", with 32, 32 and 64
    channels, then flatten (64*4*4 = 1024), linear 64, linear 10::

        (N, 3, 32, 32) -> (N, 32, 32, 32) -> (N, 32, 16, 16) -> (N, 32, 16, 16)
        -> (N, 32, 8, 8) -> (N, 64, 8, 8) -> (N, 64, 4, 4) -> (N, 1024) -> (N, 64) -> (N, 10)

    As often written, it has no activation function: then its only nonlinear
    step is the max-pool (the largest of four shifted responses, a maxout-like
    nonlinearity). ``relu=True`` inserts a ReLU after each pool and after the
    hidden linear layer; ``pool="avg"`` takes averages instead of maxima, and
    without ReLUs that network is one affine map of the pixels.

    A function that builds the model (like torchvision's ``resnet18``), so the
    result is an ordinary ``nn.Sequential``: ``SequentialCNN()[:7]`` is its
    convolutional part, and it prints, slices and saves like any other.

    >>> SequentialCNN()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    if pool not in ("max", "avg"):
        raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")

    def act() -> list[nn.Module]:
        return [nn.ReLU(inplace=True)] if relu else []

    def pool2() -> nn.Module:
        return nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)

    model = nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=5, padding=2), pool2(), *act(),
        nn.Conv2d(32, 32, kernel_size=5, padding=2), pool2(), *act(),
        nn.Conv2d(32, 64, kernel_size=5, padding=2), pool2(), *act(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64), *act(),
        nn.Linear(64, num_classes),
    )
    model.image_shape = (3, 32, 32)  # the linear layer was sized for 32x32 (notebook 01 derives it)
    return model


#: What a block adds to F(x) where the shapes differ: the paper's option B, a learnt 1x1
#: "projection"; its option A, the input padded with "zeros"; or "none": no shortcut, a plain block.
SHORTCUTS = ("projection", "zeros", "none")


class ZeroPadShortcut(nn.Module):
    """The ResNet paper's option A: keep every ``stride``-th pixel, then add channels of zeros.

    It has no parameters: where a block halves the size and doubles the
    channels, the input's C channels of every other pixel are followed by C
    channels of zeros, so ``x`` can still be added to ``F(x)``. (Option B,
    ``make_shortcut("projection", ...)``, learns a 1x1 convolution instead.)

    >>> ZeroPadShortcut(16, 32, stride=2)(torch.ones(1, 16, 8, 8)).shape
    torch.Size([1, 32, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"zero padding can only add channels, not go from {in_channels} to "
                             f"{out_channels}: use shortcut='projection'")
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # the pixels a stride-s 3x3 convolution centres on
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))  # (W, H, C): zeros after the channels


def make_shortcut(kind: str, in_channels: int, out_channels: int, stride: int = 1, *,
                  batch_norm: bool = True) -> nn.Module | None:
    """The shortcut of a block whose F maps ``in_channels`` to ``out_channels`` with ``stride``.

    None where the shapes agree (the shortcut is ``x`` itself) or where ``kind``
    is "none" (a plain block, nothing to add). Else option B, a 1x1 convolution
    (with a BN, as torchvision's ``downsample``) or option A, ``ZeroPadShortcut``.

    >>> make_shortcut("projection", 64, 128, stride=2)[0]  # then a BatchNorm2d(128)
    Conv2d(64, 128, kernel_size=(1, 1), stride=(2, 2), bias=False)
    >>> make_shortcut("zeros", 64, 64) is None  # same shape: x itself
    True
    """
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {', '.join(SHORTCUTS)}, not {kind!r}")
    if kind == "none" or (stride == 1 and in_channels == out_channels):
        return None
    if kind == "zeros":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    projection = conv1x1(in_channels, out_channels, stride)
    return nn.Sequential(projection, nn.BatchNorm2d(out_channels)) if batch_norm else projection


class ResidualBlock(nn.Module):
    """The basic residual block: ``relu(F(x) + shortcut(x))``.

    ``F`` is conv3x3 -> BN -> ReLU -> conv3x3 -> BN. The shortcut is the
    identity when the input and output shapes agree, and a 1x1 convolution
    with BN (a "projection", the paper's option B) only when they do not: a
    stride of 2 halves the height and width, or the channel count changes.
    ``shortcut="zeros"`` pads with zeros there instead (option A, no
    parameters), and ``shortcut="none"`` leaves the skip out: a *plain* block,
    ``relu(F(x))``. This is torchvision's ``BasicBlock``; ``expansion = 1``
    says its output has ``out_channels`` channels (``Bottleneck`` has 4 times).

    >>> ResidualBlock(64, 128, stride=2)(torch.zeros(1, 64, 56, 56)).shape
    torch.Size([1, 128, 28, 28])
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 shortcut: str = "projection") -> None:
        super().__init__()
        self.image_shape = (in_channels, None, None)  # any height and width
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip = shortcut != "none"
        self.downsample = make_shortcut(shortcut, in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if not self.skip:
            return self.relu(out)  # a plain block
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)  # the skip connection


class Bottleneck(nn.Module):
    """The block of ResNet-50/101/152: 1x1 down to ``channels``, 3x3, 1x1 up to ``4 * channels``.

    ``relu(F(x) + shortcut(x))`` with F = conv1x1 -> BN -> ReLU -> conv3x3 ->
    BN -> ReLU -> conv1x1 -> BN. The 3x3 convolution, where the cost is, works
    on 4 times fewer channels than the block's input and output, so a block on
    256 channels costs about as much as a basic block on 64. ``expansion = 4``
    is that factor: ``ResNet._make_layer`` reads it to know what the next
    block receives. The stride sits on the 3x3 convolution, as in torchvision
    (the paper put it on the first 1x1), and the names match torchvision's, so
    its state dicts load.

    >>> Bottleneck(256, 64)(torch.zeros(1, 256, 56, 56)).shape
    torch.Size([1, 256, 56, 56])
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 shortcut: str = "projection") -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.image_shape = (in_channels, None, None)
        self.conv1 = conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.skip = shortcut != "none"
        self.downsample = make_shortcut(shortcut, in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, channels, H, W): squeeze
        out = self.relu(self.bn2(self.conv2(out)))  # (N, channels, H/s, W/s): the 3x3 work
        out = self.bn3(self.conv3(out))  # (N, 4 * channels, H/s, W/s): expand
        if not self.skip:
            return self.relu(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class PreActBlock(nn.Module):
    """The pre-activation block of He et al. 2016, "Identity Mappings in Deep Residual Networks".

    ``x + F(x)`` with F = BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv3x3: the
    BN and ReLU move in front of the convolutions, so nothing follows the
    addition. Stacked, block l + 1 receives exactly ``x_l + F(x_l)``, so
    ``x_L = x_l + (the sum of the F's in between)`` and the gradient reaching
    ``x_l`` is the one at ``x_L`` plus the F's terms: the "1 +" of dx_L/dx_l
    is never multiplied by a ReLU's zeros. Where the shape changes the
    shortcut (a 1x1 convolution without BN, or ``"zeros"``) is applied to the
    pre-activated input, as in the paper. A network of these blocks needs a
    last BN and ReLU before pooling (``CifarResNet(preact=True)`` has them).

    >>> PreActBlock(16, 32, stride=2)(torch.zeros(1, 16, 32, 32)).shape
    torch.Size([1, 32, 16, 16])
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 shortcut: str = "projection") -> None:
        super().__init__()
        self.image_shape = (in_channels, None, None)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU()  # not in place: x itself is the shortcut
        self.skip = shortcut != "none"
        self.downsample = make_shortcut(shortcut, in_channels, out_channels, stride, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        if not self.skip:
            return out
        return out + (x if self.downsample is None else self.downsample(pre))  # nothing after the +


BasicBlock = ResidualBlock  # torchvision's name for the same block


class TwoConvBlock(nn.Module):
    """Two 3x3 convolutions that keep the shape, with (``skip=True``) or without the shortcut.

    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)`` with the skip, the same
    without ``+ x`` (a *plain* block). ``batch_norm=False`` leaves out the two
    BNs and gives the convolutions biases instead. Stacked by ``conv_stack`` to
    compare plain and residual networks of the same depth.

    >>> TwoConvBlock(16, skip=True)(torch.zeros(2, 16, 14, 14)).shape
    torch.Size([2, 16, 14, 14])
    """

    def __init__(self, channels: int, skip: bool, batch_norm: bool = True) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + x) if self.skip else torch.relu(out)


def conv_stack(depth: int, *, skip: bool, batch_norm: bool = True, width: int = 16,
               in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """A stem, ``depth // 2`` ``TwoConvBlock``s (``depth`` 3x3 convolutions), pooling and a linear layer.

    The stem (3x3, stride 2) turns a 28x28 MNIST digit into ``width`` maps of
    14x14; every block keeps that shape, so plain and residual stacks of any
    depth differ only in the ``+ x``.

    >>> conv_stack(8, skip=False)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),  # (N, width, 14, 14)
        *[TwoConvBlock(width, skip, batch_norm) for _ in range(depth // 2)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


class ResNet(nn.Module):
    """A stem, four stages of residual blocks, global average pooling, a linear layer.

    ``layers`` gives the number of blocks per stage ([2, 2, 2, 2] is ResNet-18).
    Stage k has 64 * 2**k channels; stages 2-4 start with a stride-2 block that
    halves the height and width.

    ``stem="imagenet"`` is the paper's 7x7/2 convolution and 3x3/2 max-pool,
    which shrink a 224x224 image 4x before the first stage (to 56x56).
    ``stem="cifar"`` is a single 3x3/1 convolution without pooling: on a
    32x32 image the ImageNet stem would leave the first stage only 8x8 pixels.
    """

    def __init__(self, block: type[ResidualBlock | Bottleneck], layers: list[int], num_classes: int = 10,
                 in_channels: int = 3, stem: str = "cifar") -> None:
        super().__init__()
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif stem == "cifar":
            self.conv1 = conv3x3(in_channels, 64)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'cifar' or 'imagenet', not {stem!r}")
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.image_shape = (in_channels, None, None)  # global average pooling takes any size
        self.inplanes = 64  # the running width: what the next stage's first block receives
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self)

    def _make_layer(self, block: type[ResidualBlock | Bottleneck], channels: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        """One stage: a first block that may change the shape, then ``blocks - 1`` that keep it."""
        layers = [block(self.inplanes, channels, stride)]
        self.inplanes = channels * block.expansion
        layers += [block(self.inplanes, channels) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4) imagenet stem
        x = self.layer1(x)  # (N, 64, 56, 56) for a 224x224 input
        x = self.layer2(x)  # (N, 128, 28, 28)
        x = self.layer3(x)  # (N, 256, 14, 14)
        x = self.layer4(x)  # (N, 512, 7, 7)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 512)
        return self.fc(x)


def resnet18(num_classes: int = 10, in_channels: int = 3, stem: str = "cifar") -> ResNet:
    """ResNet-18: [2, 2, 2, 2] basic blocks, 11.2 M parameters for 10 classes.

    With ``stem="imagenet"`` and ``num_classes=1000`` it has exactly the
    11,689,512 parameters of ``torchvision.models.resnet18()``.

    >>> resnet18()(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """
    return ResNet(ResidualBlock, [2, 2, 2, 2], num_classes, in_channels, stem)


def resnet50(num_classes: int = 10, in_channels: int = 3, stem: str = "cifar") -> ResNet:
    """ResNet-50: [3, 4, 6, 3] bottleneck blocks; stage k ends with 256 * 2**k channels.

    With ``stem="imagenet"`` and ``num_classes=1000`` it has exactly the
    25,557,032 parameters of ``torchvision.models.resnet50()``, under the same
    names: its pretrained state dict loads as it is.

    >>> resnet50().fc
    Linear(in_features=2048, out_features=10, bias=True)
    """
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, stem)


class CifarResNet(nn.Module):
    """The ResNet paper's CIFAR-10 family: depth = 6n + 2 (20, 32, 44, 56, 110).

    A 3x3 convolution to 16 channels, then three stages of n basic blocks
    with 16, 32 and 64 channels on 32x32, 16x16 and 8x8 maps, global average
    pooling and a linear layer. ``shortcut`` is where the stages change shape:
    "projection" (option B, a 1x1 convolution with BN: a few thousand more
    parameters), "zeros" (option A, the paper's choice for CIFAR: no
    parameters) or "none", the paper's *plain* network of the same depth.
    ``preact=True`` builds it from ``PreActBlock``: the stem is the convolution
    alone, and a BN and ReLU come after the last stage instead.

    >>> CifarResNet(20)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 shortcut: str = "projection", preact: bool = False) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), not {depth}")
        n = (depth - 2) // 6
        block = PreActBlock if preact else ResidualBlock
        self.image_shape = (in_channels, None, None)
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.Identity() if preact else nn.BatchNorm2d(16)  # a pre-activation block starts with BN
        self.relu = nn.Identity() if preact else nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(*[block(16, 16, 1, shortcut) for _ in range(n)])
        self.layer2 = nn.Sequential(block(16, 32, 2, shortcut), *[block(32, 32, 1, shortcut) for _ in range(n - 1)])
        self.layer3 = nn.Sequential(block(32, 64, 2, shortcut), *[block(64, 64, 1, shortcut) for _ in range(n - 1)])
        self.post = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU()) if preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        x = self.post(self.layer3(self.layer2(self.layer1(x))))  # (N, 64, 8, 8)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class MnistResidualBlock(nn.Module):
    """The small MNIST network's block: ``relu(conv3x3(conv5x5(x)) + x)``.

    Both convolutions keep the size (padding 2 for 5x5, 1 for 3x3) and the
    block returns to ``channels`` channels, so the input can be added as it is.
    As often written, it has no activation between the two convolutions, so
    they collapse into one linear map; ``inner_relu=True`` adds one and
    ``batch_norm=True`` adds BatchNorm after each convolution.
    """

    def __init__(self, channels: int, hidden: int = 30, inner_relu: bool = False,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=5, padding=2)
        self.bn1 = nn.BatchNorm2d(hidden) if batch_norm else nn.Identity()
        self.act = nn.ReLU() if inner_relu else nn.Identity()
        self.conv2 = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + x)


class MnistResNet(nn.Module):
    """The small two-block residual network for MNIST (about 98-99% test accuracy).

    ::

        (N, 1, 28, 28) -conv 5x5-> (N, 20, 24, 24) -pool, relu-> (N, 20, 12, 12) -block->
        (N, 20, 12, 12) -conv 3x3-> (N, 15, 10, 10) -pool, relu-> (N, 15, 5, 5) -block->
        (N, 15, 5, 5) -flatten-> (N, 375) -linear-> (N, 10)

    >>> MnistResNet()(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """

    image_shape = (1, 28, 28)  # the linear layer was sized for 28x28 digits

    def __init__(self, num_classes: int = 10, inner_relu: bool = False,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 15, kernel_size=3)
        self.pool = nn.MaxPool2d(2)
        self.block1 = MnistResidualBlock(20, inner_relu=inner_relu, batch_norm=batch_norm)
        self.block2 = MnistResidualBlock(15, inner_relu=inner_relu, batch_norm=batch_norm)
        self.fc = nn.Linear(15 * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(torch.relu(self.pool(self.conv1(x))))  # (N, 20, 12, 12)
        x = self.block2(torch.relu(self.pool(self.conv2(x))))  # (N, 15, 5, 5)
        return self.fc(torch.flatten(x, 1))  # flatten, not x.view(64, -1): any batch size works


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """The number of parameters (weights and biases) in ``model``.

    >>> count_parameters(nn.Linear(1024, 64))
    65600
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _init_weights(model: nn.Module) -> None:
    """He (Kaiming) initialisation for convolutions, BN to the identity, as torchvision does."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
