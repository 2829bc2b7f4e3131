"""``python -m course_utils student-copy``: the notebooks with their solutions replaced by stubs.

The instructor's notebooks stay the source and are never modified. In a
checkout of the course they are every ``notebooks/NN_name.ipynb`` and the
copies go to ``student/`` (git-ignored); name others, or a folder of them,
and choose ``--out DIR``. An installed package does not carry the notebooks,
so there they must be named::

    python -m course_utils student-copy path/to/notebooks/*.ipynb --out student/

A copy runs top to bottom before the learner has written anything: each check
says "not done yet". The work is done in ``course_utils.student``.

Run again, it never loses work: every copy is made in memory and compared with
the file at its place before anything is written. Identical files are left
alone; if any differs (the learner has edited it), nothing is written and the
command lists them: ``--force`` replaces them. The instructor's notebook, or a
hard or symbolic link to it, is never written, forced or not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils import config

#: The command that names the notebooks, for where they are not found by default.
EXPLICIT_COMMAND = "python -m course_utils student-copy path/to/notebooks/*.ipynb --out student/"


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "student-copy",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
        help=help,
        description=(
            "Write a student version of each notebook: in cells tagged 'solution' the region "
            "between '### BEGIN SOLUTION' and '### END SOLUTION' becomes '# YOUR CODE HERE' "
            "(top-level code: the 'answer = ...' before it stays, so the copy runs top to "
            "bottom) or '# YOUR CODE HERE' / 'raise NotImplementedError()' (inside a function "
            "body). A solution cell without markers is replaced whole, ex.NAME.solution() says "
            "'ask your instructor', and outputs are cleared. Everything else is unchanged. A "
            "notebook is refused, naming the cell, for a misspelt or unbalanced marker, or for "
            "a top-level solution that assigns a name not declared 'name = ...' before it. The "
            "instructor's notebooks are the source and are not modified. Run again, a copy "
            "that is already up to date is left alone; if a copy differs (the learner has "
            "edited it), nothing is written and those copies are listed: --force replaces them."
        ),
    )
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                   help="notebooks to copy, or folders: every NN_name.ipynb in each (default: the "
                        "checkout's notebooks/; an installed package does not carry them, so name them)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write the copies (default: student/ at the repository root in a "
                        "checkout of the course, else ./student in the current folder)")
    p.add_argument("--force", action="store_true",
                   help="replace copies in --out that differ from a fresh student copy (the learner's "
                        "edited work is lost); without it, nothing is written when one differs. A link "
                        "to an instructor's notebook is never written, even with --force")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:  # nbformat, imported here so that a missing one stops this command only
        from course_utils.student import notebook_paths
    except ModuleNotFoundError as err:
        print(f"error: student-copy needs {err.name}, which is not installed; fix: "
              f"python -m pip install {err.name}", file=sys.stderr)
        return 1
    checkout = config.checkout_root()
    if not args.notebooks and (checkout is None or not (checkout / "notebooks").is_dir()):
        print(_notebooks_not_found(checkout), file=sys.stderr)
        return 2
    paths, empty = notebook_paths(args.notebooks or [checkout / "notebooks"])
    for folder in empty:
        print(f"No notebooks to copy: {folder} holds no NN_name.ipynb.")
    if empty or not paths:
        return 1
    out = args.out or (checkout / "student" if checkout else Path.cwd() / "student")
    problem = _prepare_out(out)
    if problem:
        print(f"error: --out {out} {problem}", file=sys.stderr)
        return 2
    copies, failed = _make_copies(paths, out)  # 1. every copy, in memory
    states = _check_targets(copies, paths, args.force)  # 2. every place, before writing
    if states is None:
        print(f"Nothing was written to {out}.")
        return 1
    failed = _write_copies(copies, states) or failed  # 3. write
    if not failed:
        sources = ", ".join(dict.fromkeys(str(path.parent) for path in paths))
        print(f"Hand out {out}; the notebooks in {sources} keep the solutions.")
    return 1 if failed else 0


def _notebooks_not_found(checkout: Path | None) -> str:
    """Why no NOTEBOOK argument is not enough here, and the command that names them."""
    looked = config.REPO_ROOT / "notebooks"
    where = ("course_utils is installed as a package here, not run from a checkout of the course, "
             "and an installed package does not carry the notebooks" if checkout is None else
             f"{checkout} has no notebooks/ folder")
    return (f"error: no NOTEBOOK given, and the course's notebooks were not found where they were "
            f"looked for ({looked}): {where}. Name them, or the folder that holds them:\n"
            f"  {EXPLICIT_COMMAND}")


def _make_copies(paths: list[Path], out: Path) -> tuple[dict[Path, tuple[Path, bytes, int]], bool]:
    """Each notebook's student copy, in memory: ``{target: (source, bytes, stubbed cells)}``, and
    whether any failed (an unreadable file, not a notebook, bad markers: each is printed)."""
    from course_utils.student import student_copy_bytes
    copies: dict[Path, tuple[Path, bytes, int]] = {}
    failed = False
    for path in paths:
        target = out / path.name
        try:
            if target in copies:
                raise ValueError(f"{copies[target][0]} has the same name and goes to {target} too: "
                                 "copy them into different --out folders")
            data, stubs = student_copy_bytes(path)
        except (OSError, ValueError) as err:
            print(f"  failed  {path}: {err}")
            failed = True
            continue
        copies[target] = (path, data, stubs)
    return copies, failed


def _check_targets(copies: dict, paths: list[Path], force: bool) -> dict[Path, str] | None:
    """Where each copy goes: ``{target: "new" | "unchanged" | "replace"}``, or None (with the
    reasons printed) when any target is refused, or differs from its copy without ``force``."""
    from course_utils.student import WouldOverwriteError, target_state
    states, refused = {}, []
    for target, (_path, data, _stubs) in copies.items():
        try:
            states[target] = target_state(target, data, paths)
        except (OSError, WouldOverwriteError) as err:  # the instructor's notebook, a link, a folder
            refused.append(f"  refused {target}: {err}")
    differ = [target for target, state in states.items() if state == "replace"]
    if not refused and (force or not differ):
        return states
    for line in refused:
        print(line)
    if differ and not force:
        print("  refused to replace these files: each differs from the student copy that would be "
              "written (the learner's edits, or a copy of an older notebook):")
        print("\n".join(f"    {target}" for target in differ))
        print("  To keep that work, move those files away first; to replace them, run again with --force.")
    return None


def _write_copies(copies: dict, states: dict[Path, str]) -> bool:
    """Write every copy that is new or replaces another; True when any could not be written."""
    from course_utils.student import replace_file
    failed = False
    for target, state in states.items():
        path, data, stubs = copies[target]
        if state == "unchanged":
            print(f"  unchanged {target}: already this student copy")
            continue
        try:
            replace_file(target, data)
        except OSError as err:  # no permission, a full or read-only disk
            print(f"  failed  {path}: cannot write {target} ({type(err).__name__}: {err.strerror or err})")
            failed = True
            continue
        note = " (no solution cells: copied with outputs cleared)" if stubs == 0 else ""
        verb = "replaced" if state == "replace" else "wrote  "
        print(f"  {verb} {target}: {stubs} solution cell(s) stubbed{note}")
    return failed


def _prepare_out(out: Path) -> str | None:
    """Create the folder ``out`` if missing; None when the copies can go there, else why not."""
    if out.exists() and not out.is_dir():
        return "is a file, not a folder: pass the folder the student copies should go to"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a parent that is a file, no permission, a read-only disk
        return f"cannot be created ({type(err).__name__}: {err.strerror or err}): choose another folder"
    return None
