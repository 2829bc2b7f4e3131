"""``python -m course_utils student-copy``: solutions become stubs, everything else stays.

Two kinds of notebook: a small one written here (every case of the convention,
executed quickly), and the course's real notebooks (structure checked for all
of them; executed in smoke mode as a slow test).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.cli import main
from course_utils.config import REPO_ROOT, data_dir
from course_utils.exercises import Exercise, hide_solutions
from course_utils.student import (CODE_STUB, HIDE_CELL, MARKDOWN_STUB, SolutionMarkerError,
                                  stub_solutions)

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SETUP = ('# Colab set-up: installs course_utils only when it is missing (a fresh Colab runtime).\n'
         'import importlib.util\n'
         'if importlib.util.find_spec("course_utils") is None:\n'
         '    %pip install -q "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"')
STUB = "\n".join(CODE_STUB)


def code(source: str, *tags: str, outputs=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    cell.outputs = list(outputs)
    return cell


def tiny_notebook(path: Path) -> Path:
    """Every case of the convention: a value, a function, a class with two regions, no markers."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · A tiny notebook\n\nFor the student-copy tests."),
        code(SETUP),
        code("from course_utils.exercises import Exercise, expect_equal\n"
             "value = Exercise('value', 'What is 1 + 1?', expect_equal(2), hint='count', solution='answer = 2')\n"
             "square = Exercise('square', 'Write square(x).', lambda f: None if f(3) == 9 else 'no',\n"
             "                  hint='x times x', solution='multiply x by itself')"),
        code("print('before the first exercise')", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="an old output that must go\n")]),
        code("answer = ...  # replace ... with your answer\n### BEGIN SOLUTION\nanswer = 1 + 1\n### END SOLUTION",
             "solution"),
        code("value.check(answer)"),
        code("# value.solution()", "reveal"),
        code("def square_of(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", "solution"),
        code("square.check(square_of)"),
        code("class Pair:\n    def __init__(self, a):\n        ### BEGIN SOLUTION\n        self.a = a\n"
             "        ### END SOLUTION\n\n    def double(self):\n        ### BEGIN SOLUTION\n"
             "        return 2 * self.a\n        ### END SOLUTION", "solution"),
        code("magic_number = 42", "solution"),
        nbformat.v4.new_markdown_cell("The answer is **two**, because one and one make two.",
                                      metadata={"tags": ["solution"]}),
        code("print('after the exercises')"),
    ]
    nbformat.write(nb, path)
    return path


def by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in nb.cells}


# ---------------------------------------------------------------------------
# The stub itself
# ---------------------------------------------------------------------------

def test_stub_replaces_marked_region_and_keeps_lines_around_it():
    source = "answer = ...  # replace ...\n### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION\nprint(answer)"
    assert stub_solutions(source) == f"answer = ...  # replace ...\n{STUB}\nprint(answer)"


def test_stub_keeps_the_def_line_and_the_region_indentation():
    source = "def f(n):\n    ### BEGIN SOLUTION\n    return n + 1\n    ### END SOLUTION"
    assert stub_solutions(source) == "def f(n):\n    # YOUR CODE HERE\n    raise NotImplementedError"


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
])
def test_unbalanced_markers_are_refused_with_the_reason(source):
    with pytest.raises(SolutionMarkerError, match="SOLUTION"):
        stub_solutions(source)


def test_hide_solutions_makes_every_solution_say_ask_your_instructor(capsys, monkeypatch):
    monkeypatch.setattr(Exercise, "solutions_hidden", False)
    ex = Exercise("padding", "Which padding?", lambda a: None, hint="h", solution="padding = 2")
    ex.solution()
    assert "padding = 2" in capsys.readouterr().out
    hide_solutions()
    ex.solution()
    out = capsys.readouterr().out
    assert "ask your instructor" in out and "padding = 2" not in out
    hide_solutions(False)
    ex.solution()
    assert "padding = 2" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# The command on a tiny notebook
# ---------------------------------------------------------------------------

@pytest.fixture
def copied(tmp_path, capsys):
    source = tiny_notebook(tmp_path / "99_tiny.ipynb")
    before = source.read_bytes()
    assert main(["student-copy", str(source), "--out", str(tmp_path / "student")]) == 0
    assert "5 solution cell(s) stubbed" in capsys.readouterr().out
    assert source.read_bytes() == before, "the instructor's notebook was modified"
    return nbformat.read(source, as_version=4), nbformat.read(tmp_path / "student" / source.name, as_version=4)


def test_student_copy_stubs_every_solution_cell(copied):
    original, student = copied
    cells = by_id(student)
    solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) == 5
    value, function, pair, no_markers, markdown = (cells[c.id].source for c in solutions)
    assert value == f"answer = ...  # replace ... with your answer\n{STUB}"
    assert function == "def square_of(x):\n    # YOUR CODE HERE\n    raise NotImplementedError"
    assert pair.count("raise NotImplementedError") == 2 and "def double(self):" in pair
    assert no_markers == STUB
    assert markdown == MARKDOWN_STUB
    text = nbformat.writes(student)
    for secret in ("answer = 1 + 1", "return x * x", "self.a = a", "magic_number", "**two**", "BEGIN SOLUTION"):
        assert secret not in text


def test_student_copy_keeps_other_cells_clears_outputs_and_says_what_it_is(copied):
    original, student = copied
    nbformat.validate(student)
    cells = by_id(student)
    for cell in original.cells:
        if "solution" not in cell.metadata.get("tags", []):
            assert cells[cell.id].source == cell.source
    assert all(not c.outputs and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert student.cells[0].source.startswith("# 99")
    assert "Student copy" in student.cells[1].source and "ask your instructor" in student.cells[1].source
    setup = next(i for i, c in enumerate(student.cells) if "find_spec" in c.source)
    assert student.cells[setup + 1].source == HIDE_CELL
    assert len(student.cells) == len(original.cells) + 2


def test_student_copy_refuses_to_overwrite_the_instructors_notebooks(tmp_path, capsys):
    source = tiny_notebook(tmp_path / "99_tiny.ipynb")
    before = source.read_bytes()
    assert main(["student-copy", str(source), "--out", str(tmp_path)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().out
    assert source.read_bytes() == before


def test_student_copy_names_the_cell_with_broken_markers(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("### BEGIN SOLUTION\nx = 1", "solution")]
    nbformat.write(nb, tmp_path / "98_broken.ipynb")
    assert main(["student-copy", str(tmp_path / "98_broken.ipynb"), "--out", str(tmp_path / "out")]) == 1
    assert "98_broken.ipynb, cell 0" in capsys.readouterr().out


def test_out_that_is_a_file_fails_once_with_the_reason(tmp_path, capsys):
    sources = [tiny_notebook(tmp_path / "98_a.ipynb"), tiny_notebook(tmp_path / "99_b.ipynb")]
    out = tmp_path / "student.ipynb"
    out.write_text("{}")
    assert main(["student-copy", *map(str, sources), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("error:") == 1
    assert f"--out {out} is a file, not a folder" in captured.err
    assert "failed" not in captured.out and out.read_text() == "{}"


@pytest.mark.parametrize("text, why", [
    ('{"cells": 3}', "not a notebook: a notebook is a JSON object"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}', "not a notebook"),
    ("print('a script saved as .ipynb')", "not a notebook: it is not JSON"),
])
def test_file_that_is_not_a_notebook_is_reported_without_a_traceback(tmp_path, capsys, text, why):
    (tmp_path / "97_odd.ipynb").write_text(text)
    good = tiny_notebook(tmp_path / "99_tiny.ipynb")
    status = main(["student-copy", str(tmp_path / "97_odd.ipynb"), str(good), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 1
    assert f"failed  {tmp_path / '97_odd.ipynb'}: {why}" in out
    assert (tmp_path / "out" / good.name).is_file(), "the good notebook was not copied"


def test_without_nbformat_student_copy_says_how_to_install_it(tmp_path):
    fake = tmp_path / "site" / "nbformat"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'nbformat'\", name='nbformat')\n")
    result = subprocess.run([sys.executable, "-m", "course_utils", "student-copy", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(fake.parent)})
    assert result.returncode == 1
    assert "student-copy needs nbformat" in result.stderr and "python -m pip install nbformat" in result.stderr
    assert "Traceback" not in result.stderr


def execute(path: Path, monkeypatch, timeout: int = 600) -> nbformat.NotebookNode:
    """Run a notebook as a learner's Run All would, but carrying on after errors."""
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_dir()))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def errors_of(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def text_of(cell) -> str:
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


def assert_runs_to_first_stub_and_checks_say_not_done(nb) -> None:
    """Only stubbed solution cells raise (NotImplementedError); every check says 'not done yet'."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    failing = [c for c in code_cells if errors_of(c)]
    assert failing, "no cell raised: the stubs did not run"
    for cell in failing:
        error = errors_of(cell)[0]
        stub = "solution" in cell.metadata.get("tags", []) and "# YOUR CODE HERE" in cell.source
        assert stub and error.ename == "NotImplementedError", (
            f"only stubbed solution cells may fail, with NotImplementedError; this one failed:\n"
            f"{cell.source}\n{error.ename}: {error.evalue}")
    checks = [c for c in code_cells if re.search(r"\.check\(", c.source)]
    assert checks
    for cell in checks:
        assert not errors_of(cell), f"check cell crashed instead of saying 'not done yet': {cell.source}"
        assert "not done yet" in text_of(cell), f"{cell.source!r} printed {text_of(cell)!r}"


def test_student_copy_runs_to_the_first_stub_and_checks_say_not_done_yet(tmp_path, monkeypatch):
    source = tiny_notebook(tmp_path / "99_tiny.ipynb")
    assert main(["student-copy", str(source), "--out", str(tmp_path / "student")]) == 0
    copy = tmp_path / "student" / source.name
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:  # the learner gives up and asks for the solution
        cell.source = cell.source.replace("# value.solution()", "value.solution()")
    nbformat.write(nb, copy)
    nb = execute(copy, monkeypatch, timeout=120)
    assert_runs_to_first_stub_and_checks_say_not_done(nb)
    reveal = next(c for c in nb.cells if "reveal" in c.metadata.get("tags", []))
    assert "ask your instructor" in text_of(reveal) and "answer = 2" not in text_of(reveal)
    assert "before the first exercise" in text_of(nb.cells[5])
    assert "after the exercises" in text_of(nb.cells[-1])


# ---------------------------------------------------------------------------
# The command on the course's notebooks
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    before = {p: p.read_bytes() for p in NOTEBOOKS}
    assert main(["student-copy", "--out", str(out)]) == 0
    assert all(p.read_bytes() == b for p, b in before.items()), "an instructor's notebook was modified"
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_of_course_notebook_has_stubs_and_no_solutions(path, real_copies):
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(real_copies / path.name, as_version=4)
    nbformat.validate(student)
    cells = by_id(student)
    for cell in original.cells:
        copy = cells[cell.id]
        if "solution" not in cell.metadata.get("tags", []):
            assert copy.source == cell.source
            continue
        assert "# YOUR CODE HERE" in copy.source and "BEGIN SOLUTION" not in copy.source
        secret = re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", cell.source, re.S)
        for region in secret:
            for line in region.splitlines():
                if line.strip():
                    assert line not in copy.source.splitlines(), f"solution line left in: {line!r}"
    assert HIDE_CELL in [c.source for c in student.cells]
    assert all(not c.outputs for c in student.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_of_course_notebook_runs_in_smoke_mode_to_first_stub(
        path, real_copies, monkeypatch, mnist_root, cifar_root, fashion_root):
    copy = nbformat.read(real_copies / path.name, as_version=4)
    if not any("# YOUR CODE HERE" in c.source for c in copy.cells if c.cell_type == "code"):
        pytest.skip(f"{path.name} has no exercises: its student copy is the notebook itself")
    nb = execute(real_copies / path.name, monkeypatch)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    first_stub = next(i for i, c in enumerate(code_cells) if "# YOUR CODE HERE" in c.source)
    before = [c.source for c in code_cells[:first_stub] if errors_of(c)]
    assert not before, f"cells before the first exercise failed: {before}"
    assert_runs_to_first_stub_and_checks_say_not_done(nb)
