"""The course's command line: ``python -m course_utils COMMAND [options]``.

Each command lives in its own module under ``course_utils/commands/`` with two
functions: ``add_parser(subparsers, help)`` declares its arguments (``help`` is
its line in ``python -m course_utils --help``) and ``run(args) -> int`` does
the work and returns the exit status.
``python -m course_utils COMMAND --help`` describes each one.

Only the chosen command's module is imported, so a broken package stops only
the commands that need it: ``doctor`` still runs, and says how to fix it.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (its module in course_utils.commands, the line ``--help`` shows for it)
COMMANDS = {
    "doctor": ("doctor", "check that this machine is ready for the course, and say how to fix what is not"),
    "fetch-data": ("fetch_data", "download the course's datasets once, or install them from a staged copy"),
    "student-copy": ("student_copy", "write student versions of the notebooks, solutions replaced by stubs"),
    "train": ("train", "train a model from the command line, on one device or (under torchrun) many"),
    "site": ("site", "build the course as a static website, every notebook executed, each page stating its scale"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with ``command``'s options; the other commands are listed by name only.

    >>> build_parser("doctor").parse_args(["doctor"]).command
    'doctor'
    """
    parser = argparse.ArgumentParser(
        prog="python -m course_utils", allow_abbrev=False,
        description="ResNet, hands-on: check the set-up, stage datasets, make student copies, train, build the site.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help) in COMMANDS.items():
        if name == command:
            module = _import_command(name, module_name)
            module.add_parser(sub, help=help)
        else:
            sub.add_parser(name, help=help)  # enough for the list that --help prints
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((word for word in argv if not word.startswith("-")), None)  # e.g. "doctor"
    args = build_parser(command).parse_args(argv)
    return args.run(args)


def _import_command(name: str, module_name: str):
    """The command's module, or exit with what did not import and how to find the fix."""
    try:
        return importlib.import_module(f"course_utils.commands.{module_name}")
    except ImportError as err:  # a package the command needs is missing or broken
        what = f"{err.name}, which" if err.name else "a package that"
        sys.exit(f"error: `{name}` needs {what} does not import ({type(err).__name__}: {err}).\n"
                 "Run `python -m course_utils doctor` to see what is wrong and the command that fixes it.")
