"""Notebook 03's table: plain and residual stacks of the same depth, their training loss, over seeds.

Three networks from ``course_utils.models.conv_stack``, all with batch norm:
plain with 8 layers, plain with 32, and residual with 32. Each is trained with
SGD (learning rate 0.05, momentum 0.9, batches of 64) for ``--steps`` steps on
MNIST, with the same seed for the weights and the batch order. The figure is
the mean *training* loss over the last tenth of the steps: how well each
network fits the data it sees. Run it from the repository root::

    COURSE_DATA_DIR=../shared/data python bench/degradation_study.py --json degradation.json

It prints the device, scale and date, one line per run, and a Markdown table
(mean ± standard deviation over the seeds).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from course_utils.config import get_device
from course_utils.data import get_loaders
from course_utils.models import conv_stack
from course_utils.train import train_steps

from report import print_table, start_report, write_json
from study import add_study_options

NETWORKS = {"plain, 8 layers": (8, False), "plain, 32 layers": (32, False), "residual, 32 layers": (32, True)}


def training_losses(model: nn.Module, loader, steps: int, device: torch.device, lr: float = 0.05,
                    weight_decay: float = 0.0) -> list[float]:
    """``train_steps`` with SGD (momentum 0.9, learning rate ``lr``, ``weight_decay``): each step's loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    return train_steps(model.to(device), loader, steps, optimizer=optimizer, device=device)


def markdown(results: dict[str, list[float]], steps: int) -> str:
    """Mean ± standard deviation over the seeds of each network's final training loss, and each seed's."""
    tail = max(4, steps // 10)
    lines = [f"| network | training loss, last {tail} of {steps} steps (mean ± sd) | per seed |",
             "| --- | --- | --- |"]
    for name, values in results.items():
        if not values:
            continue
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else " (one seed)"
        lines.append(f"| {name} | {statistics.mean(values):.3f}{spread} | {', '.join(f'{v:.3f}' for v in values)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    add_study_options(parser, seeds=range(5))
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, lambda results: markdown(results, json.loads(
            Path(args.table).read_text())["args"]["steps"]), key="final_loss")

    device = get_device()
    train_loader, _ = get_loaders("mnist", batch_size=64, download=False, num_workers=0)
    report = start_report(device, f"MNIST in COURSE_DATA_DIR ({len(train_loader.dataset):,} training "
                                  f"images), {args.steps} steps of 64, seeds {args.seeds}", args)
    results: dict[str, list[float]] = {name: [] for name in NETWORKS}
    report["final_loss"] = results
    tail = max(4, args.steps // 10)
    for seed in args.seeds:
        for name, (depth, skip) in NETWORKS.items():
            t0 = time.perf_counter()
            torch.manual_seed(seed)                           # the initial weights
            train_loader.sampler.generator.manual_seed(seed)  # the batch order, the same for every network
            losses = training_losses(conv_stack(depth, skip=skip), train_loader, args.steps, device)
            results[name].append(statistics.mean(losses[-tail:]))
            print(f"{name}, seed {seed}: mean training loss over the last {tail} steps "
                  f"{results[name][-1]:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            write_json(report, args.json)
    report["markdown"] = markdown(results, args.steps)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
