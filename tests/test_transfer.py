"""course_utils.transfer: freezing a torchvision ResNet, a balanced few-shot split, the resize in front."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.transfer import STAGES, few_shot_indices, fine_tune_from, resized, trainable_parameters


def numel(params) -> int:
    return sum(p.numel() for p in params)


@pytest.fixture
def resnet() -> torchvision.models.ResNet:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def running_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k}


@pytest.mark.parametrize("first, learning", [
    ("fc", ["fc"]), ("layer4", ["layer4", "fc"]), ("layer2", ["layer2", "layer3", "layer4", "fc"]),
    ("conv1", ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]),
])
def test_exactly_the_parts_from_first_on_keep_learning(resnet, first, learning):
    expected = sum(numel(getattr(resnet, name).parameters()) for name in learning)
    fine_tune_from(resnet, first)
    assert numel(trainable_parameters(resnet)) == expected
    assert expected == {"fc": 5_130, "layer4": 8_398_858}.get(first, expected)


def test_frozen_batchnorm_keeps_its_statistics_in_training_mode_and_the_rest_adapts(resnet):
    fine_tune_from(resnet, "layer4")
    before = running_stats(resnet)
    resnet.train()
    loss = resnet(torch.randn(8, 3, 64, 64)).logsumexp(1).mean()
    loss.backward()
    after = running_stats(resnet)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("layer4.") for k in changed)
    assert all(p.grad is None for n, p in resnet.named_parameters() if not n.startswith(("layer4", "fc")))
    assert resnet.layer4[0].conv1.weight.grad is not None


def test_requires_grad_alone_lets_a_frozen_backbone_drift(resnet):
    """The pattern fine_tune_from exists for: frozen weights, but BatchNorm statistics still move."""
    resnet.requires_grad_(False)
    before = running_stats(resnet)
    resnet.train()
    resnet(torch.randn(8, 3, 64, 64))
    assert not torch.equal(before["layer1.0.bn1.running_mean"], resnet.layer1[0].bn1.running_mean)


def test_freezing_does_not_change_what_the_network_computes(resnet):
    resnet.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = resnet(x)
        fine_tune_from(resnet, "fc")
        resnet.train()  # frozen BatchNorm layers use their statistics in either mode
        got = resnet(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    assert set(resnet.state_dict()) == {k for k in torchvision.models.resnet18().state_dict()
                                        if not k.endswith("num_batches_tracked")}


def test_a_wrong_stage_or_a_model_that_is_not_a_resnet_is_refused(resnet):
    with pytest.raises(ValueError, match="first must be one of 'conv1', 'layer1'"):
        fine_tune_from(resnet, "layer5")
    with pytest.raises(ValueError, match="expects a torchvision ResNet.*Sequential has no conv1"):
        fine_tune_from(nn.Sequential(nn.Linear(2, 2)), "fc")
    assert STAGES[-1] == "fc"


def test_few_shot_indices_are_balanced_sorted_and_repeat_for_a_seed():
    labels = torch.arange(10).repeat(50)[torch.randperm(500, generator=torch.Generator().manual_seed(1))]
    picked = few_shot_indices(labels, 7, seed=3)
    assert torch.bincount(labels[picked]).tolist() == [7] * 10
    assert picked.tolist() == sorted(picked.tolist()) and len(set(picked.tolist())) == 70
    assert torch.equal(picked, few_shot_indices(labels, 7, seed=3))
    assert not torch.equal(picked, few_shot_indices(labels, 7, seed=4))
    assert set(few_shot_indices(labels, 50).tolist()) == set(range(500))


@pytest.mark.parametrize("per_class, message", [(51, "class 0 has 50 examples, fewer than per_class=51"),
                                                (0, "at least 1"), (2.5, "whole number"), (True, "whole number")])
def test_few_shot_indices_refuse_what_cannot_be_balanced(per_class, message):
    labels = torch.arange(10).repeat(50)
    with pytest.raises(ValueError, match=message):
        few_shot_indices(labels, per_class)


def test_resized_feeds_the_network_its_size_and_layer4_keeps_a_map(resnet):
    seen = {}
    resnet.layer4.register_forward_hook(lambda m, i, o: seen.update(shape=tuple(o.shape)))
    resnet(torch.randn(2, 3, 32, 32))
    assert seen["shape"] == (2, 512, 1, 1)  # CIFAR-10 as it is: one pixel per map
    out = resized(resnet, 112)(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and seen["shape"] == (2, 512, 4, 4)
    with pytest.raises(ValueError, match="at least 32"):
        resized(resnet, 16)
