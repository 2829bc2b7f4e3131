"""Notebook 02's table: what an activation function changes in the small CIFAR-10 CNN, over seeds.

Three versions of ``SequentialCNN``, the same in every other respect: with
average-pools and no activation (one affine map of the pixels: a linear
classifier), with max-pools and no activation (as the network is often
written), and with max-pools and ReLUs. Each is trained with SGD (learning
rate 0.01, momentum 0.9, batches of 64) for ``--epochs``; ``--val`` training
images are held out, the epoch with the best validation accuracy is kept, and
that model is scored on the test set once. Run it from the repository root::

    COURSE_DATA_DIR=../shared/data python bench/activation_study.py --allow-partial --json activation.json

It prints the device, scale and date, one line per run, and a Markdown table
(mean ± standard deviation over the seeds).
"""
from __future__ import annotations

import argparse
import math

import torch

from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import SequentialCNN

from report import mean_sd, print_table, start_report, write_json
from study import add_study_options, choose_on_validation, run_study

ARMS = {
    "average-pools, no activation (linear)": {"pool": "avg"},
    "max-pools, no activation": {},
    "max-pools and ReLUs": {"relu": True},
}


def one_run(options: dict, seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Train one arm with one seed; return the chosen epoch and its test accuracy."""
    loaders = get_loaders("cifar10", args.batch_size, val_size=args.val, seed=seed, download=False,
                          allow_partial=args.allow_partial)
    torch.manual_seed(seed)
    model = SequentialCNN(**options)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    return choose_on_validation(model, loaders, epochs=args.epochs, device=device, optimizer=optimizer)


def markdown(results: dict[str, list[dict]]) -> str:
    """The table, then the error bar of one test accuracy on this many test images."""
    lines = ["| model | test accuracy, % | validation accuracy, % | train accuracy at the end, % | chosen epochs |",
             "| --- | --- | --- | --- | --- |"]
    for name, runs in results.items():
        if runs:
            lines.append(f"| {name} | {mean_sd([r['test_acc'] for r in runs])} | "
                         f"{mean_sd([r['val_acc'] for r in runs])} | "
                         f"{mean_sd([r['last_train_acc'] for r in runs])} | "
                         f"{', '.join(str(r['chosen_epoch']) for r in runs)} |")
    n_test = next(runs for runs in results.values() if runs)[0]["sizes"][2]
    se = 100 * math.sqrt(0.25 / n_test)  # the largest standard error of one accuracy on n_test images
    return "\n".join(lines) + (f"\n\nOne accuracy on {n_test:,} test images has a standard error of up to "
                               f"{se:.1f} points.")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--val", type=int, default=1000, help="training images held out for validation")
    parser.add_argument("--allow-partial", action="store_true",
                        help="accept a partial copy of CIFAR-10, such as the course's sample data")
    add_study_options(parser)
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown)

    device = get_device()
    report = start_report(device, f"CIFAR-10 in COURSE_DATA_DIR, {args.val:,} training images held out "
                                  f"for validation, {args.epochs} epochs, seeds {args.seeds}", args)
    results = run_study(report, ARMS, args.seeds,
                        lambda name, seed: one_run(ARMS[name], seed, args, device), args.json)
    report["markdown"] = markdown(results)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
