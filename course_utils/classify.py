"""Classify your own picture: a photo or a drawing, prepared the way the training images were.

A network only knows images like the ones it was trained on. An MNIST digit is
28x28 pixels, one grey channel, a *white* digit on a *black* background, the
digit scaled into a 20x20 box in the middle. A photo of a digit written on paper
is large, in colour, and dark ink on white: fed in as it is, the network sees
something it has never seen, and answers with confidence anyway.

``prepare_image`` does what the dataset's makers did, in order:

1. open the file and turn phone photos upright (EXIF orientation);
2. drop colour for the grey datasets, flatten transparency onto white;
3. for MNIST and Fashion-MNIST: invert a light background, crop to the object
   and scale it into the box the dataset uses, centred; for CIFAR-10: crop the
   centre square;
4. resize, ``ToTensor`` and ``Normalize`` exactly as ``get_transforms`` does.

``classify`` runs the model on the result and returns the top classes::

    >>> classify(model, "my_digit.jpg", "mnist")  # doctest: +SKIP
    [('7', 0.981), ('1', 0.012), ('2', 0.004)]
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from course_utils.datasets import CLASSES, IMAGE_SIZE, IN_CHANNELS, get_transforms
from course_utils.models import check_input, eval_mode

__all__ = ["open_image", "prepare_image", "classify"]

#: The side of the box the object is scaled into, inside the image: MNIST's
#: digits fill 20x20 of 28x28; Fashion-MNIST's products fill the whole 28x28.
_OBJECT_BOX = {"mnist": 20, "fashion_mnist": 28}


def open_image(image: str | os.PathLike | Image.Image) -> Image.Image:
    """A PIL image from a path (or the image itself), upright, with no transparency left."""
    if not isinstance(image, Image.Image):
        path = Path(image).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {path.resolve()}: check the name, or on Colab "
                                    "upload it first (files panel, or google.colab.files.upload()).")
        try:
            with Image.open(path) as opened:
                image = opened.copy()  # read it all now, so the file is closed
        except UnidentifiedImageError:
            raise ValueError(f"{path} is not an image PIL can read: save it as PNG or JPEG.") from None
    image = ImageOps.exif_transpose(image)  # phone cameras store "rotate me" in a tag
    if image.mode in ("RGBA", "LA", "P"):  # a drawing on a transparent canvas: put it on white paper
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, "white")
        image = Image.alpha_composite(paper, rgba)
    return image.convert("RGB")


def prepare_image(image: str | os.PathLike | Image.Image, name: str, *, resize: int | None = None,
                  invert: bool | None = None) -> torch.Tensor:
    """``image`` as a batch of one, shape (1, C, H, W), normalised like ``name``'s test images.

    Args:
        image: a file path or a PIL image, any size, colour or grey.
        name: the dataset the model was trained on: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``.
        resize: the side the model was trained at, when it was not the dataset's own
            (d2l's ResNet-18 trains on Fashion-MNIST at 96x96: ``resize=96``).
        invert: grey datasets only. ``None`` inverts when the background (the border
            pixels) is light, as on paper; ``True``/``False`` force it.
    """
    if name not in CLASSES:
        raise ValueError(f"Unknown dataset {name!r}: choose one of {', '.join(CLASSES)}.")
    picture = open_image(image)
    if IN_CHANNELS[name] == 1:
        picture = _like_mnist(picture.convert("L"), box=_OBJECT_BOX[name], invert=invert)
    else:
        side = min(picture.size)
        picture = ImageOps.fit(picture, (side, side))  # the centre square; CIFAR-10 photos are square
        picture = picture.resize((IMAGE_SIZE[name], IMAGE_SIZE[name]), Image.Resampling.LANCZOS)
    return get_transforms(name, train=False, resize=resize)(picture).unsqueeze(0)


def _like_mnist(grey: Image.Image, *, box: int, invert: bool | None) -> Image.Image:
    """A light object on black, scaled into ``box`` x ``box`` and centred in 28x28."""
    if invert is None:
        border = [grey.getpixel((x, y)) for x in range(grey.width) for y in (0, grey.height - 1)]
        border += [grey.getpixel((x, y)) for y in range(grey.height) for x in (0, grey.width - 1)]
        invert = sum(border) / len(border) > 127  # a light background: dark ink on paper
    if invert:
        grey = ImageOps.invert(grey)
    grey = ImageOps.autocontrast(grey, cutoff=1)  # paper is never pure black, ink never pure white
    ink = grey.point(lambda v: 255 if v > 64 else 0).getbbox()  # the object's bounding box
    if ink is not None:
        grey = grey.crop(ink)
    scale = box / max(grey.size)
    grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                       Image.Resampling.LANCZOS)
    left, top = (28 - grey.width) // 2, (28 - grey.height) // 2
    if box < 28:  # MNIST centres each digit by its centre of mass, not its box
        pixels = torch.from_numpy(np.asarray(grey, dtype=np.float32))  # (height, width)
        if pixels.sum() > 0:
            rows, cols = torch.arange(grey.height), torch.arange(grey.width)
            cy = (pixels.sum(1) * rows).sum() / pixels.sum()
            cx = (pixels.sum(0) * cols).sum() / pixels.sum()
            left = min(max(round(14 - cx.item()), 0), 28 - grey.width)
            top = min(max(round(14 - cy.item()), 0), 28 - grey.height)
    canvas = Image.new("L", (28, 28), 0)
    canvas.paste(grey, (left, top))
    return canvas


@torch.no_grad()
def classify(model: nn.Module, image: str | os.PathLike | Image.Image, name: str, *, top: int = 3,
             resize: int | None = None, invert: bool | None = None) -> list[tuple[str, float]]:
    """The ``top`` most likely classes of ``image`` and their probabilities, best first.

    The image is prepared with ``prepare_image`` (same arguments); the model runs
    in eval mode on the device of its weights and is left in the mode it was in.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a whole number of at least 1, not {top!r}: how many of the "
                         f"likeliest classes to return (top=1 for just the answer).")
    x = prepare_image(image, name, resize=resize, invert=invert)
    device = next(model.parameters()).device
    x = x.to(device)
    check_input(model, x)
    with eval_mode(model):
        probs = model(x).softmax(dim=1)[0].cpu()
    values, indices = probs.topk(min(top, len(probs)))
    return [(CLASSES[name][i], round(p, 4)) for p, i in zip(values.tolist(), indices.tolist())]
