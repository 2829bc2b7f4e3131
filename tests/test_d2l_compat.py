"""Our d2l-style ResNet-18 is d2l's: same shapes, same parameters, same initialisation.

The comparisons with d2l's own code skip when d2l is not installed
(``pip install --no-deps d2l==1.0.3``); the rest run everywhere.
"""
from __future__ import annotations

import contextlib
import io
import sys

import pytest
import torch
from torch import nn

from course_utils.d2l_compat import (
    d2l_available,
    d2l_book_resnet18,
    d2l_resnet18,
    d2l_stem,
    init_like_train_ch6,
    parse_train_ch6,
)
from course_utils.models import count_parameters, resnet18

needs_d2l = pytest.mark.skipif(
    not d2l_available(),
    reason="d2l is not importable here: install it with `pip install --no-deps d2l==1.0.3` "
           "to compare with d2l's own Residual and train_ch6",
)

def test_installed_d2l_imports_without_its_pinned_dependencies():
    """Installed with --no-deps (as the README and .ci/run do), d2l.torch must import beside modern numpy."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("d2l")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("d2l is not installed: `pip install --no-deps d2l==1.0.3` (CI installs it)")
    import d2l.torch  # noqa: F401  fails loudly here, instead of as skips below
    import numpy
    assert version == "1.0.3"
    assert numpy.__version__ != "1.23.5", "d2l's pins were installed: reinstall it with --no-deps"
    assert d2l_available()


SEED_OUTPUT = "loss 0.009, train acc 0.998, test acc 0.912\n2357.6 examples/sec on cuda:0\n"


def stage_shapes(net: nn.Sequential, size: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of each top-level child for one 1 x size x size image."""
    x, shapes = torch.zeros(1, 1, size, size), []
    net.eval()
    with torch.no_grad():
        for name, child in net.named_children():
            x = child(x)
            shapes.append((name, tuple(x.shape)))
    return shapes


# --- our network, without d2l ------------------------------------------------------

def test_our_network_has_the_book_stage_shapes_for_224_and_96():
    assert [s for _, s in stage_shapes(d2l_resnet18(), 224)[:5]] == [
        (1, 64, 56, 56), (1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]
    assert [s[-1] for _, s in stage_shapes(d2l_resnet18(), 96)[:5]] == [24, 24, 12, 6, 3]
    assert stage_shapes(d2l_resnet18(), 96)[-1] == ("fc", (1, 10))


def test_our_network_has_11_178_378_parameters_3008_more_than_resnet18():
    ours = count_parameters(d2l_resnet18())
    assert ours == 11_178_378
    assert ours - count_parameters(resnet18(in_channels=1, stem="imagenet")) == 3_008


def test_the_seeds_stem_padding_2_hides_behind_the_pool_for_224_and_96_but_not_98():
    for size, same in [(224, True), (96, True), (98, False)]:
        x = torch.zeros(1, 1, size, size)
        assert (d2l_stem(padding=2)(x).shape == d2l_stem(padding=3)(x).shape) is same


def test_parse_train_ch6_reads_the_seeds_printout():
    assert parse_train_ch6(SEED_OUTPUT) == {"loss": 0.009, "train_acc": 0.998, "test_acc": 0.912,
                                            "examples_per_sec": 2357.6, "device": "cuda:0"}


def test_parse_train_ch6_says_what_it_expected_when_the_summary_is_missing():
    with pytest.raises(ValueError, match="examples/sec on DEVICE"):
        parse_train_ch6("training on cpu\n")


def test_without_d2l_building_its_network_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "d2l", None)  # makes `import d2l...` raise ImportError
    monkeypatch.setitem(sys.modules, "d2l.torch", None)
    assert not d2l_available()
    with pytest.raises(ImportError, match="--no-deps d2l==1.0.3"):
        d2l_book_resnet18()


# --- against d2l's own code ----------------------------------------------------------

@needs_d2l
@pytest.mark.parametrize("size", [224, 96])
def test_ours_and_d2ls_own_network_have_identical_stage_shapes(size):
    assert stage_shapes(d2l_resnet18(), size) == stage_shapes(d2l_book_resnet18(), size)


@needs_d2l
def test_ours_and_d2ls_own_network_have_identical_parameter_counts_name_by_name():
    ours, theirs = d2l_resnet18(), d2l_book_resnet18()
    assert count_parameters(ours) == count_parameters(theirs) == 11_178_378
    assert ({k: v.shape for k, v in ours.state_dict().items()}
            == {k: v.shape for k, v in theirs.state_dict().items()})


@needs_d2l
def test_d2ls_weights_load_into_ours_and_give_the_same_outputs():
    torch.manual_seed(0)
    ours, theirs = d2l_resnet18(), d2l_book_resnet18()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 1, 96, 96)
    for train_mode in (False, True):
        ours.train(train_mode), theirs.train(train_mode)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x))


@needs_d2l
@pytest.mark.slow  # runs d2l's training loop
@pytest.mark.filterwarnings("ignore:Attempting to set identical")  # d2l sets xlim=[1, 1] for one epoch
def test_init_like_train_ch6_gives_the_weights_train_ch6_starts_from():
    import d2l.torch as d2l

    net = d2l_resnet18()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    batches = [(torch.randn(2, 1, 32, 32), torch.tensor([0, 1])) for _ in range(5)]
    torch.manual_seed(0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # lr=0: train_ch6 initialises, then changes no weight
        d2l.train_ch6(net, batches, batches[:1], num_epochs=1, lr=0.0, device=torch.device("cpu"))
    twin = d2l_resnet18()
    twin.load_state_dict(start)
    torch.manual_seed(0)
    init_like_train_ch6(twin)
    for name, param in twin.named_parameters():
        torch.testing.assert_close(param, dict(net.named_parameters())[name], msg=name)
    assert parse_train_ch6(out.getvalue())["device"] == "cpu"
