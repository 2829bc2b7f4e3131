"""Exercises of ``02_cifar10_sequential_cnn``: the classic CIFAR-10 CNN, built, counted and read.

* ``conv_parameters``   the parameters of the third convolution, Conv2d(32, 64, 5), by hand (51,264)
* ``costliest_layer``   the layer that costs the most multiply-adds, and how many (conv2, 6,553,600),
                        by notebook 01's formula
* ``relu_sequential``   write the model with ReLUs as an ``nn.Sequential``; checked layer by
                        layer and against ``SequentialCNN(relu=True)`` with the same weights
* ``confusion_reading`` the hardest class of *your* trained model, and what it is mistaken for;
                        checked against your own predictions: ``check(answer, y_true, y_pred)``

The checks compare with what PyTorch computes and name the usual slips: a
forgotten bias or input channel, rounding 3.5 up, a missing ``nn.Flatten``,
a wrong ``in_features`` or padding, reading a column of the confusion matrix
instead of a row.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import nn

from course_utils.exercises import Code, Exercise, Result, check_number, first_problem, number_exercise, seeded
from course_utils.exercises.core import report, unfinished
from course_utils.models import SequentialCNN, count_parameters

__all__ = ["conv_parameters", "costliest_layer", "relu_sequential", "confusion_reading", "example_predictions"]

#: The class names of CIFAR-10, in label order (as ``course_utils.data.CLASSES["cifar10"]``).
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]


# --- conv_parameters ---
_C_IN, _C_OUT, _K = 32, 64, 5
_CONV3 = _C_OUT * _C_IN * _K * _K + _C_OUT  # 51,264

_CONV_MISTAKES = {
    _CONV3 - _C_OUT: "you left out the biases: a convolution has one bias per output channel, "
                     "64 here.",
    _CONV3 - _C_OUT + _C_IN: "you counted 32 biases: there is one per *output* channel (per filter), 64.",
    _C_OUT * _K * _K + _C_OUT: "you forgot the input channels: each of the 64 filters is 32 x 5 x 5, "
                               "since it looks at all 32 input channels at once.",
    _C_OUT * _K * _K: "you forgot the input channels (each filter is 32 x 5 x 5, not 5 x 5) and "
                      "the 64 biases.",
    _C_IN * _K * _K + _C_IN: "that is 32 filters of 5 x 5: the layer has 64 filters (out_channels), "
                             "each 32 x 5 x 5 deep, plus 64 biases.",
    _C_OUT * _C_IN * _K + _C_OUT: "a 5x5 kernel has 25 weights per channel, not 5: use k * k.",
    _C_OUT * _C_IN * (_K + 4) ** 2 + _C_OUT: "the padding adds no weights: it only surrounds the "
                                             "input with zeros. The kernel stays 5 x 5.",
    _CONV3 * 8 * 8: "the weights do not depend on the image size: the same 5 x 5 filters slide over "
                    "all 8 x 8 positions (that sharing is what makes a convolution cheap).",
    145_578: "that is the whole model; the question asks for the third convolution alone.",
    25_632: "that is the second convolution, Conv2d(32, 32, 5); the third has 64 output channels.",
    2_432: "that is the first convolution, Conv2d(3, 32, 5); the question asks for the third.",
}

conv_parameters = number_exercise(
    "conv_parameters",
    "The third convolution of the model is nn.Conv2d(32, 64, kernel_size=5, padding=2), with a "
    "bias (PyTorch's default). How many trainable parameters does it have? Work it out by hand.",
    _CONV3, _CONV_MISTAKES, "Conv2d(c_in, c_out, k) holds c_out filters of c_in x k x k weights, "
                            "and one bias per filter.", what="one number (an int)",
    hint="Count one filter first: it looks at every input channel through a k x k window, and "
         "it has a bias. Then ask how many filters the layer has. Padding and image size add "
         "nothing.",
    solution="answer = 64 * 32 * 5 * 5 + 64  # 51,200 weights + 64 biases = 51,264",
    praise="right: 64 filters x (32 x 5 x 5) weights + 64 biases = 51,264, whatever the image size.",
)


# --- costliest_layer ---
#: (C_in, C_out, k, output height) of each layer of CifarNet; a Linear layer is a 1x1 "convolution" on a 1x1 map.
_LAYERS = {"conv1": (3, 32, 5, 32), "conv2": (32, 32, 5, 16), "conv3": (32, 64, 5, 8),
           "linear1": (1024, 64, 1, 1), "linear2": (64, 10, 1, 1)}


def _cost(name: str, bias: bool = False) -> int:
    """Notebook 01's formula, H_out x W_out x C_in x C_out x k^2, plus one per output number for a bias."""
    c_in, c_out, k, h = _LAYERS[name]
    return h * h * c_out * (c_in * k * k + bias)


_WRONG_LAYER = {
    "conv1": "conv1 works on the largest maps (32x32) but sees only the image's 3 channels: "
             f"{_cost('conv1'):,} multiply-adds. Compare it with the next convolution.",
    "conv3": "conv3 has the most weights of the three convolutions, but slides them over 8x8 maps "
             f"only: {_cost('conv3'):,} multiply-adds. Compare it with the convolution before it.",
    "linear1": "linear1 holds the most parameters (65,600), but uses each weight once per image: "
               f"{_cost('linear1'):,} multiply-adds. A convolution reuses its weights at every position.",
    "linear2": f"linear2 is the cheapest layer of all: {_cost('linear2'):,} multiply-adds.",
}

_COST_MISTAKES = {  # right layer, wrong number
    32 * 32 * 32 * 32 * 25: "conv2 works on the 16x16 maps that the first max-pool leaves, not on 32x32.",
    8 * 8 * 32 * 32 * 25: "conv2's output is 16x16: its padding keeps the size, and the pool comes after it.",
    16 * 16 * 32 * 25: "you forgot the input channels: each filter is 32 x 5 x 5.",
    16 * 16 * 32 * 32 * 5: "a 5x5 kernel has 25 taps per channel, not 5: use k * k.",
    32 * 32 * 25: "that is the number of weights. Each is used at every one of the 16 x 16 positions.",
    32 * 32 * 25 + 32: "that is the number of parameters. Each weight is used at every one of the 16 x 16 "
                       "positions.",
    2 * _cost("conv2"): "that counts multiplications and additions separately (FLOPs): a multiply-add is the pair.",
}


def _layer_name(value: Any) -> str | None:
    """``value`` as one of CifarNet's layer names (``"Conv2"``, ``"self.conv2"``), or None."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower().removeprefix("self.")
    return name if name in _LAYERS else None


def _check_costliest_layer(answer: Any) -> str | None:
    """The costliest layer's name, then its multiply-adds (with or without the bias)."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return f'give a pair (layer name, multiply-adds), such as ("conv1", 1000), not {answer!r}.'
    name = _layer_name(answer[0])
    if name is None:
        return f"{answer[0]!r} is not a layer of CifarNet: give one of {', '.join(_LAYERS)}, as a string."
    if name != "conv2":
        return _WRONG_LAYER[name]
    right = (6_550_000, _cost("conv2", bias=True))  # 6,553,600 without the bias, or rounded to 6.55 million
    return check_number(answer[1], right, _COST_MISTAKES,
                        "conv2 is right. Its cost: H_out x W_out x C_in x C_out x k^2, with the size of "
                        "its output maps.", what="the number of multiply-adds", tolerance=0.0005)


costliest_layer = Exercise(
    "costliest_layer",
    "Which layer of CifarNet costs the most multiply-adds on one 3x32x32 image, and how many? "
    "Use notebook 01's formula, H_out x W_out x C_in x C_out x k^2 (counting the bias or not; "
    "both are accepted), with the shapes it derived. Answer with the layer's name and the "
    "number: answer = (\"conv1\", 1000).",
    _check_costliest_layer,
    hint="Work out the three convolutions: each one's output maps are the size of its input maps "
         "(padding 2 keeps it), 32, 16 and 8 pixels. A Linear layer costs in_features x out_features.",
    solution='answer = ("conv2", 16 * 16 * 32 * 32 * 5 * 5)  # 6,553,600; conv1: 2,457,600, conv3: 3,276,800',
    praise="right: conv2, 6,553,600 multiply-adds (6,561,792 with its bias), more than conv1 (3 input "
           "channels) and conv3 (8x8 maps), and a hundred times linear1, which holds more parameters "
           "than all three convolutions together.",
    mistakes=[(("conv1", _cost("conv1")), "only the image's 3 channels"), (("conv3", 0), "8x8 maps only"),
              (("linear1", 65_536), "uses each weight once"), (("conv2", 26_214_400), "16x16 maps"),
              (("conv2", 204_800), "input channels"), (("conv2", 25_632), "number of parameters"),
              (("Conv2", 1_310_720), "use k * k"), (("dense", 1), "not a layer of CifarNet"),
              ("conv2", "give a pair")],
)


# --- relu_sequential ---
_REF_PARAMS = 145_578
_CONV_CHANNELS = [32, 32, 64]  # out_channels of the convolutions, in turn
_LINEAR_FEATURES = [64, 10]    # out_features of the Linear layers


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The layers of a (possibly nested) ``nn.Sequential``, in the order they run."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _conv_step(layer: nn.Conv2d, x: torch.Tensor, seen: dict[str, int]) -> str | None:
    """Convolution number ``k``: its channels, its kernel, and a padding that keeps the size."""
    k = seen["conv"] + 1
    if k > len(_CONV_CHANNELS):
        return "there are more than three convolutions; the model has exactly three."
    if layer.in_channels != x.shape[1]:
        return (f"convolution {k} has in_channels={layer.in_channels}, but it receives "
                f"{x.shape[1]} channels (the image's 3, or the previous convolution's out_channels).")
    if layer.out_channels != _CONV_CHANNELS[k - 1]:
        return (f"convolution {k} should have {_CONV_CHANNELS[k - 1]} output channels "
                f"(32, 32, 64 in turn), not {layer.out_channels}.")
    if layer.kernel_size != (5, 5):
        return f"convolution {k} should have a 5x5 kernel, not {layer.kernel_size}."
    (h, w), y = x.shape[2:], layer(x)
    if tuple(y.shape[2:]) != (h, w):
        return (f"convolution {k} turns {h}x{w} maps into {y.shape[2]}x{y.shape[3]}: a 5x5 kernel "
                "needs padding=2 to keep the size (32 + 2*2 - 5 + 1 = 32); only the max-pools should shrink it.")
    return None


def _linear_step(layer: nn.Linear, x: torch.Tensor, seen: dict[str, int]) -> str | None:
    """Linear layer number ``k``: a flattened input, and in/out features that chain 1024 -> 64 -> 10."""
    k = seen["linear"] + 1
    if x.dim() != 2:
        return (f"the first Linear layer receives a {tuple(x.shape)} feature map: an nn.Flatten() is "
                "missing before it, to turn each (64, 4, 4) map into a vector of 1024 numbers.")
    if k > len(_LINEAR_FEATURES):
        return "there are more than two Linear layers; the model has exactly two."
    if layer.in_features != x.shape[1]:
        why = (" (64 channels x 4 x 4 after three max-pools)" if x.shape[1] == 1024 else
               " (the previous Linear layer's out_features)")
        return (f"Linear layer {k} has in_features={layer.in_features}, but it receives vectors "
                f"of {x.shape[1]} numbers{why}.")
    if layer.out_features != _LINEAR_FEATURES[k - 1]:
        return (f"Linear layer {k} should have out_features={_LINEAR_FEATURES[k - 1]} "
                f"(1024 -> 64 -> 10), not {layer.out_features}.")
    return None


def _flatten_step(layer: nn.Flatten, x: torch.Tensor, seen: dict[str, int]) -> str | None:
    """Flatten: it should receive the (64, 4, 4) maps that three max-pools leave."""
    if x.dim() == 4 and tuple(x.shape[1:]) != (64, 4, 4) and seen["pool"] < 3:
        return (f"nn.Flatten receives {tuple(x.shape[1:])} maps: each of the three convolutions is "
                "followed by an nn.MaxPool2d(2) (32 -> 16 -> 8 -> 4); "
                f"found {seen['pool']} before Flatten.")
    return None


_KINDS = {nn.Conv2d: "conv", nn.Linear: "linear", nn.Flatten: "flatten", nn.MaxPool2d: "pool"}
_LAYER_STEPS = {"conv": _conv_step, "linear": _linear_step, "flatten": _flatten_step}


def _walk(layers: list[nn.Module]) -> str | None:
    """Run a batch through ``layers`` one at a time; say where and why the shapes go wrong."""
    x = torch.randn(2, 3, 32, 32)
    seen = {"conv": 0, "linear": 0, "flatten": 0, "pool": 0, "other": 0}
    for layer in layers:
        kind = next((kind for cls, kind in _KINDS.items() if isinstance(layer, cls)), "other")
        problem = _LAYER_STEPS[kind](layer, x, seen) if kind in _LAYER_STEPS else None
        if problem:
            return problem
        x = layer(x)
        seen[kind] += 1
    if not seen["flatten"] and seen["linear"] == 0:
        return "the model needs nn.Flatten() and two Linear layers after the convolutions."
    if seen["conv"] < 3:
        return f"the model has {seen['conv']} convolution(s); it needs three (32, 32, 64 channels)."
    if seen["linear"] < 2:
        return f"the model has {seen['linear']} Linear layer(s); it needs two (1024 -> 64 -> 10)."
    if tuple(x.shape) != (2, 10):
        return f"for a batch of 2 images the output should be (2, 10) scores, not {tuple(x.shape)}."
    return None


def _relu_problem(layers: list[nn.Module]) -> str | None:
    """Which of the four places for a ReLU lacks one, or where one does harm."""
    marks = [i for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.Linear))]
    names = ["convolution 1", "convolution 2", "convolution 3", "the first Linear layer",
             "the last Linear layer"]
    after_last = layers[marks[-1] + 1:]
    if any(isinstance(layer, nn.ReLU) for layer in after_last):
        return ("there is a ReLU after the last Linear layer: the 10 outputs are scores (logits) "
                "that CrossEntropyLoss turns into probabilities; a ReLU would forbid negative "
                "scores. Leave the last layer without an activation.")
    for k, (start, end) in enumerate(zip(marks, marks[1:])):
        between = layers[start + 1:end]
        if not any(isinstance(layer, nn.ReLU) for layer in between):
            others = [type(layer).__name__ for layer in between
                      if not isinstance(layer, (nn.MaxPool2d, nn.Flatten))]
            if others:
                return (f"between {names[k]} and {names[k + 1]} there is {', '.join(others)} "
                        "instead of nn.ReLU(); use nn.ReLU(), as SequentialCNN(relu=True) does.")
            return (f"there is no ReLU between {names[k]} and {names[k + 1]}: without it the two "
                    "compose into one linear map (only the max-pool bends it). Put an nn.ReLU() "
                    f"after {names[k]}'s max-pool." if k < 3 else
                    f"there is no ReLU between {names[k]} and {names[k + 1]}: without it the two "
                    "Linear layers compose into one. Put an nn.ReLU() between them.")
    return None


@seeded(0)  # the same test batch and reference every time
@torch.no_grad()
def _check_relu_sequential(answer: Any) -> str | None:
    """An nn.Sequential whose layers, parameter count, ReLUs and outputs agree with SequentialCNN(relu=True)."""
    model = answer() if callable(answer) and not isinstance(answer, nn.Module) else answer
    if model is None:
        return "your function returned None: did you forget `return nn.Sequential(...)`?"
    if not isinstance(model, nn.Module):
        return f"give a function that returns an nn.Sequential (or the model itself), not {type(model).__name__}."
    if not isinstance(model, nn.Sequential):
        return (f"this is a {type(model).__name__}; the exercise asks for an nn.Sequential, "
                "the layers listed in the order they run.")
    model = copy.deepcopy(model).cpu()  # leave the learner's own model (and its device) alone
    layers = _leaves(model)
    return first_problem([lambda: _walk(layers), lambda: _count_problem(model),
                          lambda: _relu_problem(layers), lambda: _same_as_reference(model)])


def _count_problem(model: nn.Module) -> str | None:
    """As many parameters as the reference: no extra layer with weights."""
    n_params = count_parameters(model, trainable_only=False)
    if n_params != _REF_PARAMS:
        return (f"your model has {n_params:,} parameters, SequentialCNN {_REF_PARAMS:,}: check for "
                "extra layers with weights (only the 3 convolutions and 2 Linear layers have any).")
    return None


def _same_as_reference(model: nn.Module) -> str | None:
    """The final word: with the reference's weights, loaded by position, the same function?"""
    reference = SequentialCNN(relu=True).eval()
    ours, theirs = list(model.state_dict().values()), list(reference.state_dict().values())
    if [t.shape for t in ours] != [t.shape for t in theirs]:
        return ("the weights are not in the reference's order (conv1, conv2, conv3, linear1, "
                "linear2): list the layers in the order they run.")
    model.load_state_dict(dict(zip(model.state_dict().keys(), theirs)))
    model.eval()
    x = torch.randn(8, 3, 32, 32)
    if not torch.allclose(model(x), reference(x), atol=1e-5):
        return ("with SequentialCNN(relu=True)'s weights your model computes something else: "
                "compare your layers one by one with print(SequentialCNN(relu=True)).")
    return None


def _edited(layers: str) -> Code:
    """A known mistake: the solution's model with its ``layers`` list edited by the expression ``layers``."""
    return Code("def make_relu_cnn(make=make_relu_cnn):\n"
                f"    layers = list(make())\n    return nn.Sequential(*{layers})")


relu_sequential = Exercise(
    "relu_sequential",
    "Write `make_relu_cnn()`, returning the classic model as an nn.Sequential with a ReLU after "
    "each max-pool and after the first Linear layer (not after the last: its outputs are "
    "scores). The check runs a batch through your layers one at a time, counts the parameters "
    "(145,578, as SequentialCNN) and loads SequentialCNN(relu=True)'s weights into your model "
    "by position, to test that the two compute the same function.",
    _check_relu_sequential,
    hint="Copy the nn.Sequential above and insert nn.ReLU() layers where the question says. "
         "print(SequentialCNN(relu=True)) shows the reference, layer by layer, to compare with.",
    solution="""def make_relu_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )""",
    praise="right: same shapes, same 145,578 parameters, and with the same weights it computes "
           "exactly what SequentialCNN(relu=True) computes. (A ReLU just before a max-pool would "
           "do the same: the maximum of rectified values is the rectified maximum.)",
    answer_name="make_relu_cnn",
    mistakes=[(_edited("[m for m in layers if not isinstance(m, nn.ReLU)]"), "no ReLU between convolution 1"),
              (_edited("layers + [nn.ReLU()]"), "there is a ReLU after the last Linear layer"),
              (_edited("[m for m in layers if not isinstance(m, nn.Flatten)]"), "nn.Flatten() is missing"),
              (_edited("[nn.Tanh() if isinstance(m, nn.ReLU) else m for m in layers]"), "Tanh instead of nn.ReLU()"),
              (_edited("layers[:2] + layers[3:]"), "no ReLU between convolution 1 and convolution 2"),
              (Code("make_relu_cnn = lambda: nn.Conv2d(3, 32, 5)"), "asks for an nn.Sequential")],
)


# --- confusion_reading ---
def _class_index(name: Any, classes: Sequence[str]) -> tuple[int | None, str | None]:
    """The label of class ``name``, or None and what is wrong with it."""
    if isinstance(name, bool) or not isinstance(name, (str, int)):
        return None, f"give class names as strings, such as {classes[3]!r}, not {name!r}."
    if isinstance(name, int):
        if 0 <= name < len(classes):
            return None, (f"give the class name, not its label: classes[{name}] is "
                          f"{classes[name]!r}.")
        return None, f"{name} is not a label of these classes (0 to {len(classes) - 1})."
    lowered = [c.lower() for c in classes]
    if name.strip().lower() not in lowered:
        return None, f"{name!r} is not one of the classes: {', '.join(classes)}."
    return lowered.index(name.strip().lower()), None


def _accuracies(m: torch.Tensor) -> tuple[torch.Tensor, set[int], set[int]]:
    """Per-class accuracy (inf for a class absent from the test set), the hardest and the easiest classes."""
    n, support = len(m), m.sum(1)
    present = support > 0
    acc = torch.where(present, m.diag().float() / support.clamp(min=1).float(), torch.full((n,), float("inf")))
    hardest = {i for i in range(n) if present[i] and acc[i] == acc[present].min()}
    easiest = {i for i in range(n) if present[i] and acc[i] == acc[present].max()}
    return acc, hardest, easiest


def _hardest_problem(hard: int, m: torch.Tensor, classes: Sequence[str]) -> str | None:
    """Why class ``hard`` is not the one with the lowest accuracy: the easiest, a column read, or just not it."""
    acc, hardest_set, easiest_set = _accuracies(m)
    if hard in hardest_set:
        return None
    best = min(hardest_set)
    pct = lambda i: f"{100 * acc[i]:.1f}%"  # noqa: E731
    if m[hard].sum() == 0:
        return f"the test set holds no {classes[hard]} images, so it has no accuracy to compare."
    if hard in easiest_set:
        return (f"{classes[hard]} is the *easiest* class ({pct(hard)} right); the hardest is "
                "the one with the lowest accuracy: the smallest number on the diagonal.")
    predicted = m.sum(0).float()
    correct_share = torch.where(predicted > 0, m.diag().float() / predicted.clamp(min=1), torch.ones(len(m)))
    if correct_share[hard] == correct_share.min() and correct_share[hard] < 1:
        return (f"you read a column: of the images *predicted* as {classes[hard]}, the fewest "
                "are right. The rows are the true classes: the per-class accuracy is the "
                "diagonal entry of each row, and the smallest one belongs to "
                f"{classes[best]} ({pct(best)}).")
    return (f"{classes[hard]} gets {pct(hard)} right, but {classes[best]} only {pct(best)}: "
            "look for the smallest per-class accuracy.")


def _confused_problem(hard: int, name: Any, m: torch.Tensor, classes: Sequence[str]) -> str | None:
    """Why ``name`` is not the class that ``hard``'s images are most often mistaken for."""
    row = m[hard].clone()
    row[hard] = -1
    if row.max() <= 0:
        return None  # the hardest class has no mistakes at all: any second name will do
    confused_set = {j for j in range(len(m)) if row[j] == row.max()}
    other, problem = _class_index(name, classes)
    right_about = f"right about {classes[hard]}. "
    if problem:
        return right_about + "Second name: " + problem
    if other in confused_set:
        return None
    if other == hard:
        return (right_about + f"For the second name, skip the diagonal (the {classes[hard]} images "
                f"predicted correctly): which other column of the {classes[hard]} row holds the largest count?")
    column, top = m[:, hard].clone(), min(confused_set)
    column[hard] = -1
    if column.max() > 0 and column[other] == column.max():
        return (right_about + f"For the second name you read its column: {classes[other]} images are "
                f"the ones most often *predicted as* {classes[hard]}. The question is what "
                f"{classes[hard]} images are predicted as: read along the {classes[hard]} row "
                f"({classes[top]}, {int(row[top])} times).")
    return (right_about + f"But {classes[hard]} images were predicted as {classes[other]} "
            f"{int(m[hard, other])} times and as {classes[top]} {int(row[top])} times: find the "
            "largest count off the diagonal in its row.")


def _check_confusion_reading(answer: Any, y_true: Any, y_pred: Any, classes: Sequence[str]) -> str | None:
    """Two class names: the hardest class of these predictions, then what its images are most often taken for."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return ("give two class names as a pair: answer = (hardest class, the class it is most "
                f"often mistaken for), not {answer!r}.")
    from course_utils.viz import confusion_matrix  # matplotlib only when this check runs
    m = confusion_matrix(y_true, y_pred, len(classes))
    hard, problem = _class_index(answer[0], classes)
    if problem:
        return "first name: " + problem
    return _hardest_problem(hard, m, classes) or _confused_problem(hard, answer[1], m, classes)


def example_predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predictions of an example model, 10 test images per class.

    Cat is the hardest class (4 of 10 right), most often taken for a dog, and frog
    images are the ones most often called cats: a model to read a confusion matrix of.
    """
    matrix = [[10 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[3] = [0, 0, 1, 4, 0, 3, 2, 0, 0, 0]  # cat
    matrix[6] = [0, 0, 0, 4, 0, 0, 6, 0, 0, 0]  # frog, taken for a cat 4 times
    pairs = [(i, j) for i, row in enumerate(matrix) for j, count in enumerate(row) for _ in range(count)]
    return torch.tensor([i for i, _ in pairs]), torch.tensor([j for _, j in pairs])


def _example_context() -> dict[str, Any]:
    """What notebook 02 has defined when it asks, with the example model's predictions as ``y_true, y_pred``."""
    from course_utils import viz
    y_true, y_pred = example_predictions()
    return {"y_true": y_true, "y_pred": y_pred, "viz": viz, "CLASSES": CIFAR10_CLASSES,
            "per_class": viz.per_class_accuracy(y_true, y_pred, CIFAR10_CLASSES)}


class _ConfusionExercise(Exercise):
    """An exercise whose right answer depends on the learner's own trained model.

    ``check(answer, y_true, y_pred)`` takes the labels and predictions that
    ``course_utils.train.predict`` returned, so the same question works after
    one epoch on 512 images (smoke mode) and after 20 epochs on the full data.
    """

    def check(self, answer: Any, y_true: Any = None, y_pred: Any = None,
              classes: Sequence[str] = CIFAR10_CLASSES) -> Result:
        """Check ``answer`` against the confusion of ``y_true`` and ``y_pred`` (what ``predict`` returned)."""
        if not unfinished(answer) and (y_true is None or y_pred is None):
            return report(Result(self.name, False, "pass your model's labels and predictions too: "
                                 f"ex.{self.name}.check(answer, y_true, y_pred)."))
        bound = Exercise(self.name, self._question,
                         lambda a: _check_confusion_reading(a, y_true, y_pred, classes),
                         self._hint, self._solution, self._praise)
        return bound.check(answer)

    def check_in_context(self, answer: Any) -> Result:
        """Check ``answer`` against the predictions of the example model, ``example_predictions()``."""
        return self.check(answer, *example_predictions())


confusion_reading = _ConfusionExercise(
    "confusion_reading",
    "Read your model's confusion matrix (rows: true class, columns: predicted class). Which "
    "class does it get wrong most often (the lowest per-class accuracy), and which class does it "
    "most often mistake those images for? Answer with two class names, "
    "answer = (hardest, confused_with), such as (\"cat\", \"dog\"). "
    "Read them off the figure, or compute them from `per_class` and `viz.confusion_matrix`.",
    lambda answer: "pass y_true and y_pred too",
    hint="The per-class accuracy is the diagonal of the normalised matrix: find its smallest "
         "entry. Then stay in that row and find the largest entry off the diagonal. Ties: any of "
         "the tied classes counts.",
    solution="""hardest = min(per_class, key=per_class.get)  # the lowest per-class accuracy
matrix = viz.confusion_matrix(y_true, y_pred, len(CLASSES))  # rows: true class, columns: predicted
confused_with = max((c for c in CLASSES if c != hardest),     # the largest count off the diagonal
                    key=lambda c: matrix[CLASSES.index(hardest), CLASSES.index(c)])
answer = (hardest, confused_with)""",
    praise="right: that is the weakest class, and the largest mistake in its row.",
    context=_example_context,
    mistakes=[(("airplane", "dog"), "*easiest* class"), (("cat", "frog"), "you read its column"),
              (("cat", "cat"), "skip the diagonal"), (("cat", "bird"), "find the largest count off the diagonal"),
              ((3, "dog"), "not its label"), (("kitten", "dog"), "not one of the classes"),
              ("cat", "two class names as a pair")],
)
