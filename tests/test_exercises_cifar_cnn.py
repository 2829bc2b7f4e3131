"""The exercises of 02_cifar10_sequential_cnn accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import cifar_cnn as ex
from course_utils.models import SequentialCNN, count_parameters
from course_utils.viz import per_class_accuracy

CLASSES = ex.CIFAR10_CLASSES


# --- conv_parameters -----------------------------------------------------------

def test_conv_parameters_accepts_the_count_pytorch_reports():
    real = count_parameters(nn.Conv2d(32, 64, kernel_size=5, padding=2))
    assert real == 51_264
    assert ex.conv_parameters.check(real).passed
    assert ex.conv_parameters.check(64 * 32 * 5 * 5 + 64).passed


@pytest.mark.parametrize("wrong, says", [
    (51_200, "left out the biases"),
    (51_232, "one per *output* channel"),
    (1_664, "forgot the input channels"),
    (1_600, "forgot the input channels"),
    (10_304, "k * k"),
    (165_952, "padding adds no weights"),
    (51_264 * 64, "do not depend on the image size"),
    (145_578, "whole model"),
    (25_632, "second convolution"),
])
def test_conv_parameters_diagnoses_forgotten_bias_input_channels_and_more(wrong, says):
    result = ex.conv_parameters.check(wrong)
    assert not result.passed and result.done and says in result.message, result.message


def test_conv_parameters_rejects_a_non_number_and_reports_unfinished_work():
    assert "one number" in ex.conv_parameters.check("lots").message
    assert not ex.conv_parameters.check(...).done
    assert not ex.conv_parameters.check(None).done


# --- costliest_layer ---------------------------------------------------------------

def test_costliest_layer_accepts_what_torchinfo_measures_for_the_costliest_layer():
    from torchinfo import summary

    rows = summary(SequentialCNN(), input_size=(1, 3, 32, 32), verbose=0).summary_list
    costs = {row.var_name: row.macs for row in rows if row.class_name in ("Conv2d", "Linear")}
    layer = max(costs, key=costs.get)
    assert layer == "2" and costs[layer] == 6_561_792  # SequentialCNN's layer 2 is CifarNet's conv2
    assert ex.costliest_layer.check(("conv2", costs[layer])).passed
    assert ex.costliest_layer.check(("conv2", 16 * 16 * 32 * 32 * 5 * 5)).passed
    assert ex.costliest_layer.check(["self.Conv2 ", 6.55e6]).passed


@pytest.mark.parametrize("wrong, says", [
    (("conv1", 2_457_600), "only the image's 3 channels"),
    (("conv3", 3_276_800), "8x8 maps only"),
    (("linear1", 65_536), "uses each weight once"),
    (("linear2", 640), "cheapest"),
    (("conv2", 26_214_400), "16x16 maps"),
    (("conv2", 1_638_400), "padding keeps the size"),
    (("conv2", 204_800), "forgot the input channels"),
    (("conv2", 1_310_720), "use k * k"),
    (("conv2", 25_632), "number of parameters"),
    (("conv2", 13_107_200), "FLOPs"),
    (("conv2", 7_000_000), "conv2 is right"),
    (("conv2", "many"), "the number of multiply-adds"),
    ((2, 6_553_600), "not a layer of CifarNet"),
    ("conv2", "give a pair"),
])
def test_costliest_layer_explains_wrong_layers_and_wrong_counts(wrong, says):
    result = ex.costliest_layer.check(wrong)
    assert not result.passed and result.done and says in result.message, result.message


# --- relu_sequential ----------------------------------------------------------------

def make(*, pad=2, flatten=True, in_features=1024, relus=(True, True, True, True),
         last_relu=False, relu_before_pool=False, activation=nn.ReLU, pools=3):
    """The exercise's model with one deliberate mistake (or none), as a function."""
    def build():
        layers = []
        for i, (c_in, c_out) in enumerate([(3, 32), (32, 32), (32, 64)]):
            layers.append(nn.Conv2d(c_in, c_out, 5, padding=pad))
            if relu_before_pool and relus[i]:
                layers.append(activation())
            if i < pools:
                layers.append(nn.MaxPool2d(2))
            if not relu_before_pool and relus[i]:
                layers.append(activation())
        if flatten:
            layers.append(nn.Flatten())
        layers.append(nn.Linear(in_features, 64))
        if relus[3]:
            layers.append(activation())
        layers.append(nn.Linear(64, 10))
        if last_relu:
            layers.append(nn.ReLU())
        return nn.Sequential(*layers)
    return build


def test_relu_sequential_accepts_the_solution_as_function_or_model():
    assert ex.relu_sequential.check(make()).passed
    assert ex.relu_sequential.check(make()()).passed
    assert ex.relu_sequential.check(SequentialCNN(relu=True)).passed  # the reference itself


def test_relu_sequential_accepts_a_relu_before_each_pool_since_both_orders_agree():
    assert ex.relu_sequential.check(make(relu_before_pool=True)).passed


def test_relu_sequential_accepts_nested_sequentials():
    def nested():
        block = lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, c_out, 5, padding=2),
                                                  nn.MaxPool2d(2), nn.ReLU())
        return nn.Sequential(block(3, 32), block(32, 32), block(32, 64), nn.Flatten(),
                             nn.Sequential(nn.Linear(1024, 64), nn.ReLU()), nn.Linear(64, 10))
    assert ex.relu_sequential.check(nested).passed


@pytest.mark.parametrize("build, says", [
    (make(flatten=False), "nn.Flatten() is missing"),
    (make(in_features=64 * 8 * 8), "in_features=4096"),
    (make(pad=0), "padding=2"),
    (make(pad=1), "padding=2"),
    (make(pools=2), "found 2 before Flatten"),
    (make(relus=(True, False, True, True)), "no ReLU between convolution 2 and convolution 3"),
    (make(relus=(True, True, True, False)), "two Linear layers compose into one"),
    (make(last_relu=True), "after the last Linear layer"),
    (make(activation=nn.Tanh), "Tanh instead of nn.ReLU()"),
    (make(relus=(False, False, False, False)), "no ReLU between convolution 1"),
])
def test_relu_sequential_diagnoses_each_typical_mistake(build, says):
    result = ex.relu_sequential.check(build)
    assert not result.passed and result.done and says in result.message, result.message


def test_relu_sequential_wants_an_nn_sequential_and_a_return_value():
    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = SequentialCNN(relu=True)

        def forward(self, x):
            return self.body(x)

    assert "nn.Sequential" in ex.relu_sequential.check(Named()).message

    def forgot():
        nn.Sequential(nn.Flatten())

    assert "forget `return" in ex.relu_sequential.check(forgot).message


def test_relu_sequential_stub_is_not_done_yet():
    def stub():
        raise NotImplementedError

    result = ex.relu_sequential.check(stub)
    assert not result.done and "NotImplementedError" in result.message


# --- confusion_reading ----------------------------------------------------------------

def predictions(confusion: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predictions whose confusion matrix (rows true, columns predicted) is ``confusion``."""
    y_true, y_pred = [], []
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            y_true += [i] * count
            y_pred += [j] * count
    return torch.tensor(y_true), torch.tensor(y_pred)


#: Ten classes, 10 test images each (rows: true class, columns: predicted class).
#: cat (3) is the hardest, 4 of 10 right, mostly taken for a dog (5); frogs (6) are the
#: images most often taken for cats (cat's column, not its row); truck (9) is among the
#: easiest; bird (2) has the lowest precision: of the images predicted "bird", fewest are birds.
MATRIX = [
    [8, 0, 2, 0, 0, 0, 0, 0, 0, 0],   # airplane 8/10
    [0, 10, 0, 0, 0, 0, 0, 0, 0, 0],  # automobile
    [0, 0, 8, 0, 0, 0, 0, 0, 0, 2],   # bird 8/10
    [0, 0, 1, 4, 0, 3, 2, 0, 0, 0],   # cat 4/10, mostly dog
    [0, 0, 5, 0, 5, 0, 0, 0, 0, 0],   # deer 5/10
    [0, 0, 2, 1, 0, 7, 0, 0, 0, 0],   # dog 7/10
    [0, 0, 1, 4, 0, 0, 5, 0, 0, 0],   # frog 5/10, taken for a cat 4 times
    [0, 0, 0, 0, 0, 0, 0, 10, 0, 0],  # horse
    [0, 0, 0, 0, 0, 0, 0, 0, 10, 0],  # ship
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # truck
]


def test_confusion_reading_accepts_the_hardest_class_and_its_main_confusion():
    y_true, y_pred = predictions(MATRIX)
    per_class = per_class_accuracy(y_true, y_pred, CLASSES)
    assert min(per_class, key=per_class.get) == "cat"
    assert ex.confusion_reading.check(("cat", "dog"), y_true, y_pred).passed
    assert ex.confusion_reading.check(["Cat", "dog "], y_true, y_pred).passed


def test_confusion_reading_accepts_any_of_tied_classes():
    matrix = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[1] = [0, 2, 0, 0, 0, 0, 0, 0, 4, 4]   # automobile 2/10: ship and truck tie
    matrix[7] = [0, 0, 0, 0, 4, 0, 0, 2, 0, 4]   # horse 2/10 too
    y_true, y_pred = predictions(matrix)
    for answer in [("automobile", "ship"), ("automobile", "truck"), ("horse", "deer"), ("horse", "truck")]:
        assert ex.confusion_reading.check(answer, y_true, y_pred).passed, answer


@pytest.mark.parametrize("answer, says", [
    (("truck", "dog"), "*easiest* class"),
    (("bird", "dog"), "you read a column"),
    (("airplane", "bird"), "smallest per-class accuracy"),
    (("cat", "frog"), "you read its column"),
    (("cat", "cat"), "skip the diagonal"),
    (("cat", "bird"), "largest count off the diagonal"),
    ((3, "dog"), "not its label"),
    (("kitten", "dog"), "not one of the classes"),
    ("cat", "two class names as a pair"),
])
def test_confusion_reading_explains_what_was_misread(answer, says):
    y_true, y_pred = predictions(MATRIX)
    result = ex.confusion_reading.check(answer, y_true, y_pred)
    assert not result.passed and result.done and says in result.message, result.message


def test_confusion_reading_asks_for_the_predictions_and_reports_unfinished_work():
    assert "y_true, y_pred" in ex.confusion_reading.check(("cat", "dog")).message
    y_true, y_pred = predictions(MATRIX)
    assert not ex.confusion_reading.check(..., y_true, y_pred).done
    assert not ex.confusion_reading.check(..., None, None).done
