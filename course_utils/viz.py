"""Pictures: torchviz computation graphs and matplotlib plots.

``torchviz`` builds a Graphviz description of the autograd graph of one
forward pass; turning that description into a picture needs the ``dot``
program from Graphviz, which pip cannot install. ``has_dot()`` says whether it
is there and ``DOT_INSTALL_HINT`` how to get it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from course_utils.models import eval_mode

DOT_INSTALL_HINT = (
    "Install Graphviz's `dot` program (pip cannot): "
    "Debian/Ubuntu `sudo apt-get install graphviz`; macOS `brew install graphviz`; "
    "conda `conda install -c conda-forge graphviz`; Windows `winget install graphviz` "
    "(then reopen the terminal); Colab already has it."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` executable is not on the PATH."""


def has_dot() -> bool:
    """True when Graphviz's ``dot`` executable is on the PATH."""
    return shutil.which("dot") is not None


def render_graph(model: nn.Module, input_shape: Sequence[int], *, path: str | os.PathLike | None = None,
                 format: str = "png"):
    """The torchviz graph of one forward pass of ``model`` on a random input.

    Blue boxes are the parameters (named, e.g. ``layer1.0.conv1.weight``),
    grey boxes the operations; in a residual block the ``AddBackward0`` node
    with two incoming edges is the skip connection.

    Without ``path`` it returns the ``graphviz.Digraph``, which Jupyter shows
    inline. With ``path`` it writes the picture there (``format`` is used when
    ``path`` has no suffix) and returns the file's path; no other file is
    written or removed (a ``block.gv`` beside ``block.png`` stays as it is).
    Building the graph needs no ``dot``; drawing it does, and raises
    ``GraphvizNotFoundError`` with install instructions when it is missing.

    >>> render_graph(ResidualBlock(64, 64), (1, 64, 8, 8), path="block.png")  # doctest: +SKIP
    PosixPath('block.png')
    """
    from torchviz import make_dot

    param = next(model.parameters(), None)
    x = torch.randn(*input_shape, device=param.device if param is not None else "cpu")
    with eval_mode(model):  # BatchNorm uses (and keeps) its running statistics; a batch of 1 is fine
        graph = make_dot(model(x), params=dict(model.named_parameters()))
    if path is None:
        return _with_install_hint(graph)
    if not has_dot():
        raise GraphvizNotFoundError(f"Cannot draw the graph to {path}: `dot` was not found. {DOT_INSTALL_HINT}")
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix("." + format)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pipe() hands the picture back as bytes; render() would also write (and clobber) a DOT file beside it
    path.write_bytes(graph.pipe(format=path.suffix[1:].lower()))
    return path


def _with_install_hint(graph):
    """``graph``, whose inline display in Jupyter fails with ``DOT_INSTALL_HINT`` when ``dot`` is missing.

    Jupyter draws a ``graphviz.Digraph`` by running ``dot``; without it graphviz only says
    that it could not execute ``dot``. The subclass adds how to install it.
    """
    class Digraph(type(graph)):
        def _repr_mimebundle_(self, *args, **kwargs):
            if not has_dot():
                raise GraphvizNotFoundError(f"Cannot draw the graph: `dot` was not found. {DOT_INSTALL_HINT}")
            return super()._repr_mimebundle_(*args, **kwargs)

    graph.__class__ = Digraph  # same object and contents, one method more
    return graph


def plot_history(history, *, title: str | None = None):
    """Loss and accuracy per epoch: train, then validation and test where recorded. Returns the figure.

    The epoch ``fit`` kept (``history.best_epoch()``, chosen on validation accuracy)
    is marked with a dotted line.
    """
    import math

    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    recorded = [split for split in ("train", "val", "test")
                if not all(math.isnan(a) for a in getattr(history, f"{split}_acc"))]
    for split in recorded:
        ax_loss.plot(history.epoch, getattr(history, f"{split}_loss"), marker="o", label=split)
        ax_acc.plot(history.epoch, [100 * a for a in getattr(history, f"{split}_acc")],
                    marker="o", label=split)
    if "val" in recorded:
        for ax in (ax_loss, ax_acc):
            ax.axvline(history.best_epoch(), color="grey", linestyle=":", label="kept (best val)")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(images: torch.Tensor, labels: Sequence[int] | torch.Tensor | None = None,
                classes: Sequence[str] | None = None, *, predictions: Sequence[int] | None = None,
                ncols: int = 8):
    """A grid of images, each titled with its class (and the prediction, when given).

    ``images`` is a batch ``(N, C, H, W)``; normalised images are rescaled to
    [0, 1] per image for display. Wrong predictions are titled in red.
    Returns the figure.

    >>> x, y = next(iter(train_loader)); show_images(x[:16], y[:16], CLASSES["cifar10"])  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if images.dim() != 4:
        raise ValueError(f"images must be a batch of shape (N, C, H, W), got {tuple(images.shape)}")
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, min(n, ncols), figsize=(1.6 * min(n, ncols), 1.9 * nrows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in zip(range(n), axes.flat):
        img = images[i].detach().float().cpu()
        lo, hi = img.min(), img.max()
        if lo < 0 or hi > 1:
            img = (img - lo) / (hi - lo + 1e-8)
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if img.shape[0] == 1 else None)
        if labels is not None:
            name = lambda k: classes[int(k)] if classes is not None else str(int(k))
            title, color = name(labels[i]), "black"
            if predictions is not None:
                title = f"{name(predictions[i])}\n(true: {title})"
                color = "black" if int(predictions[i]) == int(labels[i]) else "red"
            ax.set_title(title, fontsize=8, color=color)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``m[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
    tensor([[1, 0],
            [1, 1]])
    """
    y_true, y_pred = torch.as_tensor(y_true).long().flatten(), torch.as_tensor(y_pred).long().flatten()
    flat = y_true * num_classes + y_pred
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy of each class: the diagonal of the confusion matrix over its row sums."""
    m = confusion_matrix(y_true, y_pred, len(classes)).float()
    acc = m.diag() / m.sum(1).clamp(min=1)
    return {name: float(a) for name, a in zip(classes, acc)}


def plot_confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, classes: Sequence[str],
                          *, normalize: bool = True):
    """The confusion matrix as a heat map: rows are true classes, columns predictions.

    With ``normalize=True`` each row shows fractions of that class, so the
    diagonal is the per-class accuracy. Returns the figure.
    """
    import matplotlib.pyplot as plt

    m = confusion_matrix(y_true, y_pred, len(classes)).float()
    if normalize:
        m = m / m.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(0.6 * len(classes) + 2, 0.6 * len(classes) + 1.5))
    im = ax.imshow(m.numpy(), cmap="Blues", vmin=0)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            value = f"{m[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
            ax.text(j, i, value, ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > 0.5 * m.max() else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
