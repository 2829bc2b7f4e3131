"""Notebook 11's comparison over seeds: four ways to train ResNet-18 on a few labelled CIFAR-10 images.

The regimes of notebook 11, trained alike: a new 10-class last layer on a frozen
ImageNet backbone; the last stage and the last layer; everything from ImageNet's
weights; everything from random weights. Each uses AdamW (1e-3 for the new layer and
for a network from scratch, 1e-4 for pretrained layers that learn), batches of 64 with
crops and flips, ``--per-class`` labelled images of each class drawn with the seed, the
inputs normalised with ImageNet's statistics and enlarged to ``--size``; each keeps its
best-validation epoch and is tested once. It records the training time per epoch too.

The accuracies mean something only with torchvision's ImageNet weights: without
``--weights`` the script uses (or downloads) torchvision's file and checks its SHA-256;
with ``--weights FILE`` (a stand-in of the same shapes) the report says so and its
table gives the times only, which do not depend on the values of the weights. Run it
from the repository root::

    COURSE_DATA_DIR=../shared/data python bench/transfer_study.py --json bench/results/transfer_study.json

It prints the device, scale, date and weights, one line per run, and a Markdown table
(mean ± standard deviation over the seeds).
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import torchvision

from course_utils.config import get_device
from course_utils.data import DeviceLoader
from course_utils.datasets import load_tensors, val_indices
from course_utils.models import count_parameters
from course_utils.pretrained import IMAGENET_MEAN, IMAGENET_STD, check_weights, resnet18_imagenet, weights_path
from course_utils.transfer import few_shot_indices, fine_tune_from, resized, trainable_parameters

from report import mean_sd, print_table, start_report, write_json
from study import add_study_options, choose_on_validation, run_study

#: name: (start from the pretrained weights?, the first part that learns), as in notebook 11.
REGIMES = {"frozen backbone, fc learns": (True, "fc"), "layer4 and fc learn": (True, "layer4"),
           "all learn, from ImageNet": (True, "conv1"), "all learn, from scratch": (False, "conv1")}


def build(name: str, seed: int, size: int, weights: Path) -> torch.nn.Module:
    pretrained, first = REGIMES[name]
    torch.manual_seed(seed)
    model = (resnet18_imagenet(num_classes=10, weights_file=weights) if pretrained
             else torchvision.models.resnet18(num_classes=10))
    return resized(fine_tune_from(model, first), size)


def optimizer_for(model: torch.nn.Module, pretrained: bool) -> torch.optim.Optimizer:
    head = list(model[1].fc.parameters())
    body = [p for p in trainable_parameters(model) if all(p is not h for h in head)]
    groups = [{"params": head, "lr": 1e-3}] + ([{"params": body, "lr": 1e-4 if pretrained else 1e-3}] if body else [])
    return torch.optim.AdamW(groups, weight_decay=0.01)


def loaders(data: dict, seed: int, per_class: int, device: torch.device) -> tuple[DeviceLoader, ...]:
    """(train, val, test): ``per_class`` labelled images of each class drawn with ``seed``, the rest fixed."""
    x, y, rest, val, test_x, test_y = (data[k] for k in ("x", "y", "rest", "val", "test_x", "test_y"))
    labelled = rest[few_shot_indices(y[rest], per_class, seed=seed)]
    common = dict(batch_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD, device=device)
    return (DeviceLoader(x[labelled], y[labelled], shuffle=True, augment=True, seed=seed, **common),
            DeviceLoader(x[val], y[val], **common), DeviceLoader(test_x, test_y, **common))


def markdown(report: dict) -> str:
    official = report["weights"]["official"]
    lines = ["| regime | parameters that learn | training, s per epoch | validation accuracy, % | "
             "test accuracy, % | seeds |", "| --- | --- | --- | --- | --- | --- |"]
    for name, runs in report["results"].items():
        if not runs:
            continue
        accuracy = ((mean_sd([r["val_acc"] for r in runs]), mean_sd([r["test_acc"] for r in runs]))
                    if official else ("not ImageNet's weights",) * 2)
        lines.append(f"| {name} | {runs[0]['trainable']:,} | {mean_sd([r['s_per_epoch'] for r in runs], 1)} | "
                     f"{accuracy[0]} | {accuracy[1]} | {len(runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=112, help="side of the enlarged images (default 112)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-class", type=int, default=100, help="labelled training images per class")
    parser.add_argument("--val-size", type=int, default=1000, help="training images held out (default 1000)")
    parser.add_argument("--test-size", type=int, default=2000, help="test images scored (default 2000)")
    parser.add_argument("--weights", metavar="FILE", help="a ResNet-18 state dict to use instead of torchvision's file")
    parser.add_argument("--regimes", nargs="+", choices=list(REGIMES), default=list(REGIMES))
    add_study_options(parser, seeds=range(3))
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown, key=None)

    device = get_device()
    weights = Path(args.weights) if args.weights else weights_path()
    if args.weights is None:
        resnet18_imagenet(download=True)  # downloads the file when it is missing; refuses a damaged one
    official = check_weights(weights).usable
    x, y = load_tensors("cifar10", allow_partial=True)
    test_x, test_y = load_tensors("cifar10", train=False, allow_partial=True)
    rest, val = (torch.tensor(i) for i in val_indices(len(x), args.val_size))
    data = dict(x=x, y=y, rest=rest, val=val, test_x=test_x[:args.test_size], test_y=test_y[:args.test_size])
    report = start_report(device, f"CIFAR-10 in COURSE_DATA_DIR: {args.per_class} labelled images per class, "
                                  f"{len(val):,} validation and {len(data['test_x']):,} test images, "
                                  f"{args.size}x{args.size} inputs, {args.epochs} epochs, seeds {args.seeds}", args)
    report["weights"] = {"file": str(weights), "official": official}
    print(f"weights: {weights}, " + ("torchvision's ImageNet file (SHA-256 checked)" if official else
                                     "not torchvision's file: the accuracies say nothing about ImageNet features"))

    def one_run(name: str, seed: int) -> dict:
        model = build(name, seed, args.size, weights)
        run = choose_on_validation(model, loaders(data, seed, args.per_class, device), epochs=args.epochs,
                                   device=device, optimizer=optimizer_for(model, REGIMES[name][0]))
        return {**run, "trainable": count_parameters(model), "s_per_epoch": statistics.median(run["history"]["seconds"])}

    run_study(report, args.regimes, args.seeds, one_run, args.json,
              describe=lambda run: f"{run['s_per_epoch']:.1f} s/epoch, validation {run['val_acc']:.1%}")
    report["markdown"] = markdown(report)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
