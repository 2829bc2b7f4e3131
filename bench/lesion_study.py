"""Notebook 10's tables: what the skips do in a trained ResNet-20 and its plain twin, over seeds.

Both networks (``CifarResNet(20, shortcut="zeros")`` and ``shortcut="none"``) train
as in notebook 10: Adam (learning rate 1e-3), batches of 128 with crops and flips,
the same initial weights and batch order for both, ``--epochs`` epochs on the
CIFAR-10 training images in ``COURSE_DATA_DIR`` less ``--val-size`` held out; each
keeps its best-validation epoch. Then, on the validation images only:

* the lesion test (Veit et al. 2016): the accuracy left after deleting each
  removable block in turn (``course_utils.skips.without_block``);
* ``||F(x)|| / ||x||`` of each of ResNet-20's blocks, at initialisation and trained.

Run it from the repository root::

    COURSE_DATA_DIR=../shared/data python bench/lesion_study.py --json bench/results/lesion_study.json

It prints the device, scale and date, one line per run, and two Markdown tables
(mean ± standard deviation over the seeds).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import torch

from course_utils.checkpoint import load_weights
from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import CifarResNet
from course_utils.skips import removable_blocks, residual_ratios, without_block
from course_utils.train import evaluate, fit

from report import mean_sd, print_table, start_report, write_json
from study import add_study_options, run_study

NETWORKS = {"ResNet-20": "zeros", "plain-20": "none"}


def one_run(name: str, seed: int, loaders: tuple, epochs: int, device: torch.device) -> dict:
    """Train network ``name`` from ``seed``; its validation accuracy intact and with each block deleted."""
    train_loader, val_loader = loaders
    torch.manual_seed(seed)
    model = CifarResNet(20, shortcut=NETWORKS[name]).to(device)
    images = next(iter(val_loader))[0].to(device)  # a fixed batch to measure the branches on
    at_init = residual_ratios(model, images) if NETWORKS[name] != "none" else {}
    train_loader.sampler.generator.manual_seed(seed)  # the same batches for both networks
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "run.pt"
        history = fit(model, train_loader, val_loader, epochs=epochs, lr=1e-3, device=device,
                      checkpoint=checkpoint, progress=False)
        best = load_weights(copy.deepcopy(model), checkpoint).to(device)
    lesioned = {}
    for block in removable_blocks(best):
        with without_block(best, block):
            lesioned[block] = evaluate(best, val_loader, device=device)["accuracy"]
    return {"chosen_epoch": history.best_epoch(), "val_acc": evaluate(best, val_loader, device=device)["accuracy"],
            "lesioned": lesioned, "ratios_at_init": at_init,
            "ratios_trained": residual_ratios(best, images) if at_init else {}}


def markdown(results: dict[str, list[dict]]) -> str:
    """The lesion table (per network), then the branch-size table (per ResNet block)."""
    lines = ["| network | validation accuracy, intact, % | one block deleted: mean over the blocks, % | "
             "worst single deletion, % | blocks | seeds |", "| --- | --- | --- | --- | --- | --- |"]
    for name, runs in results.items():
        if runs:
            mean_left = [statistics.mean(r["lesioned"].values()) for r in runs]
            worst = [min(r["lesioned"].values()) for r in runs]
            lines.append(f"| {name} | {mean_sd([r['val_acc'] for r in runs])} | {mean_sd(mean_left)} | "
                         f"{mean_sd(worst)} | {len(runs[0]['lesioned'])} | {len(runs)} |")
    resnet = [r for r in results.get("ResNet-20", []) if r["ratios_trained"]]
    if resnet:
        lines += ["", "| ResNet-20 block | \\|\\|F(x)\\|\\| / \\|\\|x\\|\\| at initialisation | trained |",
                  "| --- | --- | --- |"]
        for block in resnet[0]["ratios_trained"]:
            lines.append(f"| {block} | {mean_sd([r['ratios_at_init'][block] for r in resnet], 1, 2)} | "
                         f"{mean_sd([r['ratios_trained'][block] for r in resnet], 1, 2)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    parser.add_argument("--val-size", type=int, default=1000, help="training images held out (default 1000)")
    add_study_options(parser, seeds=range(3))
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown, key="results")

    device = get_device()
    train_loader, val_loader, _ = get_loaders("cifar10", batch_size=128, val_size=args.val_size, augment=True,
                                              allow_partial=True, download=False, num_workers=0)
    report = start_report(device, f"CIFAR-10 in COURSE_DATA_DIR ({len(train_loader.dataset):,} training and "
                                  f"{len(val_loader.dataset):,} validation images), {args.epochs} epochs, "
                                  f"seeds {args.seeds}", args)
    results = run_study(report, NETWORKS, args.seeds,
                        lambda name, seed: one_run(name, seed, (train_loader, val_loader), args.epochs, device),
                        args.json, describe=lambda run: f"validation {run['val_acc']:.1%} intact, "
                                                        f"{min(run['lesioned'].values()):.1%} to "
                                                        f"{max(run['lesioned'].values()):.1%} with one block deleted")
    report["markdown"] = markdown(results)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
