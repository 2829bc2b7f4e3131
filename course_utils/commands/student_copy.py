"""``python -m course_utils student-copy``: the notebooks with their solutions replaced by stubs.

The instructor's notebooks in ``notebooks/`` stay the source and are never
modified; the copies go to ``student/`` (git-ignored) or ``--out DIR``. A
copy runs top to bottom before the learner has written anything: each check
says "not done yet". The work is done in ``course_utils.student``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.config import REPO_ROOT


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "student-copy",
        help=help,
        description=(
            "Write a student version of each notebook: in cells tagged 'solution' the region "
            "between '### BEGIN SOLUTION' and '### END SOLUTION' becomes '# YOUR CODE HERE' "
            "(top-level code: the 'answer = ...' before it stays, so the copy runs top to "
            "bottom) or '# YOUR CODE HERE' / 'raise NotImplementedError' (inside a function "
            "body). A solution cell without markers is replaced whole, ex.NAME.solution() says "
            "'ask your instructor', and outputs are cleared. Everything else is unchanged. A "
            "notebook is refused, naming the cell, for a misspelt or unbalanced marker, or for "
            "a top-level solution that assigns a name not declared 'name = ...' before it. The "
            "instructor's notebooks are the source and are not modified."
        ),
    )
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                   help="notebooks to copy (default: every NN_name.ipynb in notebooks/)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "student", metavar="DIR",
                   help="where to write the copies (default: student/ at the repository root)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:  # nbformat, imported here so that a missing one stops this command only
        from course_utils.student import write_student_copy
    except ModuleNotFoundError as err:
        print(f"error: student-copy needs {err.name}, which is not installed; fix: "
              f"python -m pip install {err.name}", file=sys.stderr)
        return 1
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"No notebooks to copy: {REPO_ROOT / 'notebooks'} holds no NN_name.ipynb.")
        return 1
    problem = _prepare_out(args.out)
    if problem:
        print(f"error: --out {args.out} {problem}", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            target, stubs = write_student_copy(path, args.out)
        except (OSError, ValueError) as err:  # unreadable file, not a notebook, bad markers, --out = notebooks/
            print(f"  failed  {path}: {err}")
            status = 1
            continue
        note = " (no solution cells: copied with outputs cleared)" if stubs == 0 else ""
        print(f"  wrote   {target}: {stubs} solution cell(s) stubbed{note}")
    if status == 0:
        print(f"Hand out {args.out}; the notebooks in {REPO_ROOT / 'notebooks'} keep the solutions.")
    return status


def _prepare_out(out: Path) -> str | None:
    """Create the folder ``out`` if missing; None when the copies can go there, else why not."""
    if out.exists() and not out.is_dir():
        return "is a file, not a folder: pass the folder the student copies should go to"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a parent that is a file, no permission, a read-only disk
        return f"cannot be created ({type(err).__name__}: {err.strerror or err}): choose another folder"
    return None
