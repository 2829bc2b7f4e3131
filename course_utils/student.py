"""Student copies of the notebooks: the solutions replaced by stubs to fill in.

The instructor's notebooks hold the solutions, so they run top to bottom. In a
cell tagged ``solution`` each region between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` becomes a stub, at the same indentation. A region in
top-level code becomes a comment only, so the ``answer = ...`` declared before
it stays ``...`` and the check below says "not done yet"::

    answer = ...  # your answer            answer = ...  # your answer
    ### BEGIN SOLUTION                 ->  # YOUR CODE HERE
    answer = 15 * 5 * 5
    ### END SOLUTION

A region inside a function or method body (indented) also gets a ``raise``,
since a body needs a statement; the check catches it and says "not done yet"::

    def conv_out(n, k, s=1, p=0):          def conv_out(n, k, s=1, p=0):
        ### BEGIN SOLUTION                     # YOUR CODE HERE
        return (n + 2 * p - k) // s + 1  ->      raise NotImplementedError()
        ### END SOLUTION

So a student copy runs top to bottom ("Run All") before anything is filled
in. For that, every name a top-level region assigns must be declared
``name = ...`` before the region, in the same cell (else a later cell would
meet a ``NameError``); ``undeclared_names`` finds those that are not, and the
copy is refused. The markers must be exact: a near miss such as
``###BEGIN SOLUTION`` or ``### begin solution`` is refused too, since it would
leave the solution in the copy.

A solution cell without markers is replaced whole (a markdown one by "YOUR
ANSWER HERE"; a code one counts as one top-level region). Everything else is
unchanged, except that outputs are cleared, a note at the top says this is a
student copy, and a cell after the set-up cell calls ``hide_solutions()`` so
that ``ex.NAME.solution()`` says to ask the instructor.

Running it again never loses work. The copy is built in memory first and
compared with the file already at its place: the same bytes are left alone
("unchanged"); different bytes (the learner's edits, or a copy of an older
notebook) are replaced only when asked (``force=True``, ``--force``). A
place that is the instructor's notebook itself, or a hard or symbolic link
to it, is never written, and every write goes to a new file renamed over
the old name, so it cannot write through a link into another file.

>>> print(stub_solutions("x = ...\\n### BEGIN SOLUTION\\nx = 2\\n### END SOLUTION"))
x = ...
# YOUR CODE HERE
>>> print(stub_solutions("def f():\\n    ### BEGIN SOLUTION\\n    return 2\\n    ### END SOLUTION"))
def f():
    # YOUR CODE HERE
    raise NotImplementedError()
"""
from __future__ import annotations

import ast
import json
import os
import re
import secrets
from pathlib import Path
from typing import Iterable

import nbformat

__all__ = ["BEGIN", "END", "TOP_LEVEL_STUB", "BODY_STUB", "CODE_STUB", "MARKDOWN_STUB", "HIDE_CELL",
           "SolutionMarkerError", "NotANotebookError", "WouldOverwriteError", "solution_regions",
           "stub_solutions", "undeclared_names", "is_solution_cell", "notebook_paths", "read_notebook",
           "student_notebook", "student_copy_bytes", "instructor_notebook_at", "target_state", "replace_file",
           "write_student_copy"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TOP_LEVEL_STUB = ["# YOUR CODE HERE"]
BODY_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
CODE_STUB = BODY_STUB  # the older name
MARKDOWN_STUB = "YOUR ANSWER HERE"
HIDE_CELL = "from course_utils.exercises import hide_solutions; hide_solutions()  # student copy"

#: Anything that looks like a marker: a '#' run, then begin/end and solution, any case, any
#: spacing, underscores or hyphens between the words.
_MARKER_LIKE = re.compile(r"#+[\s_-]*(begin|end)[\s_-]*solution", re.IGNORECASE)
#: The ids of the two cells a student copy adds: fixed, so that the same notebook always gives
#: the same bytes and a second run can tell an unedited copy from an edited one.
NOTE_ID, HIDE_ID = "student-copy-note", "student-copy-hide"


class SolutionMarkerError(ValueError):
    """Solution markers that cannot be stubbed safely: unbalanced, misspelt, or a top-level
    region that assigns a name not declared ``name = ...`` before it."""


class NotANotebookError(ValueError):
    """A file that is not a Jupyter notebook: not JSON, or JSON of another shape."""


class WouldOverwriteError(ValueError):
    """Writing a student copy would lose something: the instructor's notebook (the copy's place is
    that file, or a link to it), or a different file already there (the learner's work)."""


def solution_regions(source: str) -> list[tuple[int, int, str]]:
    """The marked regions of ``source`` as (BEGIN line index, END line index, indentation).

    Raises ``SolutionMarkerError`` for an unbalanced marker, and for a near miss
    (``###BEGIN SOLUTION``, ``#### BEGIN SOLUTION``, ``### begin solution``,
    ``###  BEGIN SOLUTION``, a marker after code on its line): the exact markers
    are ``### BEGIN SOLUTION`` and ``### END SOLUTION``, alone on their line,
    indented like the code.

    >>> solution_regions("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION")
    [(1, 3, '    ')]
    """
    regions, begin = [], None
    for index, line in enumerate(source.splitlines()):
        marker, number = line.strip(), index + 1
        if marker not in (BEGIN, END):
            if _MARKER_LIKE.search(line):
                raise SolutionMarkerError(
                    f"line {number}: {marker!r} looks like a solution marker but is not one, so "
                    f"the solution would stay in the student copy. Write {BEGIN!r} or {END!r} "
                    "exactly (three #, one space, capitals), alone on the line.")
            continue
        if marker == BEGIN:
            if begin is not None:
                raise SolutionMarkerError(f"line {number}: {BEGIN} inside another solution region "
                                          f"(the one from line {begin[0] + 1}): close it with {END} first")
            begin = (index, line[: len(line) - len(line.lstrip())])
        else:
            if begin is None:
                raise SolutionMarkerError(f"line {number}: {END} without a {BEGIN} before it")
            regions.append((begin[0], index, begin[1]))
            begin = None
    if begin is not None:
        raise SolutionMarkerError(f"line {begin[0] + 1}: {BEGIN} without a matching {END}")
    return regions


def stub_solutions(source: str, stub: list[str] | None = None) -> str:
    """``source`` with each marked solution region replaced by a stub, indented like the marker.

    The stub is ``TOP_LEVEL_STUB`` (a comment) for a region at indentation 0 and
    ``BODY_STUB`` (the comment and ``raise NotImplementedError()``) for an
    indented one; ``stub`` replaces both (a markdown cell's "YOUR ANSWER HERE").
    """
    lines = source.splitlines()
    out, previous = [], 0
    for begin, end, indent in solution_regions(source):
        chosen = stub if stub is not None else TOP_LEVEL_STUB if not indent else BODY_STUB
        out += lines[previous:begin] + [indent + s for s in chosen]
        previous = end + 1
    return "\n".join(out + lines[previous:])


def _python(lines: list[str]) -> ast.Module:
    """``lines`` parsed as Python, IPython's ``%magic`` and ``!shell`` lines read as ``pass``."""
    code = [("pass" if line.lstrip().startswith(("%", "!")) else line) for line in lines]
    return ast.parse("\n".join(code))


def _bound_names(body: list[ast.stmt]) -> list[str]:
    """Names that statements at module level bind (assignments, for, with, def, class, import).

    Function and class bodies, lambdas and comprehensions are their own scopes: not looked into.
    """
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            arguments = getattr(node, "args", None)
            for part in [*node.decorator_list, *getattr(arguments, "defaults", []), *getattr(node, "bases", [])]:
                visit(part)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in body:
        visit(statement)
    return list(dict.fromkeys(names))


def _declared_names(body: list[ast.stmt]) -> set[str]:
    """Names assigned ``...`` at module level: ``answer = ...``, ``a = b = ...``, ``a, b = ..., ...``."""
    declared: set[str] = set()
    is_dots = lambda node: isinstance(node, ast.Constant) and node.value is Ellipsis  # noqa: E731
    for statement in body:
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
            continue
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if isinstance(target, ast.Name) and is_dots(statement.value):
                declared.add(target.id)
            elif (isinstance(target, ast.Tuple) and isinstance(statement.value, ast.Tuple)
                  and len(target.elts) == len(statement.value.elts)):
                declared.update(t.id for t, v in zip(target.elts, statement.value.elts)
                                if isinstance(t, ast.Name) and is_dots(v))
    return declared


def undeclared_names(source: str) -> list[str]:
    """Names a top-level solution region assigns without ``name = ...`` before it in the cell.

    In the student copy a top-level region becomes a comment, so such a name
    would not exist and the cell that uses it would stop with a ``NameError``.
    A cell without markers counts as one top-level region. Indented regions
    (function bodies) bind no names of the notebook and are not looked at.

    >>> undeclared_names("answer = ...\\n### BEGIN SOLUTION\\nanswer = 2\\n### END SOLUTION")
    []
    >>> undeclared_names("answer = ...\\n### BEGIN SOLUTION\\nn = 2\\nanswer = n * n\\n### END SOLUTION")
    ['n']
    """
    lines = source.splitlines()
    regions = [(b, e) for b, e, indent in solution_regions(source) if not indent]
    if not regions and BEGIN not in source:
        regions = [(-1, len(lines))]  # the whole cell is the solution
    missing: list[str] = []
    for begin, end in regions:
        try:
            declared = _declared_names(_python(lines[:max(begin, 0)]).body)
            bound = _bound_names(_python(lines[begin + 1:end]).body)
        except SyntaxError as err:
            raise SolutionMarkerError(
                f"line {begin + 1 + (err.lineno or 0)}: the solution region (or the code before it) "
                f"is not Python on its own ({err.msg}). A top-level region must hold whole "
                "statements.") from None
        missing += [name for name in bound if name not in declared and name not in missing]
    return missing


def is_solution_cell(cell) -> bool:
    """Tagged ``solution``, or holding solution markers (a forgotten tag must not leak an answer)."""
    return "solution" in cell.metadata.get("tags", []) or BEGIN in cell.source


def student_notebook(nb: nbformat.NotebookNode, source_name: str) -> nbformat.NotebookNode:
    """A student version of ``nb`` (which is not modified); ``source_name`` is named in the note."""
    student = nbformat.from_dict(nb)  # a deep copy
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        try:
            solution_regions(cell.source)  # a misspelt marker in any cell would leak a solution
            if not is_solution_cell(cell):
                continue
            if cell.cell_type != "code":
                cell.source = (stub_solutions(cell.source, [MARKDOWN_STUB]) if BEGIN in cell.source
                               else MARKDOWN_STUB)
                continue
            missing = undeclared_names(cell.source)
            if missing:
                declare = " = ".join(missing) + " = ..."
                raise SolutionMarkerError(
                    f"the solution assigns {', '.join(missing)} at top level, which the student "
                    f"copy would not define (a later cell would meet a NameError). Declare "
                    f"`{declare}` before {BEGIN} in this cell, so that the copy keeps them as `...` "
                    "(the checks say 'not done yet'), or move the work into a function.")
            cell.source = stub_solutions(cell.source) if BEGIN in cell.source else "\n".join(TOP_LEVEL_STUB)
        except SolutionMarkerError as err:
            raise SolutionMarkerError(f"{source_name}, cell {index}: {err}") from None
    setup = next((i for i, c in enumerate(student.cells)
                  if c.cell_type == "code" and 'find_spec("course_utils")' in c.source), None)
    if setup is None:  # no Colab set-up cell: hide the solutions before the first code cell
        setup = next((i - 1 for i, c in enumerate(student.cells) if c.cell_type == "code"), len(student.cells))
    student.cells.insert(setup + 1, nbformat.v4.new_code_cell(HIDE_CELL, id=_free_id(HIDE_ID, student)))
    title = 1 if student.cells and student.cells[0].cell_type == "markdown" else 0
    student.cells.insert(title, nbformat.v4.new_markdown_cell(id=_free_id(NOTE_ID, student), source=
        f"> **Student copy** of `{source_name}`. It runs top to bottom as it is: each check "
        "says \"not done yet\" until you answer. Where a cell says `answer = ...`, replace the "
        "`...` with your answer (working lines, if you need some, go where `# YOUR CODE HERE` "
        "is). Inside a function or a class, replace `# YOUR CODE HERE` and the "
        "`raise NotImplementedError()` under it with your code. Then run the cell and the check "
        "below it. For a hint, remove the `#` from `# ex.NAME.hint()` and run that cell; for a "
        "solution, ask your instructor. (Made by `python -m course_utils student-copy`; the "
        "instructor's notebook is the source: edit that one, not this copy.)"))
    nbformat.validate(student)
    return student


def _free_id(wanted: str, nb: nbformat.NotebookNode) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``... when a cell of ``nb`` already has that id."""
    taken = {cell.get("id") for cell in nb.cells}
    candidates = [wanted] + [f"{wanted}-{n}" for n in range(2, len(taken) + 3)]
    return next(c for c in candidates if c not in taken)


def notebook_paths(arguments: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """The notebooks that command-line ``arguments`` name, each once, a folder standing for every
    ``NN_name.ipynb`` in it; and the folders that hold none.

    A path that is not a folder is kept as it is: a missing or broken notebook is
    reported, with the others, when it is read.

    >>> paths, empty = notebook_paths([Path("01_conv2d_output_size.ipynb")] * 2)
    >>> [path.name for path in paths], empty
    (['01_conv2d_output_size.ipynb'], [])
    """
    paths, empty = [], []
    for argument in arguments:
        if argument.is_dir():
            found = sorted(argument.glob("[0-9][0-9]_*.ipynb"))
            paths += found
            if not found:
                empty.append(argument)
        else:
            paths.append(argument)
    return list(dict.fromkeys(paths)), empty


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path`` (as format 4), or a ``NotANotebookError`` saying what is wrong.

    A notebook is a JSON object with an ``nbformat`` version, ``metadata`` and a
    list of ``cells``; it is checked against nbformat's schema before it is used,
    so that a stray JSON file is reported, not half-copied.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotANotebookError(f"not a notebook: it is not JSON ({err})") from None
    if not isinstance(data, dict) or data.get("nbformat") not in (3, 4):  # what Jupyter writes
        raise NotANotebookError("not a notebook: a notebook is a JSON object with an 'nbformat' "
                                "version (4, or 3), 'metadata' and a list of 'cells'")
    try:
        nb = nbformat.reads(text, as_version=4)  # upgrades a version 3 notebook
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        raise NotANotebookError(f"not a valid notebook: {err.message}") from None
    except (TypeError, AttributeError, KeyError) as err:  # how nbformat meets, e.g., "cells": 3
        raise NotANotebookError(f"not a notebook: its JSON has another shape ({type(err).__name__}: "
                                f"{err})") from None
    return nb


def student_copy_bytes(path: Path) -> tuple[bytes, int]:
    """The student copy of notebook ``path`` as the bytes of its file, and the solution cells stubbed.

    Nothing is written: the caller compares these bytes with what is already on
    disk before writing anything (``target_state``). The bytes are what
    ``nbformat.write`` writes, and the same notebook always gives the same bytes.
    """
    path = Path(path)
    nb = read_notebook(path)
    text = nbformat.writes(student_notebook(nb, path.name))
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8"), sum(1 for c in nb.cells if is_solution_cell(c))


def instructor_notebook_at(target: Path, sources: Iterable[Path]) -> Path | None:
    """The notebook among ``sources`` that ``target`` is, or None.

    Paths are not enough: a hard link has its own path but shares the file, so
    the files themselves are compared (``os.path.samefile``: the same device
    and inode, after following a symbolic link).
    """
    for source in sources:
        try:
            if os.path.samefile(target, source):
                return Path(source)
        except OSError:  # one of them is missing (or a broken link): not the same file
            continue
    return None


def target_state(target: Path, data: bytes, sources: Iterable[Path] = ()) -> str:
    """What writing ``data`` to ``target`` would do: ``"new"``, ``"unchanged"`` or ``"replace"``.

    ``"replace"`` means a different file is there (the learner's work, or a copy
    of an older notebook): only ``force`` may replace it. Raises
    ``WouldOverwriteError`` when ``target`` is one of ``sources`` (the
    instructor's notebook itself, or a hard or symbolic link to it) or a
    folder: those are never replaced, forced or not.

    >>> target_state(Path("no-such-file.ipynb"), b"{}")
    'new'
    """
    target = Path(target)
    source = instructor_notebook_at(target, sources)
    if source is not None:
        if target.is_symlink() or target.resolve() != source.resolve():
            kind = "a symbolic link" if target.is_symlink() else "a hard link"
            how = (f"{target} is {kind} to it, and writing there could change the notebook. Remove "
                   f"that link (removing {target} leaves the instructor's notebook as it is) or choose "
                   "another --out")
        else:
            how = f"{target} is that notebook: choose another --out"
        raise WouldOverwriteError(f"refusing to overwrite the instructor's notebook {source}: {how} "
                                  "(--force does not change this)")
    if target.is_dir():
        raise WouldOverwriteError(f"{target} is a folder, where the student copy should go: "
                                  "move it away or choose another --out")
    if not os.path.lexists(target):
        return "new"
    try:
        on_disk = target.read_bytes()
    except OSError:  # a broken symbolic link, or a file that cannot be read: something would be lost
        return "replace"
    return "unchanged" if on_disk == data or _without_ids(on_disk) == _without_ids(data) else "replace"


def _without_ids(data: bytes) -> object:
    """A notebook's JSON with its cell ids left out, to compare contents (None if not JSON).

    Copies made by older versions gave the two added cells random ids: the same
    copy, unedited, differs from today's only there, and must not count as edited.
    """
    try:
        nb = json.loads(data)
        for cell in nb["cells"]:
            cell.pop("id", None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return nb


def replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` as a new file, renamed over whatever had that name.

    The rename (``os.replace``) swaps the name, never the file behind it: a
    hard or symbolic link at ``target`` is replaced by the new file, and the
    file it pointed to is not touched. A reader never sees half a notebook.
    """
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # never an existing file
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_student_copy(path: Path, out_dir: Path, *, force: bool = False) -> tuple[Path, int]:
    """Write the student copy of notebook ``path`` into ``out_dir``; returns (path, stubs made).

    An identical copy already there is left as it is. A different file there
    (the learner's work) raises ``WouldOverwriteError`` unless ``force=True``;
    the instructor's notebook, or a link to it, is never written.

    >>> write_student_copy(Path("notebooks/01_conv2d_output_size.ipynb"), Path("student"))  # doctest: +SKIP
    (PosixPath('student/01_conv2d_output_size.ipynb'), 5)
    """
    path, out_dir = Path(path), Path(out_dir)
    data, stubs = student_copy_bytes(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    state = target_state(target, data, [path])
    if state == "replace" and not force:
        raise WouldOverwriteError(f"refusing to replace {target}: it differs from the student copy "
                                  "(the learner's edits?). Move it away, or pass force=True to replace it")
    if state != "unchanged":
        replace_file(target, data)
    return target, stubs
