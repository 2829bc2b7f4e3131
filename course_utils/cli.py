"""The course's command line: ``python -m course_utils COMMAND [options]``.

Each command lives in its own module under ``course_utils/commands/`` with two
functions: ``add_parser(subparsers)`` declares its arguments and
``run(args) -> int`` does the work and returns the exit status.
``python -m course_utils COMMAND --help`` describes each one.
"""
from __future__ import annotations

import argparse
import importlib

#: command name -> module in course_utils.commands
COMMANDS = {
    "doctor": "doctor",
    "fetch-data": "fetch_data",
    "student-copy": "student_copy",
    "train": "train",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils",
        description="ResNet, hands-on: check the set-up, stage datasets, make student copies, train.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"course_utils.commands.{module_name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
