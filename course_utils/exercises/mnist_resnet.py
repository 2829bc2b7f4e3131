"""Exercises of ``08_mnist_resnet``: the small MNIST residual network, its block and its checkpoint.

* ``flatten_size``      how many numbers per image reach the linear layer (375)
* ``block_parameters``  the parameters of the first residual block, biases included
* ``residual_block``    write the block, with an optional ReLU between its convolutions
* ``should_save``       when the training loop should overwrite the best checkpoint
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch
from torch import nn

from course_utils.exercises.core import Code, Exercise, seeded
from course_utils.exercises.toolkit import check_calls, first_problem, not_a_length, number_exercise, override
from course_utils.models import count_parameters

__all__ = ["flatten_size", "block_parameters", "residual_block", "should_save"]


# --- flatten_size ---
#: Typical wrong answers of ``flatten_size`` and what each one means.
_FLATTEN_MISTAKES = {
    735: "that is 15 x 7 x 7: you treated both convolutions as if they kept the size. "
         "Without padding a k x k convolution shrinks n to n - k + 1 (28 -> 24, 12 -> 10).",
    540: "that is 15 x 6 x 6: the second convolution (3x3, no padding) shrinks 12 to 10 "
         "before the pool, so the pool gives 5, not 6.",
    1500: "that is 15 x 10 x 10: you stopped before the second max-pool, which halves 10 to 5.",
    500: "that is 20 x 5 x 5: the second convolution changes the channel count from 20 to 15.",
    25: "that is 5 x 5, one channel's map: multiply by the 15 channels.",
    240: "that is 15 x 4 x 4: a 3x3 convolution without padding turns 12 into 12 - 3 + 1 = 10, not 9.",
    2880: "that is 20 x 12 x 12, the output of the first stage; follow the second stage too.",
    245: "that is 5 x 7 x 7: check both the channel count (15) and the size.",
}

flatten_size = number_exercise(
    "flatten_size",
    "The MNIST network flattens its last feature map before the linear layer. How many "
    "numbers per image does `fc` receive? Derive it from the layers (conv 1->20 5x5, "
    "max-pool 2, block, conv 20->15 3x3, max-pool 2, block), not from the code's 375.",
    375, _FLATTEN_MISTAKES, "Follow one image: 28 -conv 5x5-> 24 -pool-> 12 -conv 3x3-> ? -pool-> ?, "
                            "then multiply height, width and channels.",
    what="one number (an int)", before=not_a_length,
    hint="Neither convolution is padded: out = in - k + 1. Each max-pool 2 halves (rounding down). "
         "The residual blocks keep the shape. Then channels x height x width.",
    solution="answer = 15 * 5 * 5  # 28 -> 24 (conv 5x5) -> 12 (pool) -> 10 (conv 3x3) -> 5 (pool); "
             "15 channels: 375",
    praise="right: 28 -> 24 -> 12 -> 10 -> 5, and 15 x 5 x 5 = 375 inputs to the linear layer.",
)


# --- block_parameters ---
def _conv_params(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """The parameters of ``nn.Conv2d(c_in, c_out, k, bias=bias)``."""
    return c_out * c_in * k * k + (c_out if bias else 0)


#: The first block: conv 20 -> 30 (5x5), conv 30 -> 20 (3x3), both with biases.
_BLOCK_CONV1 = _conv_params(20, 30, 5)   # 15,030
_BLOCK_CONV2 = _conv_params(30, 20, 3)   # 5,420
_BLOCK_TOTAL = _BLOCK_CONV1 + _BLOCK_CONV2  # 20,450
_BLOCK2_TOTAL = _conv_params(15, 30, 5) + _conv_params(30, 15, 3)  # 15,345

_BLOCK_MISTAKES = {
    _BLOCK_TOTAL - 50: "you left out the biases: each convolution has one per output channel "
                       "(30 for the first, 20 for the second).",
    _BLOCK_TOTAL - 20: "you counted the first convolution's 30 biases but not the second's 20.",
    _BLOCK_TOTAL - 30: "you counted the second convolution's 20 biases but not the first's 30.",
    _BLOCK_CONV1: "that is the first convolution alone (20 x 30 x 5 x 5 + 30); add the second.",
    _BLOCK_CONV2: "that is the second convolution alone (30 x 20 x 3 x 3 + 20); add the first.",
    _conv_params(20, 30, 5, bias=False): "that is the first convolution's weights alone.",
    (20 * 30 * 5 + 30) + (30 * 20 * 3 + 20): "a 5x5 kernel has 25 weights, not 5 (and a 3x3 one 9): "
                                             "use k * k.",
    _BLOCK_TOTAL + _BLOCK2_TOTAL: "that is both blocks together; the question asks for the first "
                                  "(20 channels).",
    _BLOCK2_TOTAL: "that is the second block (15 channels); the question asks for the first (20 channels).",
    2 * _BLOCK_TOTAL: "that counts the block twice.",
}

block_parameters = number_exercise(
    "block_parameters",
    "How many trainable parameters does the first residual block have? It is "
    "Conv2d(20, 30, kernel_size=5, padding=2) then Conv2d(30, 20, kernel_size=3, padding=1), "
    "both with biases (PyTorch's default), and the skip connection `+ x`.",
    _BLOCK_TOTAL, _BLOCK_MISTAKES, "A Conv2d(c_in, c_out, k) has c_out * c_in * k * k weights and c_out "
                                   "biases; add the two convolutions (the skip connection has no parameters).",
    what="one number (an int)",
    hint="Conv2d(c_in, c_out, k) holds c_out * c_in * k * k weights plus c_out biases. "
         "Padding changes no parameter, and neither does the addition.",
    solution="answer = (30 * 20 * 5 * 5 + 30) + (20 * 30 * 3 * 3 + 20)  # 15,030 + 5,420 = 20,450",
    praise="right: 15,030 + 5,420 = 20,450; the skip connection itself costs nothing.",
)


# --- residual_block ---
@contextlib.contextmanager
def _after_every_conv(block: nn.Module, hook: Callable[[nn.Module, Any, Any], Any]) -> Iterator[None]:
    """Call ``hook(conv, input, output)`` after each convolution of ``block`` runs, inside the with block only."""
    handles = [m.register_forward_hook(hook) for m in block.modules() if isinstance(m, nn.Conv2d)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _convs_in_call_order(block: nn.Module, x: torch.Tensor) -> list[nn.Conv2d]:
    """The block's convolutions in the order its forward calls them."""
    order: list[nn.Conv2d] = []
    with _after_every_conv(block, lambda mod, inp, out: order.append(mod)):
        block(x)
    return order


def _shape_problem(block: nn.Module, x: torch.Tensor) -> str | None:
    """Why ``block`` cannot return the shape of ``x`` (even when ``out + x`` crashes), or None."""
    shapes: list[torch.Size] = []
    try:
        with _after_every_conv(block, lambda mod, inp, out: shapes.append(out.shape)), torch.no_grad():
            y_shape = block(x).shape
    except RuntimeError:
        if not shapes:
            raise
        y_shape = shapes[-1]  # the addition failed: look at what the last convolution made
    channels, size = x.shape[1], x.shape[2]
    if tuple(y_shape) == tuple(x.shape):
        return None
    if y_shape[1] != channels:
        return (f"the block turned {channels} channels into {y_shape[1]}: the second "
                "convolution must go back to `channels`, or `out + x` cannot be added.")
    return (f"the block changed the size {size}x{size} into {tuple(y_shape[2:])}: pad the "
            "convolutions so they keep it (padding 2 for 5x5, 1 for 3x3).")


@seeded(0)  # the same weights and test batches every time; the learner's RNG is untouched
def _check_residual_block(answer: Any) -> str | None:
    """The shape kept for 20 and 15 channels, then the steps on MyResBlock(20)."""
    if isinstance(answer, nn.Module) or not callable(answer):
        return (f"give the class itself (`MyResBlock`, no brackets), not {type(answer).__name__} "
                "object: the check builds its own blocks from it.")
    for channels, size in ((20, 12), (15, 5)):
        block = answer(channels)
        if not isinstance(block, nn.Module):
            return (f"{type(answer).__name__}({channels}) should build an nn.Module, "
                    f"not {type(block).__name__}.")
        problem = _shape_problem(block, torch.randn(2, channels, size, size))
        if problem:
            return problem
    x = torch.randn(2, 20, 12, 12)
    return first_problem([_layers_step, _skip_step, _between_step], answer, x)


def _layers_step(answer: Any, x: torch.Tensor) -> str | None:
    """Two convolutions, 5x5 to 30 channels then 3x3, and no other weights."""
    block = answer(20)
    convs = _convs_in_call_order(block, x)
    if len(convs) != 2:
        return f"the block should run exactly two convolutions; it ran {len(convs)}."
    first, second = convs
    if (first.kernel_size, second.kernel_size) != ((5, 5), (3, 3)):
        return (f"the kernels are {first.kernel_size[0]}x{first.kernel_size[0]} then "
                f"{second.kernel_size[0]}x{second.kernel_size[0]}; the block uses 5x5 then 3x3.")
    if first.out_channels != 30:
        return f"the first convolution should have 30 output channels, not {first.out_channels}."
    n_params = count_parameters(block, trainable_only=False)
    if n_params != _BLOCK_TOTAL:
        return (f"MyResBlock(20) has {n_params:,} parameters, the block of the notebook {_BLOCK_TOTAL:,}: "
                "two convolutions with biases and nothing else with weights.")
    return None


def _skip_step(answer: Any, x: torch.Tensor) -> str | None:
    """Silence the second convolution: what is left must be relu(0 + x)."""
    block = answer(20)
    second = _convs_in_call_order(block, x)[1]
    with second.register_forward_hook(lambda mod, inp, out: torch.zeros_like(out)), torch.no_grad():
        y = block(x)
    if torch.allclose(y, torch.zeros_like(y)):
        return ("with the convolutions' output set to zero the block returned zeros: the skip "
                "connection is missing. Return relu(out + x), adding the block's input x.")
    if torch.allclose(y, x):
        return "the skip is there, but apply ReLU after the addition: relu(out + x), as in the notebook's ResBlock."
    if not torch.allclose(y, torch.relu(x)):
        return "with the convolutions silenced the block should return relu(x): add x itself, unchanged."
    return None


def _between_convs(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the first convolution outputs, and what the second receives."""
    first, second = _convs_in_call_order(block, x)
    seen: dict[str, torch.Tensor] = {}
    with (first.register_forward_hook(lambda m, i, o: seen.__setitem__("after", o.detach().clone())),
          second.register_forward_pre_hook(lambda m, i: seen.__setitem__("into", i[0].detach().clone())),
          torch.no_grad()):
        block(x)
    return seen["after"], seen["into"]


def _between_step(answer: Any, x: torch.Tensor) -> str | None:
    """Between the convolutions: nothing by default, a ReLU with inner_relu=True."""
    after, into = _between_convs(answer(20), x)
    if not torch.allclose(into, after):
        return ("without inner_relu (the default) nothing should sit between the two convolutions, "
                "as in the original block; apply the ReLU only when inner_relu=True.")
    after, into = _between_convs(answer(20, inner_relu=True), x)
    if torch.allclose(into, after):
        return ("with inner_relu=True the second convolution still receives the first one's raw "
                "output: two linear maps in a row are one linear map. Put a ReLU between them.")
    if not torch.allclose(into, torch.relu(after)):
        return "with inner_relu=True the second convolution should receive relu(first convolution's output)."
    return None


#: Known mistakes rewrite MyResBlock's forward: ``override(*_FORWARD, "return ...")``.
_FORWARD = ("MyResBlock", "forward(self, x)")

residual_block = Exercise(
    "residual_block",
    "Write `MyResBlock(channels, inner_relu=False)`: Conv2d(channels, 30, 5, padding=2), then "
    "Conv2d(30, channels, 3, padding=1), and return relu(out + x). When inner_relu=True, put a "
    "ReLU between the two convolutions. The check builds it for 20 and 15 channels, and tests "
    "the shape, the skip connection and what sits between the convolutions.",
    _check_residual_block,
    hint="__init__ makes the two layers and remembers the flag; forward runs them in turn. "
         "Keep the input x aside before the first convolution: it is added back at the end, "
         "before the last ReLU. The flag decides one thing only: what happens between the convolutions.",
    solution="""class MyResBlock(nn.Module):
    def __init__(self, channels, inner_relu=False):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 30, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(30, channels, kernel_size=3, padding=1)
        self.inner_relu = inner_relu

    def forward(self, x):
        out = self.conv1(x)
        if self.inner_relu:
            out = torch.relu(out)
        out = self.conv2(out)
        return torch.relu(out + x)

answer = MyResBlock""",
    praise="right: the shape is kept, x is added back unchanged, and inner_relu puts a "
           "nonlinearity between the convolutions.",
    answer_name="MyResBlock",
    mistakes=[(override(*_FORWARD, "return torch.relu(self.conv2(self.conv1(x)))"), "the skip connection is missing"),
              (override(*_FORWARD, "return torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)"),
               "without inner_relu"),
              (override(*_FORWARD, "return torch.relu(self.conv2(self.conv1(x)) + x)"), "Put a ReLU between them"),
              (override(*_FORWARD, "return self.conv2(self.conv1(x)) + x"), "apply ReLU after the addition"),
              (Code("MyResBlock = MyResBlock(20)"), "give the class itself")],
)


# --- should_save ---
#: (acc, best), whether to save, and what a wrong answer means.
_SAVE_CASES = [
    ((0.95, None), True, "the first epoch must save: with best=None there is nothing to beat yet."),
    ((0.0, None), True, "the first epoch must save even at 0% accuracy: test `best is None`, "
                        "not `not best` (0.0 is falsy too)."),
    ((0.97, 0.95), True, "an epoch better than the best so far (0.97 > 0.95) must be saved."),
    ((0.93, 0.95), False, "an epoch worse than the best (0.93 < 0.95) must not overwrite the "
                          "best checkpoint (and must not announce a save either)."),
    ((0.95, 0.95), False, "a tie is no improvement: keep the earlier checkpoint (use >, as fit does, not >=)."),
    ((0.5, 0.25), True, "0.5 > 0.25 should save."),
    ((0.0, 0.0), False, "best=0.0 is a real best (an epoch at 0% was saved), and 0.0 is no "
                        "improvement on it. `not best` treats 0.0 like None: test `best is None`."),
    ((0.1, 0.0), True, "0.1 beats a best of 0.0 and must be saved; 0.0 is a number to beat, "
                       "not 'no best yet'."),
]


def _check_should_save(answer: Any) -> str | None:
    """First the crash of comparing None with a number, explained; then the cases."""
    try:
        answer(0.95, None) if callable(answer) else None
    except TypeError as err:
        return (f"should_save(0.95, None) raised TypeError ({err}): None cannot be compared "
                "with a number, so deal with `best is None` before comparing.")
    return check_calls(answer, "should_save", _SAVE_CASES)


should_save = Exercise(
    "should_save",
    "Write `should_save(acc, best)`: True when this epoch's validation accuracy `acc` beats `best`, "
    "the best so far, so the training loop should overwrite the best checkpoint. Before the "
    "first epoch there is no best yet: `best` is None.",
    _check_should_save,
    hint="Two cases: nothing has been saved yet, or this epoch is strictly better. Careful with "
         "the first one: a best of 0.0 is falsy but it is a best.",
    solution="def should_save(acc, best):\n    return best is None or acc > best",
    praise="right: save on the first epoch and on every strict improvement; a worse epoch or a "
           "tie leaves the best checkpoint alone.",
    answer_name="should_save",
    mistakes=[(lambda acc, best: not best or acc > best, "best=0.0 is a real best"),
              (lambda acc, best: best is None or acc >= best, "a tie is no improvement"),
              (lambda acc, best: acc > best, "deal with `best is None`"),
              (lambda acc, best: True, "must not overwrite"),
              (lambda acc, best: None, "forget `return`")],
)
