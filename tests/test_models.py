import warnings

import pytest
import torch
import torchvision
from torch import nn

from course_utils.models import (
    Bottleneck,
    CifarResNet,
    MnistResNet,
    PreActBlock,
    ResidualBlock,
    SequentialCNN,
    ZeroPadShortcut,
    check_input,
    count_parameters,
    make_shortcut,
    resnet18,
    resnet50,
)


def test_resnet18_imagenet_stem_has_torchvisions_parameter_count():
    ours = count_parameters(resnet18(num_classes=1000, stem="imagenet"))
    theirs = sum(p.numel() for p in torchvision.models.resnet18(num_classes=1000).parameters())
    assert ours == theirs == 11_689_512


def test_resnet18_imagenet_stem_loads_torchvision_weights_key_for_key():
    ours = resnet18(num_classes=1000, stem="imagenet")
    ours.load_state_dict(torchvision.models.resnet18().state_dict())  # raises on any mismatch


def test_resnet18_stage_shapes_for_224_input():
    model = resnet18(num_classes=10, in_channels=1, stem="imagenet").eval()
    x = torch.zeros(1, 1, 224, 224)
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    shapes = []
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]


@pytest.mark.parametrize("stem,size", [("cifar", 32), ("imagenet", 224), ("imagenet", 96)])
def test_resnet18_outputs_logits_per_class(stem, size):
    assert resnet18(num_classes=7, stem=stem)(torch.zeros(2, 3, size, size)).shape == (2, 7)


def test_resnet18_cifar_stem_keeps_32x32_in_first_stage():
    model = resnet18(stem="cifar").eval()
    x = model.relu(model.bn1(model.conv1(torch.zeros(1, 3, 32, 32))))
    assert model.layer1(model.maxpool(x)).shape == (1, 64, 32, 32)


def test_resnet18_rejects_unknown_stem():
    with pytest.raises(ValueError, match="stem must be 'cifar' or 'imagenet'"):
        resnet18(stem="tiny")


def test_residual_block_identity_shortcut_when_shape_is_kept():
    block = ResidualBlock(64, 64)
    assert block.downsample is None
    assert block(torch.randn(2, 64, 8, 8)).shape == (2, 64, 8, 8)


@pytest.mark.parametrize("cin,cout,stride,out_hw", [(64, 128, 2, 4), (64, 128, 1, 8), (64, 64, 2, 4)])
def test_residual_block_projects_shortcut_only_when_shape_changes(cin, cout, stride, out_hw):
    block = ResidualBlock(cin, cout, stride)
    assert isinstance(block.downsample[0], nn.Conv2d) and block.downsample[0].kernel_size == (1, 1)
    assert block(torch.randn(2, cin, 8, 8)).shape == (2, cout, out_hw, out_hw)


def test_residual_block_with_zero_residual_branch_returns_relu_of_input():
    block = ResidualBlock(8, 8).eval()
    nn.init.zeros_(block.bn2.weight)  # F(x) = 0: the block falls back to the identity (then ReLU)
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(block(x), torch.relu(x))


def test_sequential_cnn_shapes_and_parameter_count():
    model = SequentialCNN()
    assert model(torch.zeros(4, 3, 32, 32)).shape == (4, 10)
    # conv 3*32*25+32, conv 32*32*25+32, conv 32*64*25+64, linear 1024*64+64, linear 64*10+10
    assert count_parameters(model) == 2432 + 25632 + 51264 + 65600 + 650 == 145_578
    assert not any(isinstance(m, nn.ReLU) for m in model)


def test_sequential_cnn_relu_option_inserts_activations_without_new_parameters():
    model = SequentialCNN(relu=True)
    assert sum(isinstance(m, nn.ReLU) for m in model) == 4
    assert count_parameters(model) == count_parameters(SequentialCNN())


def test_slicing_sequential_cnn_gives_the_convolutional_part_as_plain_sequential():
    features = SequentialCNN()[:7]  # three conv/pool pairs and Flatten
    assert type(features) is nn.Sequential
    assert features(torch.zeros(2, 3, 32, 32)).shape == (2, 1024)
    assert isinstance(SequentialCNN()[0], nn.Conv2d)


def test_mnist_resnet_flattens_375_features_for_any_batch_size():
    model = MnistResNet()
    assert model.fc.in_features == 375
    for n in (1, 3, 64):
        assert model(torch.zeros(n, 1, 28, 28)).shape == (n, 10)


def test_mnist_resnet_options_add_relu_and_batch_norm():
    plain, full = MnistResNet(), MnistResNet(inner_relu=True, batch_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in full.modules()) == 4
    assert sum(isinstance(m, nn.ReLU) for m in full.modules()) == 2


@pytest.mark.parametrize("depth", [20, 32, 56])
def test_cifar_resnet_depth_counts_weighted_layers(depth):
    model = CifarResNet(depth)
    convs_3x3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs_3x3) + 1 == depth  # + the final linear layer
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_cifar_resnet20_has_about_0_27_million_parameters():
    assert 0.26e6 < count_parameters(CifarResNet(20)) < 0.28e6
    # stem conv 3->16 and BN; three stages of 3 blocks (two 3x3 convs with BN each); two 1x1
    # projections with BN where the stage halves the size; linear 64->10
    conv_bn = lambda c_in, c_out: c_out * c_in * 9 + 2 * c_out  # noqa: E731  no bias, BN weight and bias
    blocks = (6 * conv_bn(16, 16)
              + conv_bn(16, 32) + 5 * conv_bn(32, 32)   # stage 2 starts from 16 channels
              + conv_bn(32, 64) + 5 * conv_bn(64, 64))  # stage 3 from 32
    projections = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert count_parameters(CifarResNet(20)) == (3 * 16 * 9 + 2 * 16) + blocks + projections + 650 == 272_474


def test_parameter_counts_match_a_count_by_hand():
    conv = lambda c_in, c_out, k: c_out * c_in * k * k + c_out  # noqa: E731  weights + biases
    mnist_block = lambda c: conv(c, 30, 5) + conv(30, c, 3)     # noqa: E731
    assert count_parameters(MnistResNet()) == (conv(1, 20, 5) + mnist_block(20) + conv(20, 15, 3)
                                               + mnist_block(15) + (375 * 10 + 10)) == 42_790
    assert count_parameters(ResidualBlock(64, 64)) == 2 * (64 * 64 * 9 + 2 * 64) == 73_984
    assert count_parameters(ResidualBlock(64, 128, stride=2)) == (
        64 * 128 * 9 + 128 * 128 * 9 + 4 * 128 + 64 * 128 + 2 * 128) == 230_144
    assert count_parameters(SequentialCNN()) == conv(3, 32, 5) + conv(32, 32, 5) + conv(32, 64, 5) \
        + (1024 * 64 + 64) + (64 * 10 + 10) == 145_578
    imagenet = count_parameters(resnet18(num_classes=10, stem="imagenet"))
    # the CIFAR stem swaps the 7x7 first convolution for a 3x3 one; nothing else has weights
    assert count_parameters(resnet18(num_classes=10, stem="cifar")) == imagenet - 64 * 3 * (49 - 9) == 11_173_962


@pytest.mark.parametrize("num_classes", [10, 100, 1000])
def test_resnet18_imagenet_stem_matches_torchvision_for_any_number_of_classes(num_classes):
    assert count_parameters(resnet18(num_classes=num_classes, stem="imagenet")) == \
        count_parameters(torchvision.models.resnet18(weights=None, num_classes=num_classes))


def test_cifar_resnet_rejects_depth_not_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(18)


# --- a wrong input gets an error that names the input and the fix ------------------------

@pytest.mark.parametrize("model, x, words", [
    (SequentialCNN(), torch.zeros(3, 32, 32), ["one image", "(3, 32, 32)", "x.unsqueeze(0)"]),
    (SequentialCNN(), torch.zeros(1, 3, 64, 64), ["32x32 images", "64x64", "Resize((32, 32))"]),
    (SequentialCNN(), torch.zeros(2, 32, 32, 3), ["3-channel", "channels-last", "x.permute(0, 3, 1, 2)"]),
    (SequentialCNN(), torch.zeros(2, 1, 32, 32), ["3-channel", "1 channels", "x.expand(-1, 3, -1, -1)"]),
    (MnistResNet(), torch.zeros(2, 3, 28, 28), ["1-channel", "Grayscale()"]),
    (MnistResNet(), torch.zeros(2, 28, 28), ["(N, 1, 28, 28)", "3-dimensional", "(2, 28, 28)"]),
    (resnet18(), torch.zeros(2, 1, 32, 32), ["ResNet takes 3-channel images", "1 channels"]),
    (CifarResNet(20), torch.zeros(2, 3, 32, 32, dtype=torch.uint8), ["float images", "torch.uint8", "/ 255"]),
    (ResidualBlock(64, 128, stride=2), torch.zeros(1, 32, 8, 8), ["ResidualBlock takes 64-channel", "32 channels"]),
])
def test_wrong_input_says_what_was_expected_and_how_to_fix_it(model, x, words):
    with pytest.raises((ValueError, TypeError)) as err:
        check_input(model, x)
    for word in words:
        assert word in str(err.value), f"{word!r} not in: {err.value}"


def test_a_list_instead_of_a_tensor_says_to_convert_it():
    with pytest.raises(TypeError, match="not a list.*ToTensor"):
        check_input(SequentialCNN(), [[0.0] * 32] * 32)


def test_a_model_that_declares_no_image_shape_is_not_checked():
    check_input(nn.Linear(4, 2), torch.zeros(3, 4))  # not images at all: its own layers decide
    check_input(MnistResNet(), torch.zeros(1, 1, 28, 28))  # the right shape passes


@pytest.mark.parametrize("x, words", [
    (torch.zeros(2, 3, 64, 64), ["32x32 images", "Resize((32, 32))"]),
    (torch.zeros(2, 32, 32, 3), ["channels-last", "x.permute(0, 3, 1, 2)"]),
])
def test_fit_evaluate_predict_and_the_shape_tools_check_the_first_batch(x, words):
    from course_utils.shapes import check_output_shape, trace_shapes
    from course_utils.train import evaluate, fit, predict
    loader = [(x, torch.zeros(len(x), dtype=torch.long))]
    calls = [lambda: fit(SequentialCNN(), loader, epochs=1, progress=False, device="cpu"),
             lambda: evaluate(SequentialCNN(), loader, device="cpu"),
             lambda: predict(SequentialCNN(), loader, device="cpu"),
             lambda: trace_shapes(SequentialCNN(), tuple(x.shape), verbose=False),
             lambda: check_output_shape(SequentialCNN(), tuple(x.shape), (-1, 10))]
    for call in calls:
        with pytest.raises(ValueError) as err:
            call()
        for word in words:
            assert word in str(err.value), f"{word!r} not in: {err.value}"


@pytest.mark.parametrize("build", [SequentialCNN, MnistResNet, resnet18, lambda: CifarResNet(20),
                                   lambda: ResidualBlock(64, 128, stride=2), lambda: Bottleneck(64, 32, 2),
                                   lambda: CifarResNet(20, shortcut="zeros", preact=True),
                                   lambda: CifarResNet(8, shortcut="none")])
def test_forwards_are_pure_so_torch_fx_can_trace_every_model(build):
    model = build().eval()
    c, h, w = model.image_shape
    x = torch.randn(2, c, h or 32, w or 32)
    traced = torch.fx.symbolic_trace(model)
    torch.testing.assert_close(traced(x), model(x))


def test_create_feature_extractor_returns_the_stage_outputs_of_resnet18():
    from torchvision.models.feature_extraction import create_feature_extractor
    stages = {f"layer{k}": f"stage{k}" for k in range(1, 5)}
    features = create_feature_extractor(resnet18(stem="imagenet").eval(), return_nodes=stages)
    out = features(torch.zeros(1, 3, 224, 224))
    assert {name: tuple(t.shape) for name, t in out.items()} == {
        "stage1": (1, 64, 56, 56), "stage2": (1, 128, 28, 28),
        "stage3": (1, 256, 14, 14), "stage4": (1, 512, 7, 7)}


def test_resnet_keeps_the_image_channels_apart_from_the_running_width():
    model = resnet18(in_channels=1)
    assert model.image_shape == (1, None, None) and model.conv1.in_channels == 1
    assert model.inplanes == 512  # torchvision's name for the width the next stage would receive
    assert not hasattr(model, "in_channels")


def test_input_check_accepts_any_size_where_the_model_allows_it():
    assert resnet18()(torch.zeros(1, 3, 40, 40)).shape == (1, 10)  # global average pooling
    assert resnet18(in_channels=1)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert SequentialCNN()(torch.zeros(2, 3, 32, 32).to(memory_format=torch.channels_last)).shape == (2, 10)


def test_input_check_stays_out_of_tensorboard_graph_tracing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace is deprecated, add_graph still uses it
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(SequentialCNN().eval(), torch.zeros(2, 3, 32, 32))
    assert traced(torch.zeros(5, 3, 32, 32)).shape == (5, 10)


def test_sequential_cnn_with_average_pools_and_no_relu_is_one_affine_map_and_max_pools_are_not():
    from course_utils.models import SequentialCNN
    torch.manual_seed(0)
    a, b, zero = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)

    def affine(f):
        with torch.no_grad():
            return torch.allclose(f(a + b), f(a) + f(b) - f(zero), atol=1e-5)

    assert affine(SequentialCNN(pool="avg"))
    assert not affine(SequentialCNN()) and not affine(SequentialCNN(relu=True))
    with pytest.raises(ValueError, match="pool must be 'max' or 'avg'"):
        SequentialCNN(pool="min")


@pytest.mark.parametrize("depth, skip, convs", [(8, False, 9), (32, True, 33)])
def test_conv_stack_has_depth_three_by_three_convolutions_and_keeps_the_shape(depth, skip, convs):
    from course_utils.models import TwoConvBlock, conv_stack
    model = conv_stack(depth, skip=skip)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs  # the stem and `depth` more
    assert all(b.skip is skip for b in model.modules() if isinstance(b, TwoConvBlock))
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_silenced_two_conv_block_passes_its_input_only_with_the_skip():
    from course_utils.models import TwoConvBlock
    x = torch.rand(2, 16, 7, 7)  # non-negative, so relu(x) == x
    for skip, expected in ((True, x), (False, torch.zeros_like(x))):
        block = TwoConvBlock(16, skip=skip).eval()
        with torch.no_grad():
            for bn in (block.bn1, block.bn2):
                bn.weight.zero_()
            assert torch.allclose(block(x), expected)


# --- the rest of the family: bottleneck, pre-activation, the shortcut options ---------------

def test_resnet50_is_torchvisions_name_for_name_and_output_for_output():
    ours, theirs = resnet50(num_classes=1000, stem="imagenet").eval(), torchvision.models.resnet50().eval()
    assert count_parameters(ours) == count_parameters(theirs) == 25_557_032
    ours.load_state_dict(theirs.state_dict())  # strict: raises on any name or shape that differs
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_bottleneck_stage_1_of_resnet50_expands_64_channels_to_256():
    stage = resnet50(stem="imagenet").layer1
    assert count_parameters(stage) == count_parameters(torchvision.models.resnet50().layer1) == 215_808
    assert stage(torch.zeros(1, 64, 56, 56)).shape == (1, 256, 56, 56)
    first, second = stage[0], stage[1]
    assert first.downsample is not None and second.downsample is None  # 64 -> 256 needs a projection once
    assert [first.conv1.out_channels, first.conv2.out_channels, first.conv3.out_channels] == [64, 64, 256]
    assert Bottleneck(256, 128, stride=2)(torch.zeros(1, 256, 56, 56)).shape == (1, 512, 28, 28)


def test_a_bottleneck_on_256_channels_costs_about_a_basic_block_on_64():
    assert count_parameters(Bottleneck(256, 64)) == 64 * 256 + 64 * 64 * 9 + 256 * 64 + 2 * (64 + 64 + 256) == 70_400
    assert abs(count_parameters(Bottleneck(256, 64)) / count_parameters(ResidualBlock(64, 64)) - 1) < 0.05


@pytest.mark.parametrize("depth, parameters", [(20, 269_722), (56, 853_018)])
def test_option_a_cifar_resnets_have_the_papers_parameter_counts_and_plain_twins_the_same(depth, parameters):
    """The paper's table 6: ResNet-20 0.27 M, ResNet-56 0.85 M; zero padding adds no parameter."""
    assert count_parameters(CifarResNet(depth, shortcut="zeros")) == parameters
    assert count_parameters(CifarResNet(depth, shortcut="none")) == parameters
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)
                   for m in CifarResNet(depth, shortcut="zeros").modules())


def test_zero_padding_keeps_every_other_pixel_and_appends_zero_channels():
    x = torch.randn(2, 16, 8, 8)
    out = ZeroPadShortcut(16, 32, stride=2)(x)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert out.shape == (2, 32, 4, 4) and not out[:, 16:].any()
    block = ResidualBlock(16, 32, stride=2, shortcut="zeros")
    assert block(torch.zeros(1, 16, 15, 15)).shape == (1, 32, 8, 8)  # odd sizes round like the convolution
    with pytest.raises(ValueError, match="only add channels.*projection"):
        ZeroPadShortcut(32, 16)
    with pytest.raises(ValueError, match="shortcut must be one of projection, zeros, none, not 'zero'"):
        make_shortcut("zero", 16, 32, 2)


def zero_last_conv(block: nn.Module) -> nn.Module:
    """``block`` in eval mode with F(x) = 0: its last convolution zeroed (the BNs start with no shift)."""
    with torch.no_grad():
        for name, module in block.named_modules():
            if name in ("conv2", "conv3"):
                module.weight.zero_()
    return block.eval()


def test_a_plain_block_adds_nothing_and_a_residual_one_adds_its_input():
    x = torch.randn(2, 16, 8, 8)
    plain, residual = (zero_last_conv(ResidualBlock(16, 16, shortcut=s)) for s in ("none", "projection"))
    assert not plain(x).any()  # F(x) = 0 and no shortcut: nothing gets through
    torch.testing.assert_close(residual(x), torch.relu(x))  # the ReLU after the + still clips x


def test_a_pre_activation_block_passes_its_input_through_untouched():
    """Nothing follows the addition: with F(x) = 0 the block is exactly the identity, negatives too."""
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(zero_last_conv(PreActBlock(16, 16))(x), x)
    stack = nn.Sequential(*[zero_last_conv(PreActBlock(16, 16)) for _ in range(10)])
    x.requires_grad_(True)
    stack(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # dx_L/dx_l = 1 + 0 through ten blocks
    post = nn.Sequential(*[zero_last_conv(ResidualBlock(16, 16)) for _ in range(10)])
    x.grad = None
    post(x).sum().backward()
    assert torch.equal(x.grad, (x > 0).float())  # the ReLU after each + stops the gradient of negatives


def test_pre_activation_cifar_resnet_ends_with_bn_and_relu():
    model = CifarResNet(20, preact=True)
    assert isinstance(model.layer1[0], PreActBlock) and isinstance(model.post[0], nn.BatchNorm2d)
    assert isinstance(model.bn1, nn.Identity)  # the first block's BN follows the stem directly
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
