"""course_utils.skips measures residual branches and deletes blocks, and leaves the model as it found it."""
from __future__ import annotations

import pytest
import torch

from course_utils.models import CifarResNet
from course_utils.skips import (
    Lesioned,
    removable_blocks,
    residual_blocks,
    residual_ratios,
    residual_terms,
    without_block,
)


def trained_like(shortcut: str = "zeros") -> CifarResNet:
    """A CifarResNet(20) in eval mode whose BatchNorms hold non-default running statistics."""
    torch.manual_seed(0)
    model = CifarResNet(20, shortcut=shortcut)
    with torch.no_grad():
        model.train()
        for _ in range(2):
            model(torch.randn(8, 3, 32, 32))
    return model.eval()


def test_the_blocks_are_named_in_order_and_plain_blocks_that_change_shape_cannot_be_removed():
    assert residual_blocks(CifarResNet(20)) == [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(3)]
    assert removable_blocks(CifarResNet(20)) == residual_blocks(CifarResNet(20))
    plain = removable_blocks(CifarResNet(20, shortcut="none"))
    assert len(plain) == 7 and "layer2.0" not in plain and "layer3.0" not in plain


def test_the_terms_add_up_to_what_the_block_outputs():
    model, x = trained_like(), torch.randn(4, 3, 32, 32)
    seen = {}
    model.layer2[0].register_forward_hook(lambda m, i, out: seen.setdefault("out", out.clone()))
    branch, shortcut = residual_terms(model, x)["layer2.0"]
    assert torch.allclose(torch.relu(branch + shortcut), seen["out"], atol=1e-6)


def test_the_ratio_is_exactly_zero_when_a_blocks_bn2_weight_is_zeroed():
    model = trained_like()
    with torch.no_grad():
        model.layer1[1].bn2.weight.zero_()
        model.layer1[1].bn2.bias.zero_()
    ratios = residual_ratios(model, torch.randn(4, 3, 32, 32))
    assert ratios["layer1.1"] == 0.0
    assert all(r > 0 for name, r in ratios.items() if name != "layer1.1")


def test_the_ratio_is_norm_of_branch_over_norm_of_shortcut_per_image():
    model, x = trained_like(), torch.randn(3, 3, 32, 32)
    branch, shortcut = residual_terms(model, x)["layer3.2"]
    expected = sum(branch[i].norm() / shortcut[i].norm() for i in range(3)) / 3
    assert residual_ratios(model, x)["layer3.2"] == pytest.approx(expected.item(), rel=1e-5)


def test_plain_blocks_have_no_ratio():
    assert residual_ratios(trained_like("none"), torch.randn(2, 3, 32, 32)) == {}


def test_measuring_leaves_the_model_in_training_mode_and_its_statistics_untouched():
    model = trained_like().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    residual_ratios(model, torch.randn(4, 3, 32, 32))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", ["layer1.1", "layer2.0", "layer3.2"])
def test_deleting_a_block_whose_branch_is_zero_leaves_the_output_unchanged(name):
    model, x = trained_like(), torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        model.get_submodule(name).bn2.weight.zero_()
        model.get_submodule(name).bn2.bias.zero_()
        intact = model(x)
        with without_block(model, name):
            lesioned = model(x)
    assert torch.allclose(intact, lesioned, atol=1e-6)


def test_deleting_a_trained_block_changes_the_output_and_the_model_is_restored_afterwards():
    model, x = trained_like(), torch.randn(4, 3, 32, 32)
    block = model.layer2[1]
    with torch.no_grad():
        intact = model(x)
        with without_block(model, "layer2.1") as same:
            assert same is model and isinstance(model.layer2[1], Lesioned)
            assert not torch.allclose(model(x), intact)
        assert model.layer2[1] is block and torch.equal(model(x), intact)


def test_the_model_is_restored_even_when_the_body_fails():
    model = trained_like()
    block = model.layer1[0]
    with pytest.raises(RuntimeError, match="inside"):
        with without_block(model, "layer1.0"):
            raise RuntimeError("inside")
    assert model.layer1[0] is block


def test_a_deleted_plain_block_becomes_the_identity():
    model, x = trained_like("none"), torch.rand(2, 16, 32, 32)
    with torch.no_grad(), without_block(model, "layer1.2"):
        assert torch.equal(model.layer1[2](x), x)


def test_a_plain_block_that_changes_the_shape_cannot_be_deleted_and_the_error_lists_those_that_can():
    model = trained_like("none")
    with pytest.raises(ValueError, match="layer2.1"):
        with without_block(model, "layer2.0"):
            pass
    assert type(model.layer2[0]).__name__ == "ResidualBlock"
