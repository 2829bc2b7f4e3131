"""Does the fast path train as well as the standard one? Both, side by side, on real data.

The same model, optimizer, schedule, epochs and seed, trained twice on the same
device: once with ``get_loaders`` (torchvision transforms on the CPU, one PIL
image at a time) and once with ``get_loaders(..., on_device=True)`` (the batches
made on the device), with the fast path's recipe: SGD with Nesterov momentum
and weight decay, ``one_cycle``, label smoothing 0.1, mixed precision where the
device has it, and flip test-time augmentation at the end. Run it from the
repository root::

    python bench/sample_accuracy.py --model resnet18 --epochs 5          # CIFAR-10, CIFAR stem
    COURSE_DATA_DIR=../shared/data python bench/sample_accuracy.py --allow-partial --epochs 5

It prints the device, each path's test accuracy (plain and with flip TTA) and
its training time, and with ``--json FILE`` writes them as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import date

import torch
from torch import nn

from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import CifarResNet, resnet18
from course_utils.train import evaluate, fit, one_cycle

MODELS = {"resnet18": lambda: resnet18(num_classes=10, stem="cifar"),
          "cifar_resnet20": lambda: CifarResNet(20)}


def train_one_path(fast: bool, args: argparse.Namespace, device: torch.device) -> dict:
    """Train ``args.model`` on CIFAR-10 with the standard (``fast=False``) or the fast loaders."""
    train_loader, test_loader = get_loaders("cifar10", args.batch_size, augment=True, on_device=fast,
                                            subset=args.subset, allow_partial=args.allow_partial,
                                            seed=args.seed, download=not args.no_download)
    torch.manual_seed(args.seed)
    model = MODELS[args.model]()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    scheduler = one_cycle(optimizer, args.lr, epochs=args.epochs, steps_per_epoch=len(train_loader))
    history = fit(model, train_loader, epochs=args.epochs, optimizer=optimizer,
                  scheduler=scheduler, scheduler_interval="batch", device=device, fast=fast,
                  loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), progress=not args.no_progress)
    # No model selection (the last epoch is the model): the test set is scored once, at the end.
    test, tta = evaluate(model, test_loader), evaluate(model, test_loader, tta=True)
    return {"test_accuracy": test["accuracy"], "test_accuracy_tta": tta["accuracy"],
            "train_seconds": sum(history.seconds), "test_images": tta["n"],
            "train_images": len(train_loader.dataset),
            "history": history.to_dict()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2, help="the peak of the one-cycle schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=int, default=None, help="the first N images of each split only")
    parser.add_argument("--allow-partial", action="store_true",
                        help="accept a partial copy of CIFAR-10, such as the course's sample data")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)

    device = get_device()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.machine()} {device.type}, {os.cpu_count()} cores")
    print(f"device: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.model}, {args.epochs} epochs, batch {args.batch_size}, one-cycle to lr {args.lr}, seed {args.seed}")
    results = {}
    for label, fast in (("standard", False), ("fast", True)):
        r = results[label] = train_one_path(fast, args, device)
        print(f"{label:>8}: test accuracy {r['test_accuracy']:.2%} (flip TTA {r['test_accuracy_tta']:.2%}) "
              f"on {r['test_images']:,} images, {r['train_seconds']:.0f} s of training")
    report = {"device": str(device), "device_name": name, "date": date.today().isoformat(),
              "torch": torch.__version__, "args": vars(args), **results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
