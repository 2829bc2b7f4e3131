"""Classifying a learner's own picture: the photo is prepared like the training images."""
import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.classify import classify, open_image, prepare_image
from course_utils.data import get_loaders
from course_utils.datasets import get_transforms, load_tensors
from course_utils.models import MnistResNet
from course_utils.train import fit


def paper_photo(digit: np.ndarray, size=(240, 180), at=(70, 25), side=140) -> Image.Image:
    """An MNIST digit as a phone photo of ink on paper: large, off-centre, dark on light grey, RGB."""
    paper = Image.new("L", size, 225)
    ink = Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BILINEAR)
    mask = Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR)
    paper.paste(ink.point(lambda v: min(v, 225)), at, mask)
    return paper.convert("RGB")


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def test_prepared_photo_has_the_shape_and_scale_of_the_test_images():
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    x = prepare_image(paper_photo(digit), "mnist")
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    background = (0 - 0.1307) / 0.3081  # a black pixel, normalised
    assert x[0, 0, 0, 0].item() == pytest.approx(background, abs=1e-4)  # the paper became black
    assert x.max().item() > 2.5  # the ink became white
    assert x[0, 0, 14, 14] > 2.0 and x[0, 0, 14, 3] == pytest.approx(background, abs=1e-4)  # centred


def test_digit_photos_look_like_the_originals_after_preparation(mnist_root):
    images, _ = load_tensors("mnist", train=False, root=mnist_root)
    to_tensor = get_transforms("mnist", train=False)
    scores = [correlation(prepare_image(paper_photo(images[i, 0].numpy()), "mnist"),
                          to_tensor(Image.fromarray(images[i, 0].numpy())))
              for i in range(40)]
    assert np.mean(scores) > 0.85, scores  # scaled into 20x20 and centred by mass, as MNIST was


def test_trained_model_reads_photos_of_digits_and_fails_without_inversion(real_mnist_root):
    """Trained on 3,000 real digits (the first ones: the course's sample, or the start of the full set)."""
    torch.manual_seed(0)
    train, _ = get_loaders("mnist", batch_size=64, root=real_mnist_root, download=False, num_workers=0, subset=3000)
    model = MnistResNet()
    fit(model, train, epochs=2, lr=1e-3, device="cpu", progress=False)
    images, labels = load_tensors("mnist", train=False, root=real_mnist_root)
    photos = [paper_photo(images[i, 0].numpy()) for i in range(100)]
    right = sum(classify(model, p, "mnist")[0][0] == str(labels[i].item()) for i, p in enumerate(photos))
    wrong_way = sum(classify(model, p, "mnist", invert=False)[0][0] == str(labels[i].item())
                    for i, p in enumerate(photos))
    assert right >= 85, right  # about 93 measured
    assert wrong_way <= 40, wrong_way  # dark ink on light paper is not what MNIST looks like
    assert model.training  # left in the mode it was in


def test_classify_returns_top_classes_with_probabilities_best_first():
    torch.manual_seed(0)
    model = MnistResNet().eval()
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:23, 10:18] = 255
    top = classify(model, Image.fromarray(digit), "mnist", top=4)
    assert len(top) == 4 and all(isinstance(c, str) and c in "0123456789" for c, _ in top)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert not model.training


def test_cifar_photo_is_centre_cropped_and_resized(cifar_root):
    images, _ = load_tensors("cifar10", train=False, root=cifar_root, allow_partial=True)
    original = Image.fromarray(images[0].permute(1, 2, 0).numpy())
    big = original.resize((256, 256), Image.Resampling.BICUBIC)
    wide = Image.new("RGB", (384, 256), "black")
    wide.paste(big, (64, 0))  # black bars left and right, as a wide photo would have
    x = prepare_image(wide, "cifar10")
    assert x.shape == (1, 3, 32, 32)
    assert correlation(x, get_transforms("cifar10", train=False)(original)) > 0.95


def test_fashion_photos_on_black_are_not_inverted_and_resize_follows_the_model(fashion_root):
    images, _ = load_tensors("fashion_mnist", train=False, root=fashion_root)
    to_tensor = get_transforms("fashion_mnist", train=False)
    originals = [Image.fromarray(images[i, 0].numpy()) for i in range(40)]
    scores = [correlation(prepare_image(item.resize((112, 112)), "fashion_mnist"), to_tensor(item))
              for item in originals]
    assert np.mean(scores) > 0.8, scores  # inverted, they would correlate negatively
    assert prepare_image(originals[0], "fashion_mnist", resize=96).shape == (1, 1, 96, 96)  # d2l's size


def test_transparent_drawing_lands_on_white_paper_and_phone_photos_turn_upright(tmp_path):
    drawing = Image.new("RGBA", (60, 40), (0, 0, 0, 0))  # transparent canvas
    drawing.paste((0, 0, 0, 255), (10, 5, 20, 35))  # black stroke
    opened = open_image(drawing)
    assert opened.mode == "RGB" and opened.getpixel((0, 0)) == (255, 255, 255)
    assert opened.getpixel((15, 20)) == (0, 0, 0)

    photo = Image.new("RGB", (60, 40), "white")
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "phone.jpg"
    photo.save(path, exif=exif)
    assert open_image(path).size == (40, 60)


def test_bad_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="No image file at .*upload it first"):
        prepare_image(tmp_path / "missing.png", "mnist")
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    with pytest.raises(ValueError, match="not an image PIL can read: save it as PNG or JPEG"):
        prepare_image(not_image, "mnist")
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet': choose one of mnist"):
        prepare_image(Image.new("RGB", (8, 8)), "imagenet")
