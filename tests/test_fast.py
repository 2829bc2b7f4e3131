"""The fast path: the on-device loader and its augmentation (data), prepare_model (fast),
one_cycle and test-time augmentation (train)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.data import DeviceLoader, crop_and_flip, get_loaders
from course_utils.datasets import MEAN, STD
from course_utils.fast import prepare_model
from course_utils.models import MnistResNet
from course_utils.train import evaluate, fit, one_cycle

CPU = torch.device("cpu")


def make_loader(images, labels=None, **kwargs) -> DeviceLoader:
    labels = torch.arange(len(images)) if labels is None else labels
    channels = images.shape[1]
    options = dict(batch_size=4, mean=(0.5,) * channels, std=(0.25,) * channels, device=CPU)
    return DeviceLoader(images, labels, **{**options, **kwargs})


def random_images(n=10, c=3, side=8, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    """Back to pixel values 0..255 for the 0.5/0.25 normalisation of make_loader."""
    return torch.round((x * 0.25 + 0.5) * 255)


# --- what comes out ---------------------------------------------------------

def test_batches_are_normalised_float32_with_int64_labels_of_the_right_shape():
    loader = make_loader(random_images(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.dtype == torch.int64


def test_normalisation_maps_0_and_255_to_the_expected_values():
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    images[1] = 255
    x, _ = next(iter(make_loader(images)))
    assert torch.allclose(x[0], torch.full_like(x[0], (0 - 0.5) / 0.25))
    assert torch.allclose(x[1], torch.full_like(x[1], (1 - 0.5) / 0.25))


def test_normalisation_matches_torchvision_on_cifar10_files(cifar_root):
    from torchvision import transforms
    train, _ = get_loaders("cifar10", 16, on_device=True, device=CPU, augment=False, subset=16, root=cifar_root,
                            download=False, allow_partial=True)
    x, _ = next(iter(DeviceLoader(train.images, train.labels, batch_size=16, mean=MEAN["cifar10"],
                                  std=STD["cifar10"], device=CPU)))
    reference = transforms.Normalize(MEAN["cifar10"], STD["cifar10"])(train.images.float() / 255)
    assert torch.allclose(x, reference, atol=1e-5)
    assert -2.5 < x.min() < x.max() < 2.7  # what normalised CIFAR-10 pixels span


def test_channels_last_batches_are_in_channels_last_memory_format():
    x, _ = next(iter(make_loader(random_images(4), channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_dataset_len_is_the_number_of_examples_so_notebook_code_works():
    loader = make_loader(random_images(10))
    assert len(loader.dataset) == 10
    image, label = loader.dataset[3]
    assert image.dtype == torch.uint8 and int(label) == 3


def test_drop_last_drops_the_short_batch():
    assert len(make_loader(random_images(10), batch_size=4, drop_last=True)) == 2


# --- augmentation -------------------------------------------------------------

def test_crop_shifts_content_by_the_offset_and_pads_with_black():
    image = torch.full((1, 1, 6, 6), 200, dtype=torch.uint8)
    out = crop_and_flip(image, torch.tensor([[0, 4]]), torch.tensor([False]), padding=2)
    # dy=0, dx=4: the crop starts 2 rows above the image and 2 columns into it
    assert (out[0, 0, :2] == 0).all() and (out[0, 0, 2:, :4] == 200).all() and (out[0, 0, :, 4:] == 0).all()
    centred = crop_and_flip(image, torch.tensor([[2, 2]]), torch.tensor([False]), padding=2)
    assert torch.equal(centred, image)


def test_flip_mirrors_left_right():
    image = random_images(1, c=3, side=5)
    out = crop_and_flip(image, torch.tensor([[1, 1]]), torch.tensor([True]), padding=1)
    assert torch.equal(out, image.flip(-1))


def test_augmented_batches_change_images_and_keep_each_label_with_its_image():
    # Each image is one constant value (its label), so crops add black borders and
    # flips change nothing we cannot see; a second set with a bright left column shows flips.
    n = 64
    images = torch.zeros(n, 1, 8, 8, dtype=torch.uint8)
    for i in range(n):
        images[i] = 100 + i
        images[i, :, :, 0] = 255  # bright left column: flipped images have it on the right
    loader = make_loader(images, batch_size=n, shuffle=True, augment=True, crop_padding=2)
    x, y = next(iter(loader))
    pixels = unnormalise(x)
    for k in range(n):  # every non-black, non-marker pixel still says which image it came from
        values = set(pixels[k].unique().tolist()) - {0.0, 255.0}
        assert values == {100.0 + y[k].item()}
    assert not torch.equal(pixels, unnormalise(next(iter(make_loader(images, batch_size=n)))[0])[y])
    black = (pixels == 0).flatten(1).any(1)
    assert 0.5 < black.float().mean() < 1.0  # most crops are shifted (1 in 25 is centred)
    marker_right = (pixels[:, 0, :, 4:] == 255).flatten(1).any(1)
    assert 0.2 < marker_right.float().mean() < 0.8  # about half are flipped


def test_values_stay_in_the_normalised_pixel_range_after_augmentation():
    x, _ = next(iter(make_loader(random_images(32), batch_size=32, augment=True, shuffle=True)))
    assert x.min() >= (0 - 0.5) / 0.25 - 1e-6 and x.max() <= (1 - 0.5) / 0.25 + 1e-6


def test_no_flip_when_flip_is_false():
    images = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    images[:, :, :, :2] = 255  # a left band two pixels wide: never seen on the right without flips
    x, _ = next(iter(make_loader(images, batch_size=64, augment=True, flip=False, crop_padding=1)))
    assert not (unnormalise(x)[:, 0, :, 5:] == 255).any()


def test_test_loader_is_neither_augmented_nor_shuffled(mnist_root):
    _, test = get_loaders("mnist", 100, on_device=True, device=CPU, subset=200, root=mnist_root, download=False, augment=True)
    assert not test.augment and not test.shuffle
    first = torch.cat([y for _, y in test])
    assert torch.equal(first, torch.cat([y for _, y in test]))
    assert torch.equal(first, test.labels)


def test_mnist_is_not_flipped_but_fashion_mnist_and_cifar10_are(mnist_root, fashion_root, cifar_root):
    mnist, _ = get_loaders("mnist", 64, on_device=True, device=CPU, subset=64, root=mnist_root, download=False, augment=True)
    fashion, _ = get_loaders("fashion_mnist", 64, on_device=True, device=CPU, subset=64, root=fashion_root, download=False, augment=True)
    cifar, _ = get_loaders("cifar10", 64, on_device=True, device=CPU, subset=64, root=cifar_root, download=False,
                            allow_partial=True, augment=True)
    assert (mnist.flip, fashion.flip, cifar.flip) == (False, True, True)
    assert (mnist.crop_padding, cifar.crop_padding) == (3, 4)  # 1/8 of the side, as get_transforms


# --- order: seeds, epochs, ranks, resume ----------------------------------------

def labels_of_one_epoch(loader) -> torch.Tensor:
    return torch.cat([y for _, y in loader])


def test_shuffle_is_reproducible_from_the_seed_and_differs_between_epochs():
    images = random_images(50)
    a, b = make_loader(images, shuffle=True, seed=1), make_loader(images, shuffle=True, seed=1)
    first = labels_of_one_epoch(a)
    assert torch.equal(first, labels_of_one_epoch(b))
    assert not torch.equal(first, labels_of_one_epoch(a))  # the next epoch: a new order
    assert sorted(first.tolist()) == list(range(50))
    assert not torch.equal(first, labels_of_one_epoch(make_loader(images, shuffle=True, seed=2)))


def test_rank_shards_are_disjoint_and_cover_the_dataset():
    images = random_images(48)
    shards = [labels_of_one_epoch(make_loader(images, shuffle=True, rank=r, world_size=3)) for r in range(3)]
    assert all(len(s) == 16 for s in shards)
    assert sorted(torch.cat(shards).tolist()) == list(range(48))


def test_ranks_get_equal_shares_when_the_dataset_does_not_divide():
    loaders = [make_loader(random_images(10), shuffle=True, rank=r, world_size=3) for r in range(3)]
    assert [len(loader.dataset) for loader in loaders] == [4, 4, 4]
    assert set(torch.cat([labels_of_one_epoch(loader) for loader in loaders]).tolist()) == set(range(10))



def test_unpadded_test_shards_count_every_image_exactly_once():
    loaders = [make_loader(random_images(10), rank=r, world_size=3, pad=False) for r in range(3)]
    assert [len(loader.dataset) for loader in loaders] == [4, 3, 3]
    assert sorted(torch.cat([labels_of_one_epoch(loader) for loader in loaders]).tolist()) == list(range(10))


def test_fast_loaders_pad_training_shards_but_not_test_shards(monkeypatch):
    import course_utils.data as data
    images, labels = random_images(10, c=1), torch.arange(10)
    monkeypatch.setattr(data, "load_tensors", lambda *a, **k: (images, labels))
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    pairs = [get_loaders("mnist", 4, on_device=True, device="cpu", rank=r, world_size=3, augment=True) for r in range(3)]
    assert [len(train.dataset) for train, _ in pairs] == [4, 4, 4]
    test_labels = torch.cat([labels_of_one_epoch(test) for _, test in pairs])
    assert sorted(test_labels.tolist()) == list(range(10))

def test_set_epoch_changes_the_shared_order_and_repeats_it_for_the_same_epoch():
    images = random_images(40)
    loader = make_loader(images, shuffle=True, rank=0, world_size=2)
    loader.set_epoch(1)
    epoch1 = labels_of_one_epoch(loader)
    assert torch.equal(epoch1, labels_of_one_epoch(loader))  # same epoch: same order on every rank
    loader.set_epoch(2)
    assert not torch.equal(epoch1, labels_of_one_epoch(loader))


def test_generator_state_round_trip_resumes_the_same_batches():
    images = random_images(20)
    loader = make_loader(images, shuffle=True, augment=True)
    labels_of_one_epoch(loader)
    state = loader.generator.get_state()
    expected = [x for x, _ in loader]
    fresh = make_loader(images, shuffle=True, augment=True)
    fresh.generator.set_state(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, [x for x, _ in fresh]))


# --- errors -----------------------------------------------------------------------

def test_unknown_dataset_name_says_which_names_exist():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar100'.*'cifar10'"):
        get_loaders("cifar100", on_device=True, augment=True)


def test_float_images_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="uint8.*load_tensors"):
        make_loader(torch.rand(4, 3, 8, 8))


def test_channels_last_pixels_are_refused_with_the_permute_to_use():
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        make_loader(torch.zeros(4, 8, 8, 3, dtype=torch.uint8))


def test_three_dimensional_images_are_refused():
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        make_loader(torch.zeros(4, 8, 8, dtype=torch.uint8))


def test_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
        make_loader(random_images(4), batch_size=0)


def test_labels_must_match_images():
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        make_loader(random_images(4), torch.arange(3))


def test_get_loaders_fast_refuses_resize():
    with pytest.raises(ValueError, match="drop resize"):
        get_loaders("mnist", on_device=True, resize=32)


# --- model set-up, schedule, test-time augmentation ----------------------------

def test_prepare_model_on_cpu_keeps_the_default_layout_and_does_not_compile():
    model = prepare_model(nn.Conv2d(3, 4, 3), CPU)
    assert type(model) is nn.Conv2d
    assert model.weight.is_contiguous()


def test_prepare_model_channels_last_on_request():
    model = prepare_model(nn.Conv2d(3, 4, 3), CPU, channels_last=True)
    assert model.weight.is_contiguous(memory_format=torch.channels_last)


def test_prepare_model_compiles_only_when_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model: calls.append(model) or model)
    prepare_model(nn.Linear(2, 2), CPU)
    assert calls == []
    model = nn.Linear(2, 2)
    prepare_model(model, CPU, compile=True)
    assert calls == [model]


def test_prepare_model_changes_the_layout_in_place_so_the_optimizer_still_trains_it():
    model = nn.Conv2d(3, 4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    prepared = prepare_model(model, CPU, channels_last=True)
    assert prepared is model and optimizer.param_groups[0]["params"][0] is model.weight
    prepared(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    assert not torch.equal(model.weight, before)


def test_fit_fast_prepares_the_model_and_trains_as_without(monkeypatch):
    import course_utils.train as train_module

    prepared = []
    real = train_module.prepare_model
    monkeypatch.setattr(train_module, "prepare_model", lambda m, d: prepared.append(m) or real(m, d))
    runs = []
    for fast in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2))
        loader = make_loader(random_images(16, side=8), torch.randint(0, 2, (16,)), augment=False)
        runs.append(fit(model, loader, epochs=2, lr=0.01, device=CPU, progress=False, fast=fast).train_loss)
        assert prepared == ([model] if fast else [])
    assert runs[0] == runs[1]  # on a CPU, prepare_model changes nothing


def test_compiled_models_save_plain_weight_names(tmp_path):
    from course_utils.checkpoint import load_weights
    from course_utils.distributed import unwrap

    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 2))
    compiled = torch.compile(model)  # wraps it; nothing compiles until the first call
    assert unwrap(compiled) is model
    loader = make_loader(random_images(8), torch.randint(0, 2, (8,)), augment=False)
    compiled_forward = compiled.forward
    compiled.forward = model.forward  # train eagerly: compiling would take minutes on a CPU
    fit(compiled, loader, epochs=1, lr=0.01, device=CPU, progress=False, checkpoint=tmp_path / "c.pt")
    compiled.forward = compiled_forward
    plain = load_weights(nn.Sequential(nn.Flatten(), nn.Linear(192, 2)), tmp_path / "c.pt")
    assert torch.equal(plain[1].weight, model[1].weight)


def test_one_cycle_warms_up_to_max_lr_then_decays():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    scheduler = one_cycle(optimizer, 0.4, epochs=2, steps_per_epoch=10)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.4 / 25) and max(lrs) == pytest.approx(0.4)
    assert 0 < peak < 10 and lrs[-1] < lrs[0]
    assert optimizer.param_groups[0]["momentum"] == 0.9  # momentum is left alone


class MirrorInvariant(nn.Module):
    """Logits from the sum over each row (unchanged by a left-right flip)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x.sum(dim=(1, 3)))


def test_evaluate_tta_equals_evaluate_on_a_flip_invariant_model():
    torch.manual_seed(0)
    loader = make_loader(random_images(20), torch.randint(0, 3, (20,)))
    model = MirrorInvariant()
    plain, tta = evaluate(model, loader, device=CPU), evaluate(model, loader, device=CPU, tta=True)
    assert tta["n"] == plain["n"] == 20
    assert tta["accuracy"] == plain["accuracy"] and tta["loss"] == pytest.approx(plain["loss"], rel=1e-5)


def test_evaluate_tta_averages_the_logits_of_the_image_and_its_mirror():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8, 3))
    loader = make_loader(random_images(8, c=1), torch.zeros(8, dtype=torch.long), batch_size=8)
    x, y = next(iter(loader))
    expected = nn.functional.cross_entropy((model(x) + model(x.flip(-1))) / 2, y).item()
    assert evaluate(model, loader, device=CPU, tta=True)["loss"] == pytest.approx(expected, rel=1e-5)


# --- it trains --------------------------------------------------------------------

def test_get_loaders_fast_returns_device_loaders(mnist_root):
    train, test = get_loaders("mnist", 64, root=mnist_root, subset=128, download=False, on_device=True)
    assert isinstance(train, DeviceLoader) and isinstance(test, DeviceLoader)
    assert len(train.dataset) == len(test.dataset) == 128


def test_smoke_mode_caps_the_fast_loaders_like_get_loaders(mnist_root, monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    train, test = get_loaders("mnist", 64, on_device=True, device=CPU, root=mnist_root, download=False, augment=True)
    assert (len(train.dataset), len(test.dataset)) == (512, 256)
    train, test = get_loaders("mnist", 64, on_device=True, device=CPU, root=mnist_root, smoke=False)
    assert len(train.dataset) > 512 and len(test.dataset) > 256  # smoke=False overrides COURSE_SMOKE


def test_fit_resumes_a_fast_loader_run_identically(tmp_path, mnist_root):
    def run(epochs, resume):
        torch.manual_seed(0)
        train, _ = get_loaders("mnist", 64, on_device=True, device=CPU, subset=128, root=mnist_root, download=False, augment=True)
        model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
        return model, fit(model, train, epochs=epochs, lr=1e-2, device=CPU, progress=False,
                          checkpoint=tmp_path / "run.pt", resume=resume)
    straight, _ = run(2, resume=False)
    (tmp_path / "run.pt").unlink()
    run(1, resume=False)
    resumed, _ = run(2, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(),
                                                  resumed.state_dict().values()))


@pytest.mark.slow
def test_fast_path_trains_mnist_as_well_as_the_standard_path(real_mnist_root):
    """Same model, epochs, optimiser: both reach >= 90% on the first 3,000 real MNIST images, within 3 points."""
    results = {}
    for fast in (False, True):
        torch.manual_seed(0)
        train, _ = get_loaders("mnist", 64, root=real_mnist_root, augment=True, download=False,
                               num_workers=0, on_device=fast, subset=3000)
        _, test = get_loaders("mnist", 64, root=real_mnist_root, download=False, num_workers=0,
                              on_device=fast, subset=1000)
        model = MnistResNet()
        fit(model, train, epochs=2, lr=2e-3, device=CPU, progress=False)
        results[fast] = evaluate(model, test, device=CPU)["accuracy"]
    assert results[False] >= 0.90 and results[True] >= 0.90, results
    assert abs(results[True] - results[False]) <= 0.03, results


def test_fast_loaders_hold_out_the_same_validation_images_as_get_loaders(mnist_root):
    plain = get_loaders("mnist", 64, root=mnist_root, val_size=100, num_workers=0, download=False)
    fast = get_loaders("mnist", 64, on_device=True, root=mnist_root, val_size=100, download=False, device=CPU, augment=False)
    assert len(fast) == 3 and len(fast[1].images) == 100
    plain_val = torch.cat([x for x, _ in plain[1]])
    fast_val = torch.cat([x for x, _ in fast[1]])
    assert torch.allclose(plain_val, fast_val, atol=1e-6)
    assert len(fast[0].images) == len(plain[0].dataset) and len(fast[2].images) == len(plain[2].dataset)
