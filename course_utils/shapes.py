"""Shapes: how big is the output of a convolution or a pooling layer, and does a model produce
the shapes you planned?

* ``conv2d_output_size``  the ``nn.Conv2d`` formula, for one size or a (height, width) pair
* ``pool2d_output_size``  the same for ``nn.MaxPool2d``: its default stride and ``ceil_mode``
* ``solve_padding``       the formula backwards: which padding turns ``in_size`` into ``out_size``
* ``conv_mult_adds``      what one ``nn.Conv2d`` costs on one image, in multiply-adds
* ``receptive_field``     how many input pixels one output pixel of a stack depends on, by the formula
* ``measured_receptive_field``, ``receptive_field_map``  the same, measured with a gradient
* ``trace_shapes``        run one dummy batch through a model, list each layer's output shape
* ``check_output_shape``  compare a module's output shape with the plan; explain a mismatch

Every size follows one formula, one dimension at a time (see the ``nn.Conv2d`` docs)::

    out = floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1

``dilation * (kernel_size - 1) + 1`` is the *span* of the kernel: how many input pixels one
window covers. A window must fit entirely inside the padded input, so the division rounds down.

The size functions accept an ``int`` (a square input) or an ``(h, w)`` pair for each argument.
The result has the type of ``size``: an ``int`` for an ``int``, an ``(h, w)`` tuple for a pair.
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Iterator, Sequence, Union

import torch
from torch import nn

from course_utils.models import check_input, eval_mode

__all__ = [
    "conv2d_output_size", "pool2d_output_size", "solve_padding",
    "conv_mult_adds", "receptive_field", "receptive_field_map", "measured_receptive_field",
    "trace_shapes", "check_output_shape", "ShapeError",
]

#: One number for both directions, or a (height, width) pair.
IntOrPair = Union[int, Sequence[int]]

_WHY_AT_LEAST = {  # argument -> (smallest allowed value, why)
    "size": (1, "an image has at least 1 pixel"),
    "in_size": (1, "an image has at least 1 pixel"),
    "out_size": (1, "an image has at least 1 pixel"),
    "kernel_size": (1, "a kernel covers at least 1 pixel"),
    "stride": (1, "stride=1 moves the window one pixel at a time, 2 skips every other position"),
    "dilation": (1, "dilation=1 means a kernel without gaps"),
    "padding": (0, "padding adds zeros around the input; PyTorch cannot crop with it"),
}


# ---------------------------------------------------------------------------
# Output-size arithmetic
# ---------------------------------------------------------------------------

def _is_int(value: object) -> bool:
    """True for 3, False for 3.0 and for True (a bool is an int in Python, but not a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """``value`` as a (height, width) pair, after checking that it is whole and big enough."""
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        pair = (value[0], value[1])
    else:
        raise TypeError(f"{name}={value!r}: {name} must be an int or a pair of ints "
                        f"(height, width), e.g. {name}=3 or {name}=(3, 5).")
    minimum, why = _WHY_AT_LEAST[name]
    if min(pair) < minimum:
        raise ValueError(f"{name}={value!r} is invalid: {name} must be at least {minimum} ({why}).")
    return pair


def _one_size(size: int, kernel_size: int, stride: int, padding: int, dilation: int,
              ceil_mode: bool = False, direction: str = "wide") -> int:
    """The formula for one dimension; a ValueError when not a single window fits."""
    span = dilation * (kernel_size - 1) + 1
    padded = size + 2 * padding
    rounding = stride - 1 if ceil_mode else 0  # ceil(a / s) == floor((a + s - 1) / s)
    out = (padded - span + rounding) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # PyTorch: the last window must start inside the input or the left padding
    if out < 1:
        raise ValueError(
            f"kernel_size={kernel_size} with dilation={dilation} spans {span} pixels but the "
            f"padded input is only {padded} pixels {direction}: the output would have 0 pixels. "
            "Use a smaller kernel or more padding.")
    return out


def _output_size(size: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair,
                 padding: IntOrPair, dilation: IntOrPair,
                 ceil_mode: bool = False) -> int | tuple[int, int]:
    """The formula for height and width. An int ``size`` gives an int, a pair gives a pair."""
    arguments = {"size": size, "kernel_size": kernel_size, "stride": stride,
                 "padding": padding, "dilation": dilation}
    pairs = [_pair(value, name) for name, value in arguments.items()]  # checks them all first
    directions = ("wide", "wide") if isinstance(size, int) else ("high", "wide")
    out = tuple(_one_size(*(pair[i] for pair in pairs), ceil_mode, directions[i]) for i in (0, 1))
    if not isinstance(size, int):
        return out
    if out[0] != out[1]:  # a square input, but a kernel (or stride, ...) that differs by direction
        culprits = ", ".join(f"{name}={value!r}" for name, value in arguments.items()
                             if not isinstance(value, int) and value[0] != value[1])
        raise ValueError(f"size={size} is one number, but {culprits} makes height and width "
                         f"differ ({out[0]} x {out[1]}): pass size=({size}, {size}) to get both.")
    return out[0]


def conv2d_output_size(size: IntOrPair, kernel_size: IntOrPair, stride: IntOrPair = 1,
                       padding: IntOrPair | str = 0,
                       dilation: IntOrPair = 1) -> int | tuple[int, int]:
    """The output height/width of ``nn.Conv2d`` with these settings, by the formula.

    ``padding`` may also be ``"valid"`` (no padding) or ``"same"`` (pad so that the output keeps
    the input's size; PyTorch allows it only with stride 1). Raises ``ValueError`` for settings
    PyTorch would refuse, saying which argument is wrong and why.

    Example: ``conv2d_output_size(224, 7, stride=2, padding=3) == 112`` (ResNet's first layer).
    """
    if padding == "valid":
        padding = 0
    elif padding == "same":  # PyTorch pads dilation * (kernel_size - 1) in all, unevenly if odd
        if _pair(stride, "stride") != (1, 1):
            raise ValueError(
                f"padding='same' needs stride=1, got stride={stride!r}: a stride shrinks the "
                "output, so it cannot keep the input's size (nn.Conv2d refuses it too). To halve "
                "the size, use stride=2 with padding=(kernel_size - 1) // 2.")
        sizes = _pair(size, "size")  # checks the ranges
        _pair(kernel_size, "kernel_size")
        _pair(dilation, "dilation")
        return size if isinstance(size, int) else sizes
    elif isinstance(padding, str):
        raise ValueError(f"padding={padding!r}: the only padding strings are 'same' and 'valid' "
                         "(lower case, as in nn.Conv2d); otherwise give a number.")
    return _output_size(size, kernel_size, stride, padding, dilation)


def pool2d_output_size(size: IntOrPair, kernel_size: IntOrPair,
                       stride: IntOrPair | None = None, padding: IntOrPair = 0,
                       dilation: IntOrPair = 1, ceil_mode: bool = False) -> int | tuple[int, int]:
    """The output height/width of ``nn.MaxPool2d`` with these settings.

    Same formula as a convolution, with two differences: ``stride`` defaults to ``kernel_size``
    (so ``MaxPool2d(2)`` halves the size), and ``ceil_mode=True`` rounds up, keeping a last
    window that sticks out past the input (as long as it starts inside the input or the left
    padding). PyTorch also allows at most ``padding = kernel_size // 2``.

    Example: ``pool2d_output_size(7, 2) == 3``; ``pool2d_output_size(7, 2, ceil_mode=True) == 4``.
    """
    stride = kernel_size if stride is None else stride
    paddings, kernels = _pair(padding, "padding"), _pair(kernel_size, "kernel_size")
    if any(p > k // 2 for p, k in zip(paddings, kernels)):
        raise ValueError(f"padding={padding!r} is too large for kernel_size={kernel_size!r}: "
                         "pooling allows at most padding = kernel_size // 2, so that every window "
                         "still covers input pixels (nn.MaxPool2d refuses more). Use less padding.")
    return _output_size(size, kernel_size, stride, padding, dilation, ceil_mode)


def solve_padding(in_size: int, out_size: int, kernel_size: int, stride: int = 1,
                  dilation: int = 1) -> int:
    """The smallest padding ``p >= 0`` with ``conv2d_output_size(in_size, kernel_size, stride, p,
    dilation) == out_size``: the formula solved for the padding.

    The output is ``out_size`` when ``(out_size - 1) * stride <= in_size + 2p - span <
    out_size * stride``: the smallest candidate is ``ceil(((out_size - 1) * stride - in_size +
    span) / 2)``. Only paddings smaller than the span count: with more, the outer windows would
    see nothing but padding zeros. Raises ``ValueError`` when no padding works, saying why.

    Example: ``solve_padding(32, 32, 5) == 2``: a 5x5 kernel keeps 32x32 with padding 2.
    """
    for name, value in [("in_size", in_size), ("out_size", out_size),
                        ("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)]:
        if not _is_int(value):
            raise TypeError(f"{name}={value!r}: solve_padding takes one int per argument.")
        _pair(value, name)  # checks the range
    padding = _padding_or_none(in_size, out_size, kernel_size, stride, dilation)
    if padding is not None:
        return padding
    span = dilation * (kernel_size - 1) + 1
    fits = max(0, math.ceil((span - in_size) / 2))  # the least padding with which a window fits
    sizes = [conv2d_output_size(in_size, kernel_size, stride, p, dilation)
             for p in range(fits, span)]
    problem = (f"No padding turns {in_size} into {out_size} with kernel_size={kernel_size}, "
               f"stride={stride}, dilation={dilation}: ")
    if stride == 1 and sizes[0] < out_size < sizes[-1]:  # the sizes go up by 2, skipping this one
        raise ValueError(problem + f"padding adds pixels on both sides, so the output goes "
                         f"{sizes[0]}, {sizes[0] + 2}, {sizes[0] + 4}, ... and skips {out_size}. "
                         "A kernel_size one larger or smaller fixes that; to keep the size, "
                         "padding='same' pads unevenly.")
    better = _nearest_stride(in_size, out_size, kernel_size, stride, dilation)
    if sizes[0] > out_size:
        why = f"even padding={fits} gives {sizes[0]}, and more padding only adds pixels"
        fix = "a larger stride" if better else "a pooling layer"
    else:
        why = (f"padding up to {span - 1} gives at most {sizes[-1]} (more would make windows "
               "that see only padding zeros)")
        fix = "a smaller stride" if better else "nn.Upsample: a convolution cannot grow it so much"
    if better:
        fix += f": stride={better[0]} with padding={better[1]} does it"
    raise ValueError(problem + f"{why}. Use {fix}.")


def _padding_or_none(in_size: int, out_size: int, kernel_size: int, stride: int,
                     dilation: int) -> int | None:
    """The smallest padding below the kernel's span that gives ``out_size``, or None."""
    span = dilation * (kernel_size - 1) + 1
    padding = max(0, math.ceil(((out_size - 1) * stride - in_size + span) / 2))
    works = padding < span and (in_size + 2 * padding - span) // stride + 1 == out_size
    return padding if works else None


def _nearest_stride(in_size: int, out_size: int, kernel_size: int, stride: int,
                    dilation: int) -> tuple[int, int] | None:
    """(stride, padding) for the stride nearest to ``stride`` that gives ``out_size``, or None."""
    for other in sorted(range(1, in_size + 1), key=lambda s: abs(s - stride)):
        padding = _padding_or_none(in_size, out_size, kernel_size, other, dilation)
        if other != stride and padding is not None:
            return other, padding
    return None


# ---------------------------------------------------------------------------
# Cost and receptive field
# ---------------------------------------------------------------------------

def conv_mult_adds(layer: nn.Conv2d, input_hw: IntOrPair) -> int:
    """The multiply-adds of ``layer`` on one image whose maps are ``input_hw`` (an int, or (h, w)).

    Each output number is a dot product of one filter, ``C_in / groups x k_h x k_w`` weights,
    with the input patch under it: that many multiply-adds. The layer computes
    ``C_out x H_out x W_out`` output numbers, so it costs::

        H_out * W_out * C_out * (C_in / groups) * k_h * k_w    (+ H_out * W_out * C_out for a bias)

    The bias adds one addition per output number, which torchinfo's "Mult-Adds" counts as one
    more; so does this function. Stride and padding enter only through ``H_out`` and ``W_out``:
    unlike the parameters, the cost grows with the image.

    >>> conv_mult_adds(nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), 56)  # 28*28*128*64*9
    57802752
    """
    if not isinstance(layer, nn.Conv2d):
        raise TypeError(f"conv_mult_adds takes an nn.Conv2d, not {type(layer).__name__}.")
    size = (input_hw, input_hw) if _is_int(input_hw) else input_hw
    h_out, w_out = conv2d_output_size(size, layer.kernel_size, layer.stride,  # type: ignore[misc]
                                      layer.padding, layer.dilation)
    per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
    per_output += 1 if layer.bias is not None else 0
    return h_out * w_out * layer.out_channels * per_output


#: Layers that work pixel by pixel: they leave the receptive field as it is.
_PIXELWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity,
              nn.BatchNorm2d, nn.Dropout, nn.Dropout2d)


def receptive_field(layers: Sequence[nn.Module]) -> tuple[int, int]:
    """``(size, jump)`` of a stack of layers, by the formula, from the input up.

    ``size`` is how many input pixels wide (and high) the region is that one output pixel depends
    on; ``jump`` is how many input pixels apart two neighbouring output pixels sit. Start with
    ``size = jump = 1`` (a pixel sees itself). A layer with kernel ``k``, dilation ``d`` and stride
    ``s`` (a convolution or a pool) widens the field by its span minus one, in input pixels, and
    multiplies the jump by its stride::

        size += d * (k - 1) * jump;    jump *= s

    Padding changes neither (it only moves windows at the border), and pixel-wise layers (ReLU,
    BatchNorm, ...) change nothing. Square kernels and strides only.

    >>> receptive_field([nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)])  # two 3x3 see 5x5, like one 5x5
    (5, 1)
    >>> receptive_field([nn.Conv2d(3, 64, 7, stride=2), nn.MaxPool2d(3, stride=2)])  # ResNet's stem
    (11, 4)
    """
    size, jump = 1, 1
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            inner, inner_jump = receptive_field(list(layer))
            size, jump = size + (inner - 1) * jump, jump * inner_jump
        elif hasattr(layer, "kernel_size") and hasattr(layer, "stride"):
            settings = {name: _pair(getattr(layer, name, 1), name)
                        for name in ("kernel_size", "stride", "dilation")}
            if any(a != b for a, b in settings.values()):
                raise ValueError(f"{layer}: receptive_field takes square kernels and strides only.")
            (k, _), (s, _), (d, _) = settings.values()
            size, jump = size + d * (k - 1) * jump, jump * s
        elif not isinstance(layer, _PIXELWISE):
            raise TypeError(f"receptive_field does not know {type(layer).__name__}: give the "
                            "convolutions, pools and pixel-wise layers before any Flatten or Linear "
                            "(a Linear layer sees the whole map).")
    return size, jump


def receptive_field_map(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """Which input pixels the centre output pixel of ``model`` depends on: a (H, W) map, non-zero there.

    It measures ``|d out[0, 0, centre] / d input|``, summed over the input channels, on a copy of
    the model whose weights are all 1 and biases 0, on an input of ones, with max-pools replaced
    by average pools of the same window. All values then stay positive, so no gradient cancels and
    no ReLU blocks one, and every input pixel under a window gets a share (a max-pool would send
    the gradient to one pixel per window). The model itself is left as it was.

    Example: ``receptive_field_map(nn.Conv2d(1, 1, 3), (1, 1, 9, 9))`` is non-zero on the 3x3
    square around the centre.
    """
    probe = copy.deepcopy(model).cpu().float().eval()
    for parent in list(probe.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                                   child.ceil_mode))
            elif isinstance(child, nn.BatchNorm2d):
                child.reset_running_stats()  # mean 0, variance 1: no shift that a ReLU could cut
    with torch.no_grad():
        for name, tensor in probe.named_parameters():
            tensor.fill_(0.0 if name.endswith("bias") else 1.0)
    x = torch.ones(*input_shape, requires_grad=True)
    out = probe(x)
    if out.dim() != 4:
        raise ValueError(f"the model's output has shape {tuple(out.shape)}, not (N, C, H, W): give "
                         "the convolutional part only, before any Flatten or Linear.")
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    return x.grad[0].abs().sum(0)


def measured_receptive_field(model: nn.Module, input_shape: Sequence[int]) -> int:
    """The receptive field of ``model``'s centre output pixel, measured: the height of the box
    around the non-zero part of ``receptive_field_map``.

    Pick an input larger than the field, or the image border cuts it short. A dilated stack may
    leave holes inside the box; the box is what ``receptive_field`` computes.

    >>> measured_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (1, 1, 15, 15))
    5
    """
    rows = receptive_field_map(model, input_shape).sum(1).nonzero()
    return int(rows.max() - rows.min() + 1)


# ---------------------------------------------------------------------------
# Running a model: traces and checks
# ---------------------------------------------------------------------------

@contextmanager
def _dummy_run(model: nn.Module, input_shape: Sequence[int]) -> Iterator[torch.Tensor]:
    """A random input of ``input_shape`` on the model's device, in ``eval_mode``, without gradients."""
    if not (isinstance(input_shape, (tuple, list))
            and all(_is_int(n) and n >= 1 for n in input_shape)):
        raise ValueError(f"input_shape={input_shape!r}: give the shape of one batch as positive "
                         "ints, e.g. (1, 3, 32, 32) for one 3-channel 32x32 image (batch first).")
    weight = next(iter(model.parameters()), None)
    device = weight.device if weight is not None else torch.device("cpu")
    dtype = weight.dtype if weight is not None and weight.is_floating_point() else torch.float32
    x = torch.randn(*input_shape, device=device, dtype=dtype)
    check_input(model, x)  # a model that declares its image_shape says what is wrong, and the fix
    with eval_mode(model), torch.no_grad():
        yield x


def _forward(model: nn.Module, x: torch.Tensor, running: Sequence[str] = ()) -> object:
    """``model(x)``; a failure is re-raised with the input shape, where it happened, what to do."""
    try:
        return model(x)
    except Exception as err:
        where = f", in layer {running[-1]!r}" if running else ""
        raise RuntimeError(
            f"{type(model).__name__} failed on an input of shape {tuple(x.shape)}{where}. Check "
            "that the input has the channels the first Conv2d expects (its in_channels), that "
            "each layer's in_channels equals the previous out_channels, and that the first "
            "Linear's in_features equals channels x height x width of what reaches it. "
            f"PyTorch said: {err}") from err


def _modules_at_depth(model: nn.Module, depth: int) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) at ``depth`` below ``model``, or where a branch ends earlier."""
    if depth < 1:
        raise ValueError(f"depth={depth}: depth must be at least 1 (1: the model's children).")
    found: list[tuple[str, nn.Module]] = []

    def walk(module: nn.Module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            if level == depth or not any(True for _ in child.children()):
                found.append((prefix + name, child))
            else:
                walk(child, f"{prefix}{name}.", level + 1)

    walk(model, "", 1)
    return found or [(type(model).__name__, model)]  # a single layer: trace the layer itself


def trace_shapes(model: nn.Module, input_shape: Sequence[int], depth: int = 1, *,
                 verbose: bool = True) -> list[tuple[str, tuple[int, ...]]]:
    """Run one dummy batch of ``input_shape`` through ``model``; record each layer's output shape.

    ``depth=1`` records the model's direct children, ``depth=2`` their children, and so on (a
    layer without children is recorded where its branch ends). Forward hooks do the recording,
    so rows come in the order ``forward`` calls the layers: a layer called twice gives two rows,
    an unused one none. With ``verbose`` it prints one line per row, like d2l's loop does.
    The model runs in eval mode without gradients, and gets its modes back afterwards.

    Example: ``trace_shapes(nn.Sequential(nn.Conv2d(1, 6, 5), nn.Flatten()), (1, 1, 28, 28))``
    prints ``Conv2d output shape:\\t torch.Size([1, 6, 24, 24])``, then the Flatten's line.
    """
    rows: list[tuple[str, tuple[int, ...]]] = []
    running: list[str] = []  # layers that started and have not finished: where an error happened

    def record(name: str, module: nn.Module, output: object) -> None:
        running.pop()
        while isinstance(output, (tuple, list)) and output:  # e.g. (output, state): the first
            output = output[0]
        if isinstance(output, torch.Tensor):
            rows.append((name, tuple(output.shape)))
            if verbose:
                print(f"{type(module).__name__} output shape:\t {output.shape}")

    handles, hooked = [], set()
    for name, module in _modules_at_depth(model, depth):
        if id(module) in hooked:  # a layer shared by two parents: record it once per call
            continue
        hooked.add(id(module))
        handles.append(module.register_forward_pre_hook(
            lambda m, args, name=name: running.append(name)))
        handles.append(module.register_forward_hook(
            lambda m, args, output, name=name: record(name, m, output)))
    try:
        with _dummy_run(model, input_shape) as x:
            _forward(model, x, running)
    finally:  # hooks left behind would go on recording, and printing, in every later forward
        for handle in handles:
            handle.remove()
    return rows


class ShapeError(AssertionError):
    """A module's output shape is not the expected one. An AssertionError, so pytest and
    ``assert``-style checks treat it as a failed check; the message says what to look at."""


def check_output_shape(module: nn.Module, input_shape: Sequence[int],
                       expected: Sequence[int | None]) -> tuple[int, ...]:
    """Run a dummy batch of ``input_shape`` through ``module``; return the output shape if it is
    ``expected``, else raise ``ShapeError`` saying which dimension differs and the likely cause.

    A ``-1`` or ``None`` in ``expected`` matches any size (handy for the batch dimension).
    The module runs in eval mode without gradients, and gets its modes back afterwards.

    Example: ``check_output_shape(nn.Conv2d(3, 64, 3, padding=1), (8, 3, 32, 32),
    (-1, 64, 32, 32))`` returns ``(8, 64, 32, 32)``.
    """
    _check_expected(expected)
    with _dummy_run(module, input_shape) as x:
        output = _forward(module, x)
    if not isinstance(output, torch.Tensor):
        raise ShapeError(f"{type(module).__name__} returned a {type(output).__name__}, "
                         "not a tensor.")
    actual = tuple(output.shape)
    wanted = tuple(None if n in (-1, None) else n for n in expected)
    if len(actual) == len(wanted) and all(w is None or w == a for w, a in zip(wanted, actual)):
        return actual
    shown = "(" + ", ".join("any" if n is None else str(n) for n in wanted) + ")"
    causes = "\n".join(f"- {cause}" for cause in _diagnose(wanted, actual))
    raise ShapeError(f"{type(module).__name__} on input {tuple(input_shape)} gives output shape "
                     f"{actual}, but {shown} was expected.\n{causes}")


def _check_expected(expected: object) -> None:
    """``expected`` is a shape: a tuple (or list, or ``torch.Size``) of sizes, -1 or None for "any"."""
    example = "e.g. expected=(-1, 64, 32, 32) for any batch of 64-channel 32x32 maps"
    if not isinstance(expected, (tuple, list, torch.Size)):
        raise TypeError(f"expected={expected!r}: give the output shape you expect as a tuple of ints, "
                        f"with -1 or None where any size will do, {example}.")
    wrong = [n for n in expected if n is not None and not (_is_int(n) and n >= -1)]
    if wrong:
        raise ValueError(f"expected={tuple(expected)!r}: {wrong[0]!r} is not a size; each entry must "
                         f"be a whole number (0 or more), or -1 or None for any size, {example}.")


def _diagnose(wanted: tuple[int | None, ...], actual: tuple[int, ...]) -> list[str]:
    """The likely causes of a shape mismatch, one sentence each (for ``check_output_shape``)."""
    if len(wanted) != len(actual):
        hint = ("is an nn.Flatten() missing before the first Linear?" if len(actual) > len(wanted)
                else "is there a Flatten or a squeeze too early, or no batch dimension?")
        return [f"{len(actual)} dimensions instead of {len(wanted)}: {hint}"]
    causes = []
    if wanted[0] is not None and wanted[0] != actual[0]:
        causes.append(f"batch size {actual[0]} instead of {wanted[0]}: check input_shape's first "
                      "number (or write -1 for any batch size) and any view/reshape moving it.")
    if len(actual) >= 2 and wanted[1] is not None and wanted[1] != actual[1]:
        what, layer = (("channels", "out_channels of the last Conv2d") if len(actual) > 2
                       else ("features", "out_features of the last Linear"))
        causes.append(f"{actual[1]} {what} instead of {wanted[1]}: check the {layer}.")
    names = ["height", "width"] if len(actual) == 4 else [f"dim {i}" for i in range(2, len(actual))]
    differ = [(name, w, a) for name, w, a in zip(names, wanted[2:], actual[2:])
              if w is not None and w != a]
    if differ:
        causes.append(_spatial_cause(" and ".join(name for name, _, _ in differ),
                                     [(w, a) for _, w, a in differ]))
    return causes


def _spatial_cause(what: str, pairs: list[tuple[int, int]]) -> str:
    """Why ``what`` (e.g. "height and width") differs: a stride when the size is a factor off,
    a padding when it is a few pixels off. ``pairs`` holds the (expected, actual) sizes."""
    expected, actual = pairs[0]
    is_are = "are" if " and " in what else "is"
    factor = round(expected / actual)
    if factor >= 2 and all(a in _divided(w, factor) for w, a in pairs):
        return (f"{what} {is_are} {factor}x smaller than expected: is a stride={factor} where "
                "stride=1 was meant (or a pooling layer too many)?")
    factor = round(actual / expected)
    if factor >= 2 and all(w in _divided(a, factor) for w, a in pairs):
        return (f"{what} {is_are} {factor}x larger than expected: is a stride={factor} (or a "
                "pooling layer) missing?")
    off = expected - actual
    if off > 0 and off % 2 == 0:
        return (f"{what} {is_are} off by {off}: a kernel without padding shrinks the size by "
                f"kernel_size - 1; with kernel_size={off + 1}, padding={off // 2} keeps the size. "
                "Check the padding.")
    if off > 0:
        return (f"{what} {is_are} off by {off}, an odd number: with equal padding on both sides "
                "an even kernel_size cannot keep the size. Check the padding and kernel_size.")
    return (f"{what} {is_are} {-off} larger than expected: too much padding? Each pixel of "
            "padding adds 2 (one per side); kernel_size=k keeps the size with padding=(k-1)//2.")


def _divided(size: int, factor: int) -> tuple[int, int]:
    """``size / factor`` rounded down and up: what a stride of ``factor`` leaves of ``size``."""
    return size // factor, -(-size // factor)
