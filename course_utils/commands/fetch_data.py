"""``python -m course_utils fetch-data``: download the datasets (and ImageNet weights) once, or install a staged copy.

Before class, on a machine with internet::

    python -m course_utils fetch-data --to /media/usb/course-data

then on each laptop, without the internet::

    python -m course_utils fetch-data --from /media/usb/course-data

The same command stages torchvision's ImageNet weights for ResNet-18
(``resnet18-imagenet``, 47 MB, used by notebook 11): downloaded into torchvision's cache
(``$TORCH_HOME/hub/checkpoints``, where the notebooks look) or, with ``--to``, beside the
datasets being staged; installed ``--from`` a staged copy, always into torchvision's cache. Each item is reported as present,
fetched, skipped or failed (with the reason); the exit status is 0 when none failed. The
work is done in ``course_utils.staging`` and ``course_utils.pretrained``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.config import data_dir
from course_utils.datasets import NAMES
from course_utils.pretrained import NAME as WEIGHTS
from course_utils.pretrained import download_weights, stage_weights, weights_path
from course_utils.staging import Outcome, download, install_from

#: What fetch-data can fetch: the three datasets, then ResNet-18's ImageNet weights.
ITEMS = (*NAMES, WEIGHTS)


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "fetch-data",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
        help=help,
        description=(
            "Download MNIST, Fashion-MNIST and CIFAR-10 with torchvision (which checks their "
            "MD5 sums) into the data folder, and torchvision's ImageNet weights for ResNet-18 "
            "(SHA-256 checked) into its cache folder ($TORCH_HOME/hub/checkpoints); or all of "
            "them into --to DIR to stage them on a shared drive or USB stick. With --from, "
            "install them from such a copy (a folder, or a .zip / .tar.gz archive of it) without "
            "the internet (the weights then always go into torchvision's cache): every file is "
            "checked before it is installed, and a damaged copy installs nothing."
        ),
        epilog=(
            "examples:\n"
            "  python -m course_utils fetch-data                      # everything, where the notebooks look\n"
            "  python -m course_utils fetch-data cifar10 --to /media/usb/course-data\n"
            "  python -m course_utils fetch-data resnet18-imagenet    # the ImageNet weights only\n"
            "  python -m course_utils fetch-data --from /media/usb/course-data\n"
            "  python -m course_utils fetch-data --from course-data.tar.gz"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", type=_dataset_name,
                   help=f"what to fetch: {', '.join(NAMES)}, {WEIGHTS.replace('_', '-')} (default: all)")
    p.add_argument("--to", type=Path, default=None, metavar="DIR",
                   help="where to put them (default: the data folder, COURSE_DATA_DIR or data/)")
    p.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR_OR_ARCHIVE",
                   help="install from this staged copy instead of downloading")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    chosen = tuple(dict.fromkeys(args.names)) or ITEMS
    names = tuple(n for n in chosen if n in NAMES)
    dest = (args.to or data_dir()).expanduser().resolve()
    where = f"from {args.source}" if args.source else "by download"
    if names:
        print(f"Datasets into {dest} ({where}):")
    outcomes = []
    try:
        if args.source is not None:
            outcomes = install_from(args.source, dest, names) if names else []
            for outcome in outcomes:
                _report(outcome)
        else:
            for name in names:  # one at a time, so the learner sees progress
                outcomes.append(download(name, dest))
                _report(outcomes[-1])
        if WEIGHTS in chosen:
            outcomes.append(_weights(args, dest, required=bool(args.names)))
    except OSError as err:  # a read-only or full destination
        print(f"  failed: cannot write to {dest} ({type(err).__name__}: {err}); choose another folder with --to")
        return 1
    failed = [o.name for o in outcomes if o.result == "failed"]
    if failed:
        tried = [o for o in outcomes if o.result != "skipped"]
        print(f"{len(failed)} of {len(tried)} failed: {', '.join(failed)}.")
        return 1
    if args.to is not None and args.to.expanduser().resolve() != data_dir():
        print(f"Done. Use this copy with COURSE_DATA_DIR={dest}, or install it on another "
              f"machine with: python -m course_utils fetch-data --from {dest}")
    return 0


def _weights(args: argparse.Namespace, dest: Path, *, required: bool) -> Outcome:
    """ResNet-18's ImageNet weights: downloaded into ``--to`` (a copy being staged), else into torchvision's cache.

    Installing from a staged copy always puts them where torchvision and the
    notebooks look, whatever ``--to`` says of the datasets. When the weights were
    not asked for by name, a staged copy without them is "skipped", not "failed".
    """
    folder = dest if args.to is not None and args.source is None else None
    print(f"ResNet-18's ImageNet weights ({_where_weights(folder)}):")
    if args.source is None:
        outcome = download_weights(folder)
    else:
        outcome = stage_weights(args.source, folder, required=required)
    _report(outcome)
    return outcome


def _where_weights(folder: Path | None) -> str:
    return f"into {folder}" if folder is not None else f"into torchvision's cache, {weights_path().parent}"


def _dataset_name(text: str) -> str:
    name = text.lower().replace("-", "_")
    if name not in ITEMS:
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; choose from {', '.join(NAMES)} "
                                         f"or {WEIGHTS.replace('_', '-')}")
    return name


def _report(outcome: Outcome) -> None:
    print(f"  {outcome.name:<14} {outcome.result:<8} {outcome.detail}")
