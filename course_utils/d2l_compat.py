"""d2l's ResNet-18 rebuilt without d2l, and a bridge to d2l's own code.

The d2l book ("Dive into Deep Learning", the ResNet section) trains a
ResNet-18 on Fashion-MNIST resized to 96x96. Its network has the shapes of
torchvision's ResNet-18 but differs from it (and from
``course_utils.models.resnet18``) in two details that change the parameter
count, not a single shape:

* every convolution keeps PyTorch's default bias (torchvision leaves it out:
  the BatchNorm that follows subtracts the mean and would cancel it), and
* the projection shortcut is a 1x1 convolution alone, with no BatchNorm.

``Residual``, ``resnet_block`` and ``d2l_resnet18`` write that network with
explicit channel counts, so they need no d2l. ``d2l_book_resnet18`` builds
the same network from d2l's own ``d2l.torch.Residual``, so the two can be
compared; its parameter names match ours, so state_dicts load either way.
``init_like_train_ch6`` and ``parse_train_ch6`` repeat what a comparison with
``d2l.train_ch6`` needs: its weight initialisation and its printed summary.

d2l is optional. Install it with ``pip install --no-deps d2l==1.0.3``: the
package pins numpy 1.23.5, matplotlib 3.7.2, pandas 2.0.3 and more, and
without ``--no-deps`` pip would downgrade them (on Python 3.12 it fails
outright: numpy 1.23.5 has no wheel for it and does not build).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from types import ModuleType

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "D2L_INSTALL", "Residual", "resnet_block", "d2l_stem", "d2l_resnet18",
    "d2l_available", "import_d2l", "d2l_book_resnet18", "init_like_train_ch6",
    "parse_train_ch6",
]

#: The command that installs d2l without breaking the environment.
D2L_INSTALL = "pip install --no-deps d2l==1.0.3"


class Residual(nn.Module):
    """d2l's residual block, with the input channels written out: ``relu(F(x) + shortcut(x))``.

    ``F`` is conv3x3 (stride ``strides``) -> BN -> ReLU -> conv3x3 -> BN. The
    shortcut is ``x`` itself, or with ``use_1x1conv=True`` a 1x1 convolution
    (same stride) that gives ``x`` the new channel count and size. Unlike
    torchvision's ``BasicBlock``, every convolution has a bias and the 1x1
    projection has no BatchNorm. The attribute names (``conv1``, ``conv2``,
    ``conv3``, ``bn1``, ``bn2``) and their order are d2l's, so a state_dict of
    ``d2l.torch.Residual`` loads into this block and back.

    >>> Residual(64, 128, use_1x1conv=True, strides=2)(torch.zeros(1, 64, 56, 56)).shape
    torch.Size([1, 128, 28, 28])
    """

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False,
                 strides: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3: nn.Conv2d | None = None
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)  # the projection: new channels, and half the size with strides=2
        return F.relu(y + x)


def resnet_block(input_channels: int, num_channels: int, num_residuals: int,
                 first_block: bool = False) -> nn.Sequential:
    """One stage of ``num_residuals`` blocks, d2l's ``resnet_block``.

    The first block of every stage but the first halves the height and width
    and changes the channels, so it needs the 1x1 projection; the others keep
    the shape and add ``x`` as it is. The first stage (``first_block=True``)
    follows the max-pool, which has already halved the size, and keeps 64
    channels (``input_channels`` must equal ``num_channels`` there).
    """
    blocks = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blocks.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blocks.append(Residual(num_channels, num_channels))
    return nn.Sequential(*blocks)


def d2l_stem(in_channels: int = 1, padding: int = 3) -> nn.Sequential:
    """d2l's ``b1``: conv 7x7/2 to 64 channels, BN, ReLU, max-pool 3x3/2: 224 -> 112 -> 56.

    ``padding=3`` is the book's (and the ResNet paper's). ``padding=2``, as
    some copies of the chapter have it, makes the convolution's output one
    pixel smaller (no input pixel is lost: the grid of windows starts one pixel
    further in). After the pool the two agree when the size is 0 or 3 more
    than a multiple of 4 (224, 96, 99), and differ otherwise (98: 25 against 24).
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=padding),
        nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )


def d2l_resnet18(num_classes: int = 10, in_channels: int = 1, stem_padding: int = 3) -> nn.Sequential:
    """The d2l book's ResNet-18, without d2l: 11,178,378 parameters for 1 channel and 10 classes.

    ``Sequential(b1, b2, b3, b4, b5, avgpool, flatten, fc)``, as the book
    writes it: the stem ``b1``, four stages of two ``Residual`` blocks with
    64, 128, 256 and 512 channels, global average pooling and a linear layer.
    For a 224x224 input the stages output 64x56x56, 64x56x56, 128x28x28,
    256x14x14 and 512x7x7 (96x96: 24, 24, 12, 6, 3).

    >>> d2l_resnet18()(torch.zeros(2, 1, 96, 96)).shape
    torch.Size([2, 10])
    """
    return nn.Sequential(OrderedDict(
        b1=d2l_stem(in_channels, padding=stem_padding),  # (N, 64, H/4, W/4)
        b2=resnet_block(64, 64, 2, first_block=True),      # (N, 64, H/4, W/4)
        b3=resnet_block(64, 128, 2),                        # (N, 128, H/8, W/8)
        b4=resnet_block(128, 256, 2),                       # (N, 256, H/16, W/16)
        b5=resnet_block(256, 512, 2),                       # (N, 512, H/32, W/32)
        avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        flatten=nn.Flatten(),
        fc=nn.Linear(512, num_classes),
    ))


def import_d2l() -> ModuleType:
    """``d2l.torch``, or an ``ImportError`` that says how to install it."""
    try:
        import d2l.torch as d2l
    except ImportError as err:
        raise ImportError(
            f"d2l is not importable ({err}). Install it with `{D2L_INSTALL}` "
            "(in a notebook: %pip install --no-deps d2l==1.0.3). Without --no-deps pip "
            "would replace numpy, matplotlib and pandas with the 2023 versions d2l pins."
        ) from err
    return d2l


def d2l_available() -> bool:
    """True when ``import d2l.torch`` works here."""
    try:
        import_d2l()
    except ImportError:
        return False
    return True


def d2l_book_resnet18(num_classes: int = 10, in_channels: int = 1,
                      input_size: int = 96) -> nn.Sequential:
    """The same ResNet-18 built from d2l's own ``d2l.torch.Residual``, the way the book builds it.

    d2l's layers are *lazy* (``nn.LazyConv2d``, ``nn.LazyBatchNorm2d``,
    ``nn.LazyLinear``): they learn their input channels from the first batch
    they see. We run one image of ``in_channels x input_size x input_size``
    through the network (in eval mode, without gradients, so nothing is
    learned) to create the weights; after that it is an ordinary network with
    the parameter names of ``d2l_resnet18``. Raises ``ImportError`` without d2l.
    """
    d2l = import_d2l()

    def block(num_channels: int, num_residuals: int, first_block: bool = False) -> nn.Sequential:
        return nn.Sequential(*[
            d2l.Residual(num_channels, use_1x1conv=True, strides=2) if i == 0 and not first_block
            else d2l.Residual(num_channels)
            for i in range(num_residuals)
        ])

    net = nn.Sequential(OrderedDict(
        b1=nn.Sequential(nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3),
                         nn.LazyBatchNorm2d(), nn.ReLU(),
                         nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        b2=block(64, 2, first_block=True),
        b3=block(128, 2),
        b4=block(256, 2),
        b5=block(512, 2),
        avgpool=nn.AdaptiveAvgPool2d((1, 1)),
        flatten=nn.Flatten(),
        fc=nn.LazyLinear(num_classes),
    ))
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, in_channels, input_size, input_size))  # creates the lazy weights
    return net.train()


def init_like_train_ch6(model: nn.Module) -> nn.Module:
    """Re-initialise ``model`` as ``d2l.train_ch6`` does before it trains.

    Xavier-uniform weights for every ``nn.Linear`` and ``nn.Conv2d``; biases
    and BatchNorm keep what they have. (Our ``fit`` leaves the model's own
    initialisation alone; torchvision-style models use He initialisation.)
    Seed first (``torch.manual_seed``) for the same weights as a d2l run.
    """
    for m in model.modules():
        if type(m) in (nn.Linear, nn.Conv2d):  # d2l tests the exact type, as here
            nn.init.xavier_uniform_(m.weight)
    return model


_SUMMARY = re.compile(r"loss (?P<loss>[\d.]+|nan), train acc (?P<train_acc>[\d.]+), "
                      r"test acc (?P<test_acc>[\d.]+)")
_SPEED = re.compile(r"(?P<examples_per_sec>[\d.]+) examples/sec on (?P<device>\S+)")


def parse_train_ch6(text: str) -> dict[str, float | str]:
    """The figures ``d2l.train_ch6`` prints at the end, as a dictionary.

    d2l prints two lines, ``loss 0.009, train acc 0.998, test acc 0.912`` and
    ``2357.6 examples/sec on cuda:0``. The speed is
    ``examples per epoch * epochs / timer.sum()``, where the timer runs only
    while a batch is on its way through the model (moving it to the device,
    forward, backward, the update), not while the loader prepares the next one.

    >>> parse_train_ch6("loss 0.009, train acc 0.998, test acc 0.912\\n2357.6 examples/sec on cuda:0")
    {'loss': 0.009, 'train_acc': 0.998, 'test_acc': 0.912, 'examples_per_sec': 2357.6, 'device': 'cuda:0'}
    """
    summary, speed = _SUMMARY.search(text), _SPEED.search(text)
    if summary is None or speed is None:
        raise ValueError("No d2l.train_ch6 summary in this text: expected 'loss ..., train acc ..., "
                         f"test acc ...' and '... examples/sec on DEVICE', got {text[-200:]!r}.")
    figures: dict[str, float | str] = {k: float(v) for k, v in summary.groupdict().items()}
    figures["examples_per_sec"] = float(speed["examples_per_sec"])
    figures["device"] = speed["device"]
    return figures
