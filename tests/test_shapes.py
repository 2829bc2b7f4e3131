"""course_utils.shapes, tested against PyTorch itself: the real layer is the ground truth."""
from __future__ import annotations

import contextlib
import functools
import io
import itertools
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from course_utils.shapes import (
    ShapeError,
    check_output_shape,
    conv2d_output_size,
    conv_mult_adds,
    measured_receptive_field,
    pool2d_output_size,
    receptive_field,
    receptive_field_map,
    solve_padding,
    trace_shapes,
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Thousands of tiny layers: waking up threads for each costs more than the work itself."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- ground truth ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)  # the same settings give the same answer: build each once
def real_conv(size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int] | None:
    """(height, width) that a real nn.Conv2d outputs, or None when PyTorch refuses the settings."""
    h, w = (size, size) if isinstance(size, int) else size
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # "same" with an even kernel warns about a copy
            conv = nn.Conv2d(1, 1, kernel_size, stride=stride, padding=padding,
                             dilation=dilation, bias=False)
            return tuple(conv(torch.zeros(1, 1, h, w)).shape[-2:])
    except (RuntimeError, ValueError):
        return None


def real_pool(size, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(height, width) that a real nn.MaxPool2d outputs, or None when PyTorch refuses."""
    h, w = (size, size) if isinstance(size, int) else size
    try:
        pool = nn.MaxPool2d(kernel_size, stride=stride, padding=padding, dilation=dilation,
                            ceil_mode=ceil_mode)
        return tuple(pool(torch.zeros(1, 1, h, w)).shape[-2:])
    except RuntimeError:
        return None


def as_pair(result) -> tuple[int, int]:
    return (result, result) if isinstance(result, int) else result


def agrees_with(real, ours, **kwargs) -> None:
    """Ours equals the real layer, and raises ValueError exactly where PyTorch refuses."""
    expected = real(**kwargs)
    if expected is None:
        with pytest.raises(ValueError):
            ours(**kwargs)
    else:
        assert as_pair(ours(**kwargs)) == expected, kwargs


# --- conv2d_output_size ---------------------------------------------------------

def test_conv2d_output_size_agrees_with_nn_conv2d_on_a_grid_and_raises_where_pytorch_does():
    refused = 0
    for size, k, s, p, d in itertools.product([1, 2, 3, 5, 8, 13], [1, 2, 3, 4, 5, 7], [1, 2, 3],
                                              [0, 1, 2, 3, "same", "valid"], [1, 2, 3]):
        if p == "same" and s > 1:
            continue  # nn.Conv2d refuses it when built: its own test below
        kwargs = dict(size=size, kernel_size=k, stride=s, padding=p, dilation=d)
        refused += real_conv(**kwargs) is None
        agrees_with(real_conv, conv2d_output_size, **kwargs)
    assert refused > 50  # the grid reaches the "kernel larger than the padded input" cases too


def test_conv2d_output_size_agrees_with_nn_conv2d_for_height_width_pairs():
    for size, k, s, p, d in itertools.product(
            [(5, 9), (8, 8), (3, 13)], [3, (1, 3), (5, 2)], [1, (1, 2), (3, 1)],
            [0, (0, 2), (2, 1), "valid", "same"], [1, (2, 1)]):
        if p == "same" and s != 1:
            continue
        agrees_with(real_conv, conv2d_output_size, size=size, kernel_size=k, stride=s,
                    padding=p, dilation=d)


@settings(max_examples=100, deadline=None)
@given(size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       kernel_size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       padding=st.one_of(st.tuples(st.integers(0, 4), st.integers(0, 4)), st.just("valid")),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_conv2d_output_size_agrees_with_nn_conv2d_on_random_settings(size, kernel_size, stride,
                                                                      padding, dilation):
    agrees_with(real_conv, conv2d_output_size, size=size, kernel_size=kernel_size, stride=stride,
                padding=padding, dilation=dilation)


@settings(max_examples=50, deadline=None)
@given(size=st.integers(1, 40), kernel_size=st.integers(1, 9), dilation=st.integers(1, 3))
def test_conv2d_output_size_same_padding_keeps_the_size_like_nn_conv2d(size, kernel_size,
                                                                       dilation):
    assert conv2d_output_size(size, kernel_size, padding="same", dilation=dilation) == size
    assert real_conv(size, kernel_size, padding="same", dilation=dilation) == (size, size)


def test_conv2d_output_size_returns_an_int_for_an_int_size_and_a_pair_for_a_pair():
    assert conv2d_output_size(32, 3, padding=1) == 32
    assert isinstance(conv2d_output_size(32, 3), int)
    assert conv2d_output_size((5, 5), 3, stride=2, padding=1) == (3, 3)
    assert conv2d_output_size(32, (3, 3), stride=(2, 2)) == 15  # symmetric pairs keep the int
    assert conv2d_output_size((32, 16), 3, padding="same") == (32, 16)
    assert conv2d_output_size(224, 7, stride=2, padding=3) == 112  # ResNet's first layer


def test_conv2d_output_size_int_size_with_uneven_settings_asks_for_a_pair():
    with pytest.raises(ValueError, match=r"kernel_size=\(3, 5\).*size=\(32, 32\)"):
        conv2d_output_size(32, (3, 5))
    assert conv2d_output_size((32, 32), (3, 5)) == (30, 28)


def test_conv2d_output_size_same_padding_with_a_stride_raises_like_nn_conv2d():
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding='same' needs stride=1, got stride=2"):
        conv2d_output_size(32, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"stride=\(1, 2\)"):
        conv2d_output_size((32, 32), 3, stride=(1, 2), padding="same")


@pytest.mark.parametrize("kwargs, argument, reason", [
    (dict(size=0, kernel_size=3), "size=0", "at least 1"),
    (dict(size=(8, 0), kernel_size=3), "size=(8, 0)", "at least 1"),
    (dict(size=0, kernel_size=3, padding="same"), "size=0", "at least 1"),
    (dict(size=-5, kernel_size=3, padding="same"), "size=-5", "at least 1"),
    (dict(size=(8, 0), kernel_size=3, padding="same"), "size=(8, 0)", "at least 1"),
    (dict(size=8, kernel_size=0), "kernel_size=0", "at least 1"),
    (dict(size=8, kernel_size=3, stride=0), "stride=0", "at least 1"),
    (dict(size=8, kernel_size=3, dilation=0), "dilation=0", "at least 1"),
    (dict(size=8, kernel_size=3, padding=-1), "padding=-1", "at least 0"),
    (dict(size=8, kernel_size=3, padding="Same"), "padding='Same'", "'same' and 'valid'"),
    (dict(size=5, kernel_size=7), "kernel_size=7 with dilation=1 spans 7 pixels",
     "padded input is only 5 pixels wide: the output would have 0 pixels"),
    (dict(size=5, kernel_size=3, dilation=3), "kernel_size=3 with dilation=3 spans 7 pixels",
     "more padding"),
])
def test_conv2d_output_size_errors_name_the_argument_and_the_reason(kwargs, argument, reason):
    assert real_conv(**kwargs) is None  # PyTorch refuses these too
    with pytest.raises(ValueError) as err:
        conv2d_output_size(**kwargs)
    assert argument in str(err.value) and reason in str(err.value)


def test_conv2d_output_size_rejects_non_integers_with_a_type_error():
    with pytest.raises(TypeError, match=r"kernel_size=3.0.*int or a pair of ints"):
        conv2d_output_size(32, 3.0)
    with pytest.raises(TypeError, match="stride=True"):
        conv2d_output_size(32, 3, stride=True)


# --- pool2d_output_size ---------------------------------------------------------

def test_pool2d_output_size_agrees_with_nn_maxpool2d_on_a_grid_including_ceil_mode():
    refused = 0
    for size, k, s, p, d, ceil in itertools.product([1, 2, 3, 4, 5, 7, 8, 13], [1, 2, 3, 4, 5],
                                                    [None, 1, 2, 3], [0, 1, 2], [1, 2],
                                                    [False, True]):
        kwargs = dict(size=size, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        refused += real_pool(**kwargs) is None
        agrees_with(real_pool, pool2d_output_size, **kwargs)
    assert refused > 100  # too much padding, too small an input


def test_pool2d_output_size_agrees_with_nn_maxpool2d_for_height_width_pairs():
    for size, k, s, p, ceil in itertools.product([(7, 12), (5, 5)], [2, (3, 2)], [None, (2, 1)],
                                                 [0, (1, 0)], [False, True]):
        agrees_with(real_pool, pool2d_output_size, size=size, kernel_size=k, stride=s,
                    padding=p, ceil_mode=ceil)


def test_pool2d_output_size_stride_defaults_to_kernel_size_and_ceil_mode_keeps_last_window():
    assert pool2d_output_size(32, 2) == 16
    assert pool2d_output_size(7, 2) == 3 and pool2d_output_size(7, 2, ceil_mode=True) == 4
    assert pool2d_output_size(112, 3, stride=2, padding=1) == 56  # ResNet's stem max-pool
    # ceil_mode rounds (5 + 2 - 2) / 2 up to 3 (+ 1 = 4), but the 4th window would start at
    # position 6, in the right padding: PyTorch drops it, and so do we
    assert pool2d_output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert real_pool(5, 2, stride=2, padding=1, ceil_mode=True) == (3, 3)


def test_pool2d_output_size_rejects_padding_over_half_the_kernel_naming_both():
    assert real_pool(8, 3, padding=2) is None
    with pytest.raises(ValueError, match=r"padding=2 is too large for kernel_size=3.*// 2"):
        pool2d_output_size(8, 3, padding=2)


def test_pool2d_output_size_errors_name_the_argument():
    with pytest.raises(ValueError, match="stride=0"):
        pool2d_output_size(8, 2, stride=0)
    with pytest.raises(ValueError, match="kernel_size=5 with dilation=1 spans 5 pixels"):
        pool2d_output_size(2, 5, stride=1)


# --- solve_padding --------------------------------------------------------------

def test_solve_padding_derives_the_cifar10_layers_padding_2_for_5x5_kernels():
    padding = solve_padding(32, 32, 5)
    assert padding == 2
    conv = nn.Conv2d(3, 32, kernel_size=5, padding=padding)
    assert conv(torch.zeros(1, 3, 32, 32)).shape == (1, 32, 32, 32)


def test_solve_padding_returns_the_smallest_padding_that_a_real_conv2d_confirms():
    solved = 0
    for n, out, k, s, d in itertools.product([7, 16, 32], [4, 8, 16, 32], [1, 2, 3, 5], [1, 2],
                                             [1, 2]):
        try:
            p = solve_padding(n, out, k, stride=s, dilation=d)
        except ValueError:  # then no padding below the kernel's span gives out_size
            assert all(real_conv(n, k, s, p, d) != (out, out) for p in range(d * (k - 1) + 1))
            continue
        solved += 1
        assert real_conv(n, k, s, p, d) == (out, out)
        assert all(real_conv(n, k, s, smaller, d) != (out, out) for smaller in range(p))
    assert solved > 20


def test_solve_padding_explains_when_shrinking_needs_a_stride():
    with pytest.raises(ValueError, match=r"No padding turns 32 into 16.*stride=2 with padding=1"):
        solve_padding(32, 16, 3)
    assert real_conv(32, 3, stride=2, padding=1) == (16, 16)


def test_solve_padding_refuses_paddings_whose_windows_see_only_zeros_and_suggests_a_stride():
    # padding=17 would give 32 -> 32 with stride 2, but then windows lie entirely in the padding
    assert real_conv(32, 3, stride=2, padding=17) == (32, 32)
    with pytest.raises(ValueError, match=r"32 into 32.*at most 17.*stride=1 with padding=1"):
        solve_padding(32, 32, 3, stride=2)
    with pytest.raises(ValueError, match=r"32 into 64.*nn.Upsample"):
        solve_padding(32, 64, 3)


def test_solve_padding_explains_when_an_even_kernel_skips_the_size():
    with pytest.raises(ValueError, match=r"No padding turns 32 into 32.*29, 31, 33.*skips 32"):
        solve_padding(32, 32, 4)


def test_solve_padding_errors_name_the_argument():
    with pytest.raises(ValueError, match="out_size=0"):
        solve_padding(32, 0, 3)
    with pytest.raises(TypeError, match=r"kernel_size=\(3, 3\)"):
        solve_padding(32, 32, (3, 3))


# --- trace_shapes ---------------------------------------------------------------

class Residual(nn.Module):
    """d2l's residual block (section 8.6)."""

    def __init__(self, in_channels: int, channels: int, use_1x1conv: bool = False,
                 strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv3 = (nn.Conv2d(in_channels, channels, kernel_size=1, stride=strides)
                      if use_1x1conv else None)
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))


def d2l_resnet18() -> nn.Sequential:
    """d2l's ResNet-18 for 1-channel images: a stem, four stages of two blocks, a head."""
    def stage(in_channels, channels, first=False):
        return nn.Sequential(Residual(in_channels, channels, use_1x1conv=not first,
                                      strides=1 if first else 2),
                             Residual(channels, channels))

    stem = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64),
                         nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return nn.Sequential(stem, stage(64, 64, first=True), stage(64, 128), stage(128, 256),
                         stage(256, 512), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(512, 10))


@pytest.fixture(scope="module")
def resnet() -> nn.Sequential:
    torch.manual_seed(0)
    return d2l_resnet18()


@pytest.fixture(scope="module")
def traced_224(resnet) -> tuple[list, str]:
    """trace_shapes on a 224x224 image, run once (the slowest forward here): rows, printed text."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rows = trace_shapes(resnet, (1, 1, 224, 224))
    return rows, printed.getvalue()


def test_trace_shapes_gives_every_stage_of_a_d2l_resnet18(traced_224):
    rows, _ = traced_224
    assert rows == [("0", (1, 64, 56, 56)), ("1", (1, 64, 56, 56)), ("2", (1, 128, 28, 28)),
                    ("3", (1, 256, 14, 14)), ("4", (1, 512, 7, 7)), ("5", (1, 512, 1, 1)),
                    ("6", (1, 512)), ("7", (1, 10))]


def test_trace_shapes_prints_a_d2l_style_table_when_verbose(traced_224, capsys):
    lines = traced_224[1].splitlines()
    assert len(lines) == 8
    assert lines[0] == "Sequential output shape:\t torch.Size([1, 64, 56, 56])"
    assert lines[-2:] == ["Flatten output shape:\t torch.Size([1, 512])",
                          "Linear output shape:\t torch.Size([1, 10])"]
    trace_shapes(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 1, 8, 8), verbose=False)
    assert capsys.readouterr().out == ""


def test_trace_shapes_depth_2_records_the_children_with_qualified_names(resnet):
    rows = trace_shapes(resnet, (1, 1, 96, 96), depth=2, verbose=False)  # d2l's Fashion-MNIST
    assert [name for name, _ in rows] == ["0.0", "0.1", "0.2", "0.3", "1.0", "1.1", "2.0", "2.1",
                                          "3.0", "3.1", "4.0", "4.1",
                                          "5", "6", "7"]  # leaves stay at depth 1
    shapes = dict(rows)
    assert shapes["0.0"] == (1, 64, 48, 48) and shapes["0.3"] == (1, 64, 24, 24)
    assert shapes["2.0"] == (1, 128, 12, 12) and shapes["4.1"] == (1, 512, 3, 3)
    assert shapes["7"] == (1, 10)


def test_trace_shapes_follows_the_order_forward_calls_the_layers():
    class Net(nn.Module):  # defined in one order, called in another, the pool used twice
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4 * 4 * 4, 3)
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.fc(self.pool(self.pool(self.conv(x))).flatten(1))

    assert trace_shapes(Net(), (2, 1, 16, 16), verbose=False) == [
        ("conv", (2, 4, 16, 16)), ("pool", (2, 4, 8, 8)), ("pool", (2, 4, 4, 4)), ("fc", (2, 3))]


def test_trace_shapes_restores_each_modules_training_mode_and_leaves_batchnorm_alone(resnet):
    resnet.train()
    resnet[0][1].eval()  # a frozen BatchNorm inside a training model
    running_mean = resnet[0][1].running_mean.clone()
    trace_shapes(resnet, (2, 1, 64, 64), verbose=False)
    assert resnet.training and resnet[4][0].bn2.training and not resnet[0][1].training
    assert torch.equal(resnet[0][1].running_mean, running_mean)
    resnet.eval()
    trace_shapes(resnet, (1, 1, 64, 64), verbose=False)
    assert not any(m.training for m in resnet.modules())


def test_trace_shapes_removes_its_hooks(resnet):
    trace_shapes(resnet, (1, 1, 64, 64), depth=3, verbose=False)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in resnet.modules())


def test_trace_shapes_explains_a_forward_error_and_still_removes_its_hooks():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(100, 10))  # 144, not 100
    model.train()
    with pytest.raises(RuntimeError, match=r"input of shape \(1, 1, 8, 8\), in layer '2'") as err:
        trace_shapes(model, (1, 1, 8, 8), verbose=False)
    assert "in_features" in str(err.value) and "in_channels" in str(err.value)
    assert isinstance(err.value.__cause__, RuntimeError)  # PyTorch's own error, chained
    assert "mat1 and mat2" in str(err.value.__cause__)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert model.training


def test_trace_shapes_runs_on_the_models_device():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU()).to(device)
    assert trace_shapes(model, (1, 3, 32, 32), verbose=False) == [("0", (1, 8, 16, 16)),
                                                                  ("1", (1, 8, 16, 16))]


def test_trace_shapes_of_a_single_layer_traces_the_layer_itself():
    rows = trace_shapes(nn.Conv2d(1, 6, 5), (1, 1, 28, 28), verbose=False)
    assert rows == [("Conv2d", (1, 6, 24, 24))]


# --- check_output_shape ---------------------------------------------------------

def conv_bn(in_channels=3, out_channels=64, kernel_size=3, stride=1, padding=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                   padding=padding),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


def test_check_output_shape_returns_the_shape_when_it_matches_with_wildcards():
    block = conv_bn()
    block.train()
    assert check_output_shape(block, (2, 3, 32, 32), (2, 64, 32, 32)) == (2, 64, 32, 32)
    assert check_output_shape(block, (5, 3, 32, 32), (-1, 64, 32, 32)) == (5, 64, 32, 32)
    assert check_output_shape(block, (5, 3, 32, 32), torch.Size([5, 64, 32, 32])) == (5, 64, 32, 32)
    assert check_output_shape(block, (5, 3, 32, 32), (None, 64, None, None)) == (5, 64, 32, 32)
    assert block.training and all(m.training for m in block.modules())


def test_check_output_shape_blames_the_stride_when_the_size_is_a_factor_off():
    with pytest.raises(ShapeError) as err:
        check_output_shape(conv_bn(stride=2), (1, 3, 32, 32), (1, 64, 32, 32))
    message = str(err.value)
    assert "(1, 64, 32, 32)" in message and "(1, 64, 16, 16)" in message
    assert "2x smaller" in message and "stride=2" in message and "channels" not in message


def test_check_output_shape_blames_the_stride_for_odd_sizes_too():
    with pytest.raises(ShapeError, match=r"\(1, 64, 4, 4\).*\n.*2x smaller.*stride"):
        check_output_shape(conv_bn(stride=2), (1, 3, 7, 7), (1, 64, 7, 7))  # 7 -> 4: rounded up


def test_check_output_shape_blames_the_padding_when_the_size_is_a_constant_off():
    with pytest.raises(ShapeError) as err:
        check_output_shape(conv_bn(kernel_size=5, padding=0), (1, 3, 32, 32), (1, 64, 32, 32))
    message = str(err.value)
    assert "(1, 64, 32, 32)" in message and "(1, 64, 28, 28)" in message
    assert "off by 4" in message and "kernel_size=5, padding=2 keeps the size" in message
    assert "Check the padding" in message


def test_check_output_shape_blames_out_channels_when_the_channels_differ():
    with pytest.raises(ShapeError) as err:
        check_output_shape(conv_bn(out_channels=32), (1, 3, 32, 32), (1, 64, 32, 32))
    message = str(err.value)
    assert "(1, 64, 32, 32)" in message and "(1, 32, 32, 32)" in message
    assert "32 channels instead of 64" in message and "out_channels" in message
    assert "stride" not in message


def test_check_output_shape_suggests_a_flatten_when_dimensions_are_left_over():
    with pytest.raises(ShapeError, match=r"4 dimensions instead of 2.*Flatten"):
        check_output_shape(nn.AdaptiveAvgPool2d(1), (1, 512, 7, 7), (1, 512))


def test_shape_error_is_an_assertion_error():
    assert issubclass(ShapeError, AssertionError)
    with pytest.raises(AssertionError, match="4 features instead of 3.*out_features"):
        check_output_shape(nn.Linear(2, 4), (1, 2), (1, 3))


def test_eval_mode_restores_each_submodules_own_mode_even_after_an_error():
    from course_utils.models import eval_mode

    model = nn.Sequential(nn.BatchNorm2d(2), nn.Dropout(0.5))
    model[1].eval()  # frozen on purpose
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training and not model[0].training
        raise RuntimeError("the forward pass failed")
    assert model.training and model[0].training and not model[1].training


# --- cost: conv_mult_adds against torchinfo ----------------------------------------

def torchinfo_mult_adds(layer: nn.Module, input_shape: tuple[int, ...]) -> int:
    """What torchinfo measures: the "Mult-Adds" of its summary, for one forward of ``input_shape``."""
    from torchinfo import summary

    return summary(layer, input_size=input_shape, verbose=0).total_mult_adds


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, dilation, groups, bias, hw", [
    (3, 32, 5, 1, 2, 1, 1, True, (32, 32)),      # the CIFAR CNN's first convolution
    (64, 128, 3, 2, 1, 1, 1, False, (56, 56)),   # ResNet-18's halving 3x3
    (3, 64, 7, 2, 3, 1, 1, False, (224, 224)),   # ResNet's stem
    (64, 256, 1, 1, 0, 1, 1, False, (56, 56)),   # a bottleneck's 1x1
    (32, 32, 3, 1, 2, 2, 1, True, (17, 23)),     # dilated, on a map that is not square
    (64, 64, 3, 2, 1, 1, 4, True, (15, 15)),     # grouped, odd size with stride 2
    (32, 32, 3, 1, 1, 1, 32, False, (8, 8)),     # depthwise
])
def test_conv_mult_adds_agrees_with_torchinfo(c_in, c_out, k, stride, padding, dilation, groups, bias, hw):
    layer = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=bias)
    assert conv_mult_adds(layer, hw) == torchinfo_mult_adds(layer, (1, c_in, *hw))


def test_conv_mult_adds_takes_an_int_for_a_square_map_and_same_padding():
    layer = nn.Conv2d(16, 16, 5, padding="same")
    assert conv_mult_adds(layer, 10) == conv_mult_adds(layer, (10, 10)) == torchinfo_mult_adds(layer, (1, 16, 10, 10))


def test_conv_mult_adds_of_two_3x3_is_less_than_one_5x5_on_the_same_maps():
    one_5x5 = conv_mult_adds(nn.Conv2d(64, 64, 5, padding=2, bias=False), 32)
    two_3x3 = 2 * conv_mult_adds(nn.Conv2d(64, 64, 3, padding=1, bias=False), 32)
    assert two_3x3 / one_5x5 == 18 / 25


def test_conv_mult_adds_refuses_a_layer_that_is_not_a_conv2d():
    with pytest.raises(TypeError, match="nn.Conv2d, not Linear"):
        conv_mult_adds(nn.Linear(4, 4), 8)


# --- receptive field: the formula against the gradient ------------------------------

def cifar_stack() -> nn.Sequential:
    from course_utils.models import SequentialCNN

    return SequentialCNN()[:6]  # conv, pool, three times: up to Flatten


STACKS = {
    "one 3x3": (nn.Sequential(nn.Conv2d(1, 1, 3, padding=1)), 3),
    "two 3x3": (nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 3)), 5),
    "one 5x5": (nn.Sequential(nn.Conv2d(1, 1, 5, padding=2)), 5),
    "stride 2 then 3x3": (nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Conv2d(2, 2, 3)), 7),
    "dilated": (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.Conv2d(2, 2, 3, dilation=4)), 13),
    "resnet stem": (nn.Sequential(nn.Conv2d(3, 8, 7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(8, 8, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)), 27),
    "avg-pool, nested": (nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2)),
                                       nn.Sequential(nn.Conv2d(2, 2, 3, stride=2), nn.MaxPool2d(3, 1))), 16),
    "cifar cnn": (cifar_stack(), 36),
}


@pytest.mark.parametrize("name", STACKS)
def test_receptive_field_agrees_with_the_gradient_of_one_output_pixel(name):
    stack, expected = STACKS[name]
    size, _ = receptive_field(stack)
    channels = next(m for m in stack.modules() if isinstance(m, nn.Conv2d)).in_channels
    assert size == expected
    assert measured_receptive_field(stack, (1, channels, 96, 96)) == expected


def test_receptive_field_jump_multiplies_the_strides():
    assert receptive_field(cifar_stack()) == (36, 8)
    assert receptive_field([nn.Conv2d(1, 1, 3, stride=2), nn.MaxPool2d(2), nn.Conv2d(1, 1, 1, stride=3)]) == (5, 12)


def test_receptive_field_map_of_a_dilated_kernel_has_holes_inside_its_box():
    field = receptive_field_map(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 11, 11))
    rows = (field.sum(1) > 0).nonzero().flatten().tolist()
    assert rows == [3, 5, 7] and measured_receptive_field(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 11, 11)) == 5


def test_measured_receptive_field_is_cut_short_by_a_small_image():
    stack, expected = STACKS["cifar cnn"]
    assert measured_receptive_field(stack, (1, 3, 32, 32)) < expected


def test_measured_receptive_field_leaves_the_model_as_it_was():
    stack, _ = STACKS["resnet stem"]
    before = {name: t.clone() for name, t in stack.state_dict().items()}
    measured_receptive_field(stack, (1, 3, 64, 64))
    assert isinstance(stack[3], nn.MaxPool2d)
    assert all(torch.equal(before[name], t) for name, t in stack.state_dict().items())


def test_receptive_field_refuses_a_linear_layer_and_a_model_that_flattens():
    with pytest.raises(TypeError, match="Linear"):
        receptive_field([nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)])
    with pytest.raises(ValueError, match="convolutional part only"):
        measured_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 1, 8, 8))
