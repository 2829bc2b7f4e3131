"""Notebook 09's figures: d2l's training loop against ``fit``, and a run of the 0.17 recipe.

Two measurements of d2l's ResNet-18 on Fashion-MNIST at 96x96:

* **The two loops** (section 5 of the notebook). ``d2l.train_ch6`` and ``fit``
  train the same network from the same Xavier weights on the same
  ``--compare-batches`` batches, one epoch, full precision: the training loss
  of each, the largest weight difference afterwards, and three speeds (d2l's
  printed figure, d2l by the wall clock, ``fit`` by the wall clock). Needs the
  ``d2l`` package (``pip install --no-deps d2l==1.0.3``); skipped without it.
* **The recipe** (section 6). SGD, learning rate 0.05, batches of 256,
  ``--epochs`` epochs from Xavier weights; ``--val`` training images held out,
  the epoch with the best validation accuracy kept and scored on the test set
  once, for each of ``--seeds``.

Run it from the repository root, on the course's sample or on the full data::

    COURSE_DATA_DIR=../shared/data python bench/d2l_fashion.py --val 200 --json d2l.json

It prints the device, the scale and the date, then one line per run and a
Markdown table; ``--table FILE`` prints the table of a report written earlier.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import matplotlib

matplotlib.use("Agg")  # d2l draws an animated plot: no window here
import torch  # noqa: E402

from course_utils.config import get_device  # noqa: E402
from course_utils.d2l_compat import (  # noqa: E402
    d2l_book_resnet18,
    d2l_resnet18,
    import_d2l,
    init_like_train_ch6,
    parse_train_ch6,
)
from course_utils.data import get_loaders  # noqa: E402
from course_utils.train import fit  # noqa: E402

from report import print_table, start_report, write_json  # noqa: E402
from study import add_study_options, choose_on_validation, run_study  # noqa: E402

SIZE = 96


def first_batches(loader, n: int) -> list:
    """The first ``n`` batches of ``loader``, held in memory (starting over if it has fewer)."""
    batches: list = []
    while len(batches) < n:
        for batch in loader:
            batches.append(batch)
            if len(batches) == n:
                break
    return batches


def compare_loops(args: argparse.Namespace, device: torch.device) -> dict | None:
    """One epoch of ``d2l.train_ch6`` and of ``fit`` on the same batches; None without d2l."""
    try:
        d2l = import_d2l()
    except ImportError as err:
        print(f"The two loops: skipped, d2l is not installed ({err}).")
        return None
    train, val, _ = get_loaders("fashion_mnist", batch_size=args.compare_batch_size, resize=SIZE,
                                subset=args.compare_batches * args.compare_batch_size,
                                val_size=args.val, download=False)
    batches, val_batches = first_batches(train, args.compare_batches), first_batches(val, 2)
    warm_up = d2l_resnet18().to(device)  # the first pass on a device is slower: not timed
    warm_up(batches[0][0].to(device)).sum().backward()

    book_net = d2l_book_resnet18(num_classes=10, in_channels=1, input_size=SIZE)
    ours = d2l_resnet18()
    ours.load_state_dict(book_net.state_dict())
    torch.manual_seed(0)  # train_ch6 draws its Xavier weights from here...
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its plot's x-axis is [1, 1] for one epoch
        d2l.train_ch6(book_net, batches, val_batches, num_epochs=1, lr=args.lr, device=device)
    d2l_wall = time.perf_counter() - start
    torch.manual_seed(0)  # ...and so does init_like_train_ch6
    init_like_train_ch6(ours)
    history = fit(ours, batches, val_batches, epochs=1, device=device, amp=False, progress=False,
                  optimizer=torch.optim.SGD(ours.parameters(), lr=args.lr))
    d2l_says = parse_train_ch6(printed.getvalue())
    n_images = sum(len(y) for _, y in batches)
    return {"images": n_images, "d2l_loss": d2l_says["loss"], "fit_loss": history.train_loss[-1],
            "largest_weight_difference": max((a - b).abs().max().item()
                                             for a, b in zip(book_net.parameters(), ours.parameters())),
            "d2l_printed_examples_per_s": d2l_says["examples_per_sec"],
            "d2l_wall_examples_per_s": n_images / d2l_wall, "fit_examples_per_s": history.examples_per_s[-1]}


def recipe_run(seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    """The 0.17 recipe with one seed: the chosen epoch, its test accuracy and the speed."""
    loaders = get_loaders("fashion_mnist", batch_size=256, resize=SIZE, val_size=args.val, seed=seed,
                          download=False)
    torch.manual_seed(seed)
    model = init_like_train_ch6(d2l_resnet18())
    run = choose_on_validation(model, loaders, epochs=args.epochs, device=device,
                               optimizer=torch.optim.SGD(model.parameters(), lr=args.lr))
    speeds = sorted(run["history"]["examples_per_s"])
    return {**run, "median_examples_per_s": speeds[len(speeds) // 2]}


def markdown(report: dict) -> str:
    lines = []
    loops = report.get("loops")
    if loops:
        lines += [f"The two loops, one epoch on the same {loops['images']:,} images: training loss d2l "
                  f"{loops['d2l_loss']:.3f}, fit {loops['fit_loss']:.3f}; largest weight difference "
                  f"{loops['largest_weight_difference']:.1e}. Examples/s: d2l as printed "
                  f"{loops['d2l_printed_examples_per_s']:.1f}, d2l by the wall clock "
                  f"{loops['d2l_wall_examples_per_s']:.1f}, fit by the wall clock "
                  f"{loops['fit_examples_per_s']:.1f}.", ""]
    lines += ["| seed | train / val / test images | epochs | train acc (last epoch) | chosen epoch "
              "| val acc | test acc | examples/s (median epoch) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in report["results"]["0.17 recipe"]:
        lines.append(f"| {run['seed']} | {' / '.join(f'{n:,}' for n in run['sizes'])} | "
                     f"{len(run['history']['train_acc'])} | {run['last_train_acc']:.3f} | "
                     f"{run['chosen_epoch']} | {run['val_acc']:.3f} | {run['test_acc']:.3f} | "
                     f"{run['median_examples_per_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--val", type=int, default=5000, help="training images held out for validation")
    parser.add_argument("--compare-batches", type=int, default=10, help="batches for the two loops (5 or more)")
    parser.add_argument("--compare-batch-size", type=int, default=256)
    add_study_options(parser, seeds=[0])
    args = parser.parse_args(argv)
    if args.table:
        return print_table(args.table, markdown, key=None)
    if args.compare_batches < 5:
        parser.error("--compare-batches must be 5 or more: train_ch6 divides by num_batches // 5")

    device = get_device()
    report = start_report(device, f"Fashion-MNIST in COURSE_DATA_DIR at {SIZE}x{SIZE}, {args.val:,} training "
                                  f"images held out for validation, {args.epochs} epochs, seeds {args.seeds}",
                          args)
    report["loops"] = compare_loops(args, device)
    write_json(report, args.json)
    run_study(report, ["0.17 recipe"], args.seeds, lambda _, seed: recipe_run(seed, args, device), args.json)
    report["markdown"] = markdown(report)
    print(report["markdown"])
    write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
