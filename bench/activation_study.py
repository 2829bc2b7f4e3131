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
import statistics
import tempfile
import time
from pathlib import Path

import torch

from course_utils.checkpoint import load_weights
from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import SequentialCNN
from course_utils.train import evaluate, fit
from report import header, mean_sd, print_table, write_json

ARMS = {
    "average-pools, no activation (linear)": {"pool": "avg"},
    "max-pools, no activation": {},
    "max-pools and ReLUs": {"relu": True},
}


def one_run(options: dict, seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    train_loader, val_loader, test_loader = get_loaders("cifar10", args.batch_size, val_size=args.val,
                                                        seed=seed, download=False,
                                                        allow_partial=args.allow_partial)
    torch.manual_seed(seed)
    model = SequentialCNN(**options)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "run.pt"
        history = fit(model, train_loader, val_loader, epochs=args.epochs, optimizer=optimizer,
                      device=device, checkpoint=checkpoint, progress=False)
        chosen = load_weights(SequentialCNN(**options), checkpoint).to(device)
    test = evaluate(chosen, test_loader)
    return {"seed": seed, "chosen_epoch": history.best_epoch(), "val_acc": max(history.val_acc),
            "test_acc": test["accuracy"], "final_train_acc": history.train_acc[-1],
            "seconds": sum(history.seconds), "history": history.to_dict(),
            "sizes": [len(train_loader.dataset), len(val_loader.dataset), len(test_loader.dataset)]}


def markdown(results: dict[str, list[dict]]) -> str:
    """The table, then the error bar of one test accuracy on this many test images."""
    lines = ["| model | test accuracy, % | validation accuracy, % | train accuracy at the end, % | chosen epochs |",
             "| --- | --- | --- | --- | --- |"]
    for name, runs in results.items():
        if runs:
            lines.append(f"| {name} | {mean_sd([r['test_acc'] for r in runs])} | "
                         f"{mean_sd([r['val_acc'] for r in runs])} | "
                         f"{mean_sd([r['final_train_acc'] for r in runs])} | "
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--allow-partial", action="store_true",
                        help="accept a partial copy of CIFAR-10, such as the course's sample data")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE (after every run)")
    parser.add_argument("--table", metavar="FILE", help="only print the table of a report written by --json "
                                                       "(also of a run that was cut short)")
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown)

    device = get_device()
    report = header(device, f"CIFAR-10 in COURSE_DATA_DIR, {args.val:,} training images held out for "
                            f"validation, {args.epochs} epochs, seeds {args.seeds}")
    report["args"] = vars(args)
    print(" | ".join(f"{k}: {v}" for k, v in report.items() if k != "args"))
    results: dict[str, list[dict]] = {name: [] for name in ARMS}
    report["results"] = results
    for seed in args.seeds:
        for name, options in ARMS.items():
            t0 = time.perf_counter()
            run = one_run(options, seed, args, device)
            results[name].append(run)
            print(f"{name}, seed {seed}: test {run['test_acc']:.2%} (epoch {run['chosen_epoch']}, validation "
                  f"{run['val_acc']:.2%}); {run['sizes']} images; {time.perf_counter() - t0:.0f} s", flush=True)
            write_json(report, args.json)
    report["markdown"] = markdown(results)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
