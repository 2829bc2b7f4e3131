"""nbgrader grades the course's notebooks as they are: its cell metadata, its stubs, its scores.

Each exercise is three cells: the question (locked), the answer (a solution
cell) and the check (a graded test cell worth one point). Under nbgrader a
check that does not pass raises, so that nbgrader sees the failure; at a
learner's desk it prints one line and "Run All" goes on.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.config import REPO_ROOT
from course_utils.exercises import NotPassedError
from course_utils.exercises import conv_arithmetic as ex
from course_utils.student import BEGIN, TOP_LEVEL_STUB, student_notebook

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = re.compile(r"\bex\.(\w+)\.check\(")


def nbgrader_metadata(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
                      points: int | None = None) -> dict:
    """The ``nbgrader`` entry of a cell's metadata, as nbgrader's own toolbar writes it (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    return meta | ({"points": points} if points is not None else {})


def expected_metadata(nb: nbformat.NotebookNode) -> list[dict | None]:
    """For each cell, the nbgrader metadata it should carry (None: none).

    An exercise is the cell tagged ``solution`` with its neighbours: the cell
    before asks the question (``ex.NAME.question()``), the cell after checks
    (``ex.NAME.check(...)``).
    """
    wanted: list[dict | None] = [None] * len(nb.cells)
    for i, cell in enumerate(nb.cells):
        if "solution" in cell.metadata.get("tags", []):
            name = CHECK.search(nb.cells[i + 1].source)[1]
            assert f"ex.{name}.question()" in nb.cells[i - 1].source, f"cell {i - 1} should ask {name}"
            wanted[i - 1] = nbgrader_metadata(f"{name}_question", locked=True)
            wanted[i] = nbgrader_metadata(f"{name}_answer", solution=True)
            wanted[i + 1] = nbgrader_metadata(f"{name}_check", grade=True, locked=True, points=1)
    return wanted


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_carries_nbgrader_metadata_and_no_other_cell_does(path):
    nb = nbformat.read(path, as_version=4)
    wanted = expected_metadata(nb)
    assert sum(w is not None for w in wanted) >= 9, f"{path.name}: fewer than three exercises found"
    for i, (cell, meta) in enumerate(zip(nb.cells, wanted)):
        assert cell.metadata.get("nbgrader") == meta, (
            f"{path.name}, cell {i} ({cell.source[:50]!r}): its metadata should have "
            f'"nbgrader": {meta} (see CONTRIBUTING.md, "Exercises")')


def test_a_check_raises_only_while_nbgrader_grades(monkeypatch):
    assert not ex.output_size.check(54)  # at a desk: a line, no exception
    for mode in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        with pytest.raises(NotPassedError, match=r"\[not yet\] output_size: one short"):
            ex.output_size.check(54)
        with pytest.raises(NotPassedError, match=r"\[not done yet\] output_size: replace the `\.\.\.`"):
            ex.output_size.check(...)
        assert ex.output_size.check(55).passed  # a right answer never raises
    monkeypatch.setenv("NBGRADER_EXECUTION", "something else")
    assert not ex.output_size.check(54)


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` on the course folder ``course``, failing the test with its log on an error."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                          cwd=course, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[ERROR]" not in done.stderr and "| ERROR]" not in done.stderr, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder with every notebook as one assignment, ``resnet``, released by nbgrader."""
    pytest.importorskip("nbgrader")
    root = tmp_path_factory.mktemp("course")
    (root / "source" / "resnet").mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy(path, root / "source" / "resnet" / path.name)
    nbgrader(root, "generate_assignment", "resnet")
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nbgrader_releases_each_notebook_with_the_stubs_of_student_copy(course, path):
    released = nbformat.read(course / "release" / "resnet" / path.name, as_version=4)
    student = [c for c in student_notebook(nbformat.read(path, as_version=4), path.name).cells
               if c.metadata.get("nbgrader", {}).get("solution")]
    answers = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == len(student) >= 3
    for mine, theirs in zip(student, answers):
        assert BEGIN not in theirs.source
        # nbgrader's stub raises at the top level too, so "Run All" stops at the first exercise
        # there; a student copy declares `answer = ...` and runs on. Otherwise they are the same.
        top_level = "\n".join(TOP_LEVEL_STUB) + "\nraise NotImplementedError()"
        assert theirs.source.replace(top_level, "\n".join(TOP_LEVEL_STUB)) == mine.source


def submit(course: Path, student: str, answers: dict[str, str]) -> None:
    """Hand in notebook 01 as ``student``: the released copy with ``answers`` (grade_id: source) filled in."""
    name = "01_conv2d_output_size.ipynb"
    nb = nbformat.read(course / "release" / "resnet" / name, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    folder = course / "submitted" / student / "resnet"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / name)


def test_nbgrader_autograde_scores_blank_zero_right_full_and_a_typical_slip_partly(course, monkeypatch):
    """Notebook 01 (seven exercises, no training) handed in three times and graded by nbgrader."""
    from nbgrader.api import Gradebook

    source = nbformat.read(REPO_ROOT / "notebooks" / "01_conv2d_output_size.ipynb", as_version=4)
    right = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    slips = right | {  # forgetting the + 1, and the dilation: two of the seven answers
        "output_size_answer": "answer = (224 + 2 * 2 - 11) // 4",
        "conv_out_answer": "def conv_out(n, k, s=1, p=0, d=1):\n    return (n + 2 * p - k) // s + 1",
    }
    submit(course, "blank", {})
    submit(course, "right", right)
    submit(course, "slips", slips)
    monkeypatch.setenv("COURSE_SMOKE", "1")
    log = nbgrader(course, "autograde", "resnet", "--notebook=01_conv2d_output_size").stderr
    assert "cannot be converted" not in log, "a check's line must not be read as its cell's points"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {s: book.find_submission("resnet", s).score for s in ("blank", "right", "slips")}
    assert scores == {"blank": 0, "right": 7, "slips": 5}
    graded = nbformat.read(course / "autograded" / "slips" / "resnet" / "01_conv2d_output_size.ipynb", as_version=4)
    check = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "output_size_check")
    assert "[not yet] output_size: one short" in str(check.outputs), "the feedback says what is wrong"
    passed = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "stride_padding_check")
    assert [o.output_type for o in passed.outputs] == ["stream"] and "[right]" in passed.outputs[0].text
