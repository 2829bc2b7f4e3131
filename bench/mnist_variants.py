"""Notebook 08's table: the MNIST ResNet and its two variants, over several seeds, chosen on validation.

The recipe of the notebook (Adam, learning rate 1e-3, batches of 64, 10
epochs) for three blocks: the original one (no activation between its two
convolutions), with a ReLU between them (``inner_relu``), and with a ReLU and
batch norm (``inner_relu`` and ``batch_norm``). Each run holds out
``--val`` training images, keeps the epoch with the best validation accuracy,
and scores that model on the test set once. Run it from the repository root::

    COURSE_DATA_DIR=../shared/data-full python bench/mnist_variants.py --json mnist.json   # full MNIST
    COURSE_DATA_DIR=../shared/data python bench/mnist_variants.py --val 500 --epochs 3  # the sample

It prints the device, the data's scale and the date, one line per run, and a
Markdown table of test accuracy (mean ± standard deviation over the seeds);
``--table FILE`` prints the table of a report written earlier (seconds per
epoch are in the JSON: they depend on what else the machine was doing).
"""
from __future__ import annotations

import argparse

import torch

from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import MnistResNet

from report import mean_sd, print_table, start_report, write_json
from study import add_study_options, choose_on_validation, run_study

VARIANTS = {
    "original block (no inner ReLU, no BN)": {},
    "ReLU inside the block": {"inner_relu": True},
    "ReLU and batch norm inside the block": {"inner_relu": True, "batch_norm": True},
}


def one_run(options: dict, seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Train one variant with one seed; return the chosen epoch and its test accuracy."""
    loaders = get_loaders("mnist", args.batch_size, val_size=args.val, seed=seed, download=False)
    torch.manual_seed(seed)
    return choose_on_validation(MnistResNet(**options), loaders, epochs=args.epochs, device=device,
                                lr=args.lr)


def markdown(results: dict[str, list[dict]]) -> str:
    lines = ["| block | test accuracy, % (mean ± sd) | per seed | chosen epochs |",
             "| --- | --- | --- | --- |"]
    for name, runs in results.items():
        if not runs:
            continue
        per_seed = ", ".join(f"{100 * r['test_acc']:.2f}" for r in runs)
        epochs = ", ".join(str(r["chosen_epoch"]) for r in runs)
        lines.append(f"| {name} | {mean_sd([r['test_acc'] for r in runs])} | {per_seed} | {epochs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val", type=int, default=5000, help="training images held out for validation")
    parser.add_argument("--variants", nargs="+", type=int, default=list(range(len(VARIANTS))),
                        help="which rows to run: 0, 1, 2 (default all)")
    add_study_options(parser)
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown)

    device = get_device()
    report = start_report(device, f"MNIST, {args.val:,} training images held out for validation, "
                                  f"{args.epochs} epochs, seeds {args.seeds}", args)
    names = [list(VARIANTS)[i] for i in args.variants]
    results = run_study(report, names, args.seeds,
                        lambda name, seed: one_run(VARIANTS[name], seed, args, device), args.json)
    report["markdown"] = markdown(results)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
