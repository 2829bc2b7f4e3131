"""PLACEHOLDER for ``python -m course_utils train``: the scaling issue replaces this module.

It only registers the command, so that ``python -m course_utils --help`` lists
it; running it says it is not implemented yet and exits with status 2.
"""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model from the command line (coming with the scaling issue)",
        description="Not implemented yet: this placeholder is replaced by the scaling issue.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("`python -m course_utils train` is not implemented yet (it comes with the scaling issue). "
          "Train in a notebook with course_utils.train.fit for now.")
    return 2
