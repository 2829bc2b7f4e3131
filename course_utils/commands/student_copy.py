"""``python -m course_utils student-copy``: the notebooks with their solutions replaced by stubs.

The instructor's notebooks in ``notebooks/`` stay the source and are never
modified; the copies go to ``student/`` (git-ignored) or ``--out DIR``. A
copy runs top to bottom before the learner has written anything: each check
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

from course_utils.config import REPO_ROOT


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "student-copy",
        allow_abbrev=False,  # options only as written: --data is never taken for --data-dir
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
            "instructor's notebooks are the source and are not modified. Run again, a copy "
            "that is already up to date is left alone; if a copy differs (the learner has "
            "edited it), nothing is written and those copies are listed: --force replaces them."
        ),
    )
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                   help="notebooks to copy (default: every NN_name.ipynb in notebooks/)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "student", metavar="DIR",
                   help="where to write the copies (default: student/ at the repository root)")
    p.add_argument("--force", action="store_true",
                   help="replace copies in --out that differ from a fresh student copy (the learner's "
                        "edited work is lost); without it, nothing is written when one differs. A link "
                        "to an instructor's notebook is never written, even with --force")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:  # nbformat, imported here so that a missing one stops this command only
        import course_utils.student  # noqa: F401
    except ModuleNotFoundError as err:
        print(f"error: student-copy needs {err.name}, which is not installed; fix: "
              f"python -m pip install {err.name}", file=sys.stderr)
        return 1
    paths = list(dict.fromkeys(args.notebooks)) or sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"No notebooks to copy: {REPO_ROOT / 'notebooks'} holds no NN_name.ipynb.")
        return 1
    problem = _prepare_out(args.out)
    if problem:
        print(f"error: --out {args.out} {problem}", file=sys.stderr)
        return 2
    copies, failed = _make_copies(paths, args.out)  # 1. every copy, in memory
    states = _check_targets(copies, paths, args.force)  # 2. every place, before writing
    if states is None:
        print(f"Nothing was written to {args.out}.")
        return 1
    failed = _write_copies(copies, states) or failed  # 3. write
    if not failed:
        print(f"Hand out {args.out}; the notebooks in {REPO_ROOT / 'notebooks'} keep the solutions.")
    return 1 if failed else 0


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
