"""The ResNet paper's CIFAR-10 experiment at the scale you choose: plain-20/56 against ResNet-20/56.

Four networks of the paper's 16-32-64 family (``course_utils.models.CifarResNet``):
plain (``shortcut="none"``) and residual with the paper's zero-padding shortcut
(option A), each 20 and 56 layers deep. Each is trained with the paper's SGD
(learning rate 0.1, momentum 0.9, weight decay 1e-4, batches of 128, random
crops and flips) for ``--steps`` steps, with the same seed for the weights and
the batch order, on the CIFAR-10 training images in ``COURSE_DATA_DIR`` less a
validation split. It records the training loss of every step and, at the end,
the accuracy on the validation split.

The paper's finding (its figure 6) is *degradation*: the deeper plain network
fits its training data worse than the shallower one, while the deeper residual
network fits it better. Run it from the repository root::

    COURSE_DATA_DIR=../shared/data python bench/cifar_degradation.py --steps 200 --json cifar_degradation.json

It prints the device, scale and date, one line per run, and a Markdown table
(mean ± standard deviation over the seeds); the JSON keeps every loss curve, to
plot them side by side.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import CifarResNet
from course_utils.train import evaluate

from degradation_study import training_losses
from report import mean_sd, print_table, start_report, write_json
from study import add_study_options, run_study

#: name: (depth, shortcut) of each network, in the order of the paper's figure 6.
NETWORKS = {"plain-20": (20, "none"), "plain-56": (56, "none"),
            "ResNet-20": (20, "zeros"), "ResNet-56": (56, "zeros")}


def tail_length(steps: int) -> int:
    """How many of the last steps the final training loss averages: a tenth, at least 4 (or all)."""
    return min(steps, max(4, steps // 10))


def one_run(name: str, seed: int, loaders: tuple, steps: int, device: torch.device) -> dict:
    """Train network ``name`` with ``seed``; its loss curve, its final training loss and its validation accuracy."""
    depth, shortcut = NETWORKS[name]
    train_loader, val_loader = loaders
    torch.manual_seed(seed)                           # the initial weights
    train_loader.sampler.generator.manual_seed(seed)  # the batch order, the same for every network
    model = CifarResNet(depth, shortcut=shortcut)
    losses = training_losses(model, train_loader, steps, device, lr=0.1, weight_decay=1e-4)  # the paper's SGD
    tail = tail_length(steps)
    return {"losses": losses, "final_loss": statistics.mean(losses[-tail:]),
            "val_acc": evaluate(model, val_loader, device=device)["accuracy"]}


def markdown(results: dict[str, list[dict]], steps: int, at: list[int] | None = None) -> str:
    """Each network's training loss and validation accuracy: mean ± sd over the seeds.

    The loss is the mean of the last ``tail_length(steps)`` steps, at the end and,
    for each step in ``at``, over the same number of steps ending there.
    """
    tail = tail_length(steps)
    points = [p for p in (at or []) if tail <= p < steps] + [steps]

    def loss_at(run: dict, point: int) -> float:
        return statistics.mean(run["losses"][point - tail:point])

    columns = " | ".join(f"training loss, steps {p - tail + 1:,}-{p:,}" for p in points)
    lines = [f"| network | {columns} | validation accuracy, % (at step {steps:,}) | seeds |",
             "| --- | " + "--- | " * len(points) + "--- | --- |"]
    for name, runs in results.items():
        if runs:
            losses = " | ".join(mean_sd([loss_at(r, p) for r in runs], 1, 3) for p in points)
            lines.append(f"| {name} | {losses} | {mean_sd([r['val_acc'] for r in runs])} | {len(runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of 128 images (default 200)")
    parser.add_argument("--val-size", type=int, default=500, help="training images held out (default 500)")
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    parser.add_argument("--at", type=int, nargs="+", metavar="STEP",
                        help="also give the training loss at these steps (with --table too)")
    add_study_options(parser, seeds=range(3))
    args = parser.parse_args(argv)
    if args.table:
        saved = json.loads(Path(args.table).read_text())["args"]
        at = args.at or saved.get("at")
        return print_table(args.table, lambda results: markdown(results, saved["steps"], at), key="results")

    device = get_device()
    train_loader, val_loader, _ = get_loaders("cifar10", batch_size=128, val_size=args.val_size, augment=True,
                                              allow_partial=True, download=False, num_workers=0)
    report = start_report(device, f"CIFAR-10 in COURSE_DATA_DIR ({len(train_loader.dataset):,} training and "
                                  f"{len(val_loader.dataset):,} validation images), {args.steps} steps of 128, "
                                  f"seeds {args.seeds}", args)
    results = run_study(report, args.networks, args.seeds,
                        lambda name, seed: one_run(name, seed, (train_loader, val_loader), args.steps, device),
                        args.json, describe=lambda run: f"training loss {run['final_loss']:.3f}, "
                                                        f"validation {run['val_acc']:.1%}")
    report["markdown"] = markdown(results, args.steps, args.at)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
