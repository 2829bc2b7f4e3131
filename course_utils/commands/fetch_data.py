"""``python -m course_utils fetch-data``: download the datasets once, or install a staged copy.

Before class, on a machine with internet::

    python -m course_utils fetch-data --to /media/usb/course-data

then on each laptop, without the internet::

    python -m course_utils fetch-data --from /media/usb/course-data

Each dataset is reported as present, fetched or failed (with the reason); the
exit status is 0 when none failed. The work is done in ``course_utils.staging``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.config import data_dir
from course_utils.datasets import NAMES
from course_utils.staging import Outcome, download, install_from


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "fetch-data",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
        help=help,
        description=(
            "Download MNIST, Fashion-MNIST and CIFAR-10 with torchvision (which checks their "
            "MD5 sums) into the data folder, or into --to DIR to stage them on a shared drive "
            "or USB stick. With --from, install them from such a copy (a folder, or a .zip / "
            ".tar.gz archive of it) without the internet: every file is checked before it is "
            "installed, and a damaged copy installs nothing."
        ),
        epilog=(
            "examples:\n"
            "  python -m course_utils fetch-data                      # all three into the data folder\n"
            "  python -m course_utils fetch-data cifar10 --to /media/usb/course-data\n"
            "  python -m course_utils fetch-data --from /media/usb/course-data\n"
            "  python -m course_utils fetch-data --from course-data.tar.gz"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", type=_dataset_name,
                   help=f"datasets to fetch: {', '.join(NAMES)} (default: all)")
    p.add_argument("--to", type=Path, default=None, metavar="DIR",
                   help="where to put them (default: the data folder, COURSE_DATA_DIR or data/)")
    p.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR_OR_ARCHIVE",
                   help="install from this staged copy instead of downloading")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = tuple(dict.fromkeys(args.names)) or NAMES
    dest = (args.to or data_dir()).expanduser().resolve()
    where = f"from {args.source}" if args.source else "by download"
    print(f"Datasets into {dest} ({where}):")
    try:
        if args.source is not None:
            outcomes = install_from(args.source, dest, names)
        else:
            outcomes = []
            for name in names:  # one at a time, so the learner sees progress
                outcomes.append(download(name, dest))
                _report(outcomes[-1])
    except OSError as err:  # a read-only or full destination
        print(f"  failed: cannot write to {dest} ({type(err).__name__}: {err}); choose another folder with --to")
        return 1
    if args.source is not None:
        for outcome in outcomes:
            _report(outcome)
    failed = [o.name for o in outcomes if o.result == "failed"]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} failed: {', '.join(failed)}.")
        return 1
    if args.to is not None and args.to.expanduser().resolve() != data_dir():
        print(f"Done. Use this copy with COURSE_DATA_DIR={dest}, or install it on another "
              f"machine with: python -m course_utils fetch-data --from {dest}")
    return 0


def _dataset_name(text: str) -> str:
    name = text.lower().replace("-", "_")
    if name not in NAMES:
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; choose from {', '.join(NAMES)}")
    return name


def _report(outcome: Outcome) -> None:
    print(f"  {outcome.name:<14} {outcome.result:<8} {outcome.detail}")
