"""Student copies of the notebooks: the solutions replaced by stubs to fill in.

The instructor's notebooks hold the solutions, so they run top to bottom. In a
cell tagged ``solution`` each region between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` becomes a stub, at the same indentation::

    def conv_out(n, k, s=1, p=0):          def conv_out(n, k, s=1, p=0):
        ### BEGIN SOLUTION                     # YOUR CODE HERE
        return (n + 2 * p - k) // s + 1  ->      raise NotImplementedError
        ### END SOLUTION

A solution cell without markers is replaced whole (a markdown one by "YOUR
ANSWER HERE"). Everything else is unchanged, except that outputs are cleared,
a note at the top says this is a student copy, and a cell after the set-up
cell calls ``hide_solutions()`` so that ``ex.NAME.solution()`` says to ask the
instructor. The exercise checks report a stub as "not done yet".

>>> print(stub_solutions("x = ...\\n### BEGIN SOLUTION\\nx = 2\\n### END SOLUTION"))
x = ...
# YOUR CODE HERE
raise NotImplementedError
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

__all__ = ["BEGIN", "END", "CODE_STUB", "MARKDOWN_STUB", "HIDE_CELL", "SolutionMarkerError",
           "NotANotebookError", "stub_solutions", "is_solution_cell", "read_notebook",
           "student_notebook", "write_student_copy"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError"]
MARKDOWN_STUB = "YOUR ANSWER HERE"
HIDE_CELL = "from course_utils.exercises import hide_solutions; hide_solutions()  # student copy"


class SolutionMarkerError(ValueError):
    """A ``### BEGIN SOLUTION`` without its ``### END SOLUTION`` (or the reverse)."""


class NotANotebookError(ValueError):
    """A file that is not a Jupyter notebook: not JSON, or JSON of another shape."""


def stub_solutions(source: str, stub: list[str] = CODE_STUB) -> str:
    """``source`` with each marked solution region replaced by ``stub``, indented like the marker."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if inside:
                raise SolutionMarkerError(f"line {number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + s for s in stub]
        elif marker.startswith(END):
            if not inside:
                raise SolutionMarkerError(f"line {number}: {END} without a {BEGIN} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{BEGIN} without a matching {END}")
    return "\n".join(out)


def is_solution_cell(cell) -> bool:
    """Tagged ``solution``, or holding solution markers (a forgotten tag must not leak an answer)."""
    return "solution" in cell.metadata.get("tags", []) or BEGIN in cell.source


def student_notebook(nb: nbformat.NotebookNode, source_name: str) -> nbformat.NotebookNode:
    """A student version of ``nb`` (which is not modified); ``source_name`` is named in the note."""
    student = nbformat.from_dict(nb)  # a deep copy
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not is_solution_cell(cell):
            continue
        stub = CODE_STUB if cell.cell_type == "code" else [MARKDOWN_STUB]
        try:
            cell.source = stub_solutions(cell.source, stub) if BEGIN in cell.source else "\n".join(stub)
        except SolutionMarkerError as err:
            raise SolutionMarkerError(f"{source_name}, cell {index}: {err}") from None
    setup = next((i for i, c in enumerate(student.cells)
                  if c.cell_type == "code" and 'find_spec("course_utils")' in c.source), None)
    if setup is None:  # no Colab set-up cell: hide the solutions before the first code cell
        setup = next((i - 1 for i, c in enumerate(student.cells) if c.cell_type == "code"), len(student.cells))
    student.cells.insert(setup + 1, nbformat.v4.new_code_cell(HIDE_CELL))
    title = 1 if student.cells and student.cells[0].cell_type == "markdown" else 0
    student.cells.insert(title, nbformat.v4.new_markdown_cell(
        f"> **Student copy** of `{source_name}`. Where you see `# YOUR CODE HERE` and "
        "`raise NotImplementedError`, replace those two lines with your code, run the cell, "
        "then run the check below it. `ex.NAME.hint()` gives a hint; for a solution, ask your "
        "instructor. (Made by `python -m course_utils student-copy`; the instructor's notebook "
        "is the source: edit that one, not this copy.)"))
    nbformat.validate(student)
    return student


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


def write_student_copy(path: Path, out_dir: Path) -> tuple[Path, int]:
    """Write the student copy of notebook ``path`` into ``out_dir``; returns (path, stubs made)."""
    path, out_dir = Path(path), Path(out_dir)
    nb = read_notebook(path)
    student = student_notebook(nb, path.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    if target.resolve() == path.resolve():
        raise ValueError(f"refusing to overwrite the instructor's notebook {path}: choose another --out")
    nbformat.write(student, target)
    return target, sum(1 for c in nb.cells if is_solution_cell(c))
