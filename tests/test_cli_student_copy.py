"""``python -m course_utils student-copy``: solutions become stubs, everything else stays.

Two kinds of notebook: a small one written here (every case of the convention,
executed quickly), and the course's real notebooks (structure checked for all
of them; executed in smoke mode as a slow test).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import config
from course_utils.cli import main
from course_utils.config import REPO_ROOT, data_dir
from course_utils.exercises import Exercise, hide_solutions
from course_utils.student import (
    BODY_STUB,
    HIDE_CELL,
    MARKDOWN_STUB,
    TOP_LEVEL_STUB,
    SolutionMarkerError,
    stub_solutions,
    student_notebook,
    undeclared_names,
    write_student_copy,
)

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SETUP = ('# Colab set-up: installs course_utils only when it is missing (a fresh Colab runtime).\n'
         'import importlib.util\n'
         'if importlib.util.find_spec("course_utils") is None:\n'
         '    %pip install -q "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"')
STUB = "\n".join(TOP_LEVEL_STUB)  # a top-level region: a comment only, `answer` stays `...`
BODY = "\n".join(BODY_STUB)      # in a function body: the comment and the raise


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
        code("# value.hint()"),
        code("# value.solution()", "reveal"),
        code("def square_of(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", "solution"),
        code("square.check(square_of)"),
        code("class Pair:\n    def __init__(self, a):\n        ### BEGIN SOLUTION\n        self.a = a\n"
             "        ### END SOLUTION\n\n    def double(self):\n        ### BEGIN SOLUTION\n"
             "        return 2 * self.a\n        ### END SOLUTION", "solution"),
        code("print(6 * 7)", "solution"),
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

def test_top_level_region_becomes_a_comment_so_the_declared_answer_stays_dots():
    source = "answer = ...  # replace ...\n### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION\nprint(answer)"
    stubbed = stub_solutions(source)
    assert stubbed == "answer = ...  # replace ...\n# YOUR CODE HERE\nprint(answer)"
    namespace: dict = {}
    exec(stubbed, namespace)  # runs: no raise stops "Run All"
    assert namespace["answer"] is ...


def test_region_in_a_function_body_keeps_the_raise_and_the_indentation():
    source = "def f(n):\n    ### BEGIN SOLUTION\n    return n + 1\n    ### END SOLUTION"
    assert stub_solutions(source) == "def f(n):\n    # YOUR CODE HERE\n    raise NotImplementedError()"


def test_one_cell_may_hold_both_kinds_of_region():
    source = ("answer = ...\n### BEGIN SOLUTION\nanswer = 1\n### END SOLUTION\n"
              "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    assert stub_solutions(source) == f"answer = ...\n{STUB}\ndef f():\n    {BODY_STUB[0]}\n    {BODY_STUB[1]}"


@pytest.mark.parametrize("marker", [
    "###BEGIN SOLUTION", "#### BEGIN SOLUTION", "## BEGIN SOLUTION", "### begin solution",
    "### Begin Solution", "###  BEGIN SOLUTION", "### BEGIN  SOLUTION", "### BEGIN SOLUTION:",
    "x = 1  ### BEGIN SOLUTION", "###END SOLUTION", "### end solution",
    "### BEGIN_SOLUTION", "### BEGIN-SOLUTION", "###_END_SOLUTION", "### END-SOLUTION",
])
def test_near_miss_marker_is_refused_so_no_solution_leaks(marker):
    source = f"answer = ...\n{marker}\nanswer = 2\n### END SOLUTION"
    with pytest.raises(SolutionMarkerError, match="looks like a solution marker"):
        stub_solutions(source)


def test_exact_markers_may_be_indented_and_have_trailing_spaces():
    source = "def f():\n        ### BEGIN SOLUTION   \n        return 1\n        ### END SOLUTION"
    assert stub_solutions(source) == "def f():\n        # YOUR CODE HERE\n        raise NotImplementedError()"


@pytest.mark.parametrize("source, names", [
    ("answer = ...\n### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION", []),
    ("a = b = ...\nc, d = ..., ...\n### BEGIN SOLUTION\na, b = 1, 2\nc = d = 3\n### END SOLUTION", []),
    ("answer = ...\n### BEGIN SOLUTION\nn = 2\nanswer = n * n\n### END SOLUTION", ["n"]),
    ("### BEGIN SOLUTION\nfor i in range(3):\n    total = i\n### END SOLUTION", ["i", "total"]),
    ("### BEGIN SOLUTION\nimport math as m\ndef f(x):\n    y = 1\nclass C:\n    z = 2\n### END SOLUTION",
     ["m", "f", "C"]),
    ("answer = ...\n### BEGIN SOLUTION\nanswer = [k for k in range(3)]\n### END SOLUTION", []),
    ("answer = 0\n### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION", ["answer"]),  # declared, but not `...`
    ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n    return x\n    ### END SOLUTION", []),  # a body
    ("magic_number = 42", ["magic_number"]),  # no markers: the whole cell is the solution
])
def test_undeclared_names_finds_what_a_top_level_region_assigns_without_dots_before(source, names):
    assert undeclared_names(source) == names


def test_student_copy_refuses_a_top_level_solution_with_an_undeclared_name(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("print('set-up')"),
                code("answer = ...\n### BEGIN SOLUTION\nrow = [1, 2]\nanswer = max(row)\n### END SOLUTION",
                     "solution")]
    nbformat.write(nb, tmp_path / "97_names.ipynb")
    assert main(["student-copy", str(tmp_path / "97_names.ipynb"), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "97_names.ipynb, cell 1" in out and "row" in out and "`row = ...`" in out
    assert not (tmp_path / "out" / "97_names.ipynb").exists()


def test_student_copy_refuses_a_near_miss_marker_even_in_an_untagged_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("print(1)"), code("answer = ...\n###BEGIN SOLUTION\nanswer = 2\n###END SOLUTION")]
    with pytest.raises(SolutionMarkerError, match=r"98_typo.ipynb, cell 1: line 2: '###BEGIN SOLUTION'"):
        student_notebook(nb, "98_typo.ipynb")


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
    assert function == f"def square_of(x):\n    {BODY_STUB[0]}\n    {BODY_STUB[1]}"
    assert pair.count("raise NotImplementedError()") == 2 and "def double(self):" in pair
    assert no_markers == STUB
    assert markdown == MARKDOWN_STUB
    text = nbformat.writes(student)
    for secret in ("answer = 1 + 1", "return x * x", "self.a = a", "6 * 7", "**two**", "BEGIN SOLUTION"):
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
    note = student.cells[1].source
    assert "Student copy" in note and "ask your instructor" in note
    for both_kinds in ("replace the `...` with your answer", "Inside a function or a class",
                       "`raise NotImplementedError()`", "# ex.NAME.hint()"):
        assert both_kinds in note
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


def assert_runs_all_and_checks_say_not_done(nb) -> None:
    """No cell fails ("Run All" reaches the end), and every check says 'not done yet'."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    failing = [(c.source, errors_of(c)[0].ename, errors_of(c)[0].evalue) for c in code_cells if errors_of(c)]
    assert not failing, f"cells of the untouched student copy failed: {failing}"
    checks = [c for c in code_cells if re.search(r"\.check\(", c.source)]
    assert checks
    for cell in checks:
        assert "not done yet" in text_of(cell), f"{cell.source!r} printed {text_of(cell)!r}"


def test_student_copy_runs_all_cells_and_checks_say_not_done_yet(tmp_path, monkeypatch):
    source = tiny_notebook(tmp_path / "99_tiny.ipynb")
    assert main(["student-copy", str(source), "--out", str(tmp_path / "student")]) == 0
    copy = tmp_path / "student" / source.name
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:  # the learner gives up and asks for the solution
        cell.source = cell.source.replace("# value.solution()", "value.solution()")
    nbformat.write(nb, copy)
    nb = execute(copy, monkeypatch, timeout=120)
    assert_runs_all_and_checks_say_not_done(nb)
    reveal = next(c for c in nb.cells if "reveal" in c.metadata.get("tags", []))
    assert "ask your instructor" in text_of(reveal) and "answer = 2" not in text_of(reveal)
    hint = next(c for c in nb.cells if c.source == "# value.hint()")
    assert text_of(hint) == "", "a hint printed without being asked for"
    assert "before the first exercise" in text_of(nb.cells[5])
    assert "after the exercises" in text_of(nb.cells[-1])


def test_student_copy_once_answered_passes_its_checks(tmp_path, monkeypatch):
    source = tiny_notebook(tmp_path / "99_tiny.ipynb")
    assert main(["student-copy", str(source), "--out", str(tmp_path / "student")]) == 0
    copy = tmp_path / "student" / source.name
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:  # the learner fills in both kinds of stub
        cell.source = cell.source.replace("answer = ...  # replace ... with your answer", "answer = 2")
        if cell.source.startswith("def square_of"):
            cell.source = "def square_of(x):\n    return x * x"
    nbformat.write(nb, copy)
    nb = execute(copy, monkeypatch, timeout=120)
    checks = [c for c in nb.cells if c.cell_type == "code" and ".check(" in c.source]
    assert all("[right]" in text_of(c) for c in checks), [text_of(c) for c in checks]


# ---------------------------------------------------------------------------
# Running it again: the learner's work and the instructor's notebooks are never overwritten
# ---------------------------------------------------------------------------

REAL = REPO_ROOT / "notebooks" / "01_conv2d_output_size.ipynb"  # a course notebook with solution markers


def real_notebooks(folder: Path, *names: str) -> list[Path]:
    """Course notebooks with solution markers, copied into ``folder`` (the tests may link to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or (REAL.name,)
    for name in names:
        (folder / name).write_bytes((REPO_ROOT / "notebooks" / name).read_bytes())
    return [folder / name for name in names]


def learner_edits(copy: Path, answer: str = "answer = 75  # my own answer") -> None:
    """What a learner does: replace the first ``answer = ...`` stub and save."""
    nb = nbformat.read(copy, as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("answer = ..."))
    cell.source = cell.source.replace("answer = ...", answer, 1)
    nbformat.write(nb, copy)


def copied_then_edited(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """One course notebook copied to ``tmp_path/student``, then edited by its learner:
    the source, the --out folder and the bytes of the fresh, unedited copy."""
    (source,) = real_notebooks(tmp_path / "notebooks")
    out = tmp_path / "student"
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    fresh = (out / source.name).read_bytes()
    learner_edits(out / source.name)
    return source, out, fresh


def student_copy(*args: str | Path) -> subprocess.CompletedProcess:
    """``python -m course_utils student-copy ARGS``, as the instructor types it."""
    return subprocess.run([sys.executable, "-m", "course_utils", "student-copy", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


def test_rerun_over_an_edited_copy_keeps_the_learners_work_and_says_force_replaces_it(tmp_path):
    (source,) = real_notebooks(tmp_path / "notebooks")
    out = tmp_path / "student"
    assert student_copy(source, "--out", out).returncode == 0
    learner_edits(out / source.name)
    edited = (out / source.name).read_bytes()
    result = student_copy(source, "--out", out)
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stdout + result.stderr
    assert str(out / source.name) in message and "--force" in message
    assert "Traceback" not in message
    assert (out / source.name).read_bytes() == edited
    assert "answer = 75  # my own answer" in (out / source.name).read_text()


def test_rerun_over_an_unedited_copy_is_fine_and_says_unchanged(tmp_path, capsys):
    (source,) = real_notebooks(tmp_path / "notebooks")
    out = tmp_path / "student"
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    first = (out / source.name).read_bytes()
    capsys.readouterr()
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    assert f"unchanged {out / source.name}" in capsys.readouterr().out
    assert (out / source.name).read_bytes() == first


def test_every_copy_is_checked_before_any_is_written_and_each_edited_one_is_named(tmp_path, capsys):
    sources = real_notebooks(tmp_path / "notebooks", "01_conv2d_output_size.ipynb",
                             "03_residual_blocks.ipynb", "08_mnist_resnet.ipynb")
    out = tmp_path / "student"
    assert main(["student-copy", *map(str, sources), "--out", str(out)]) == 0
    first, second, third = (out / s.name for s in sources)
    first.unlink()  # would be written anew...
    learner_edits(second)  # ...but these two hold the learner's work
    learner_edits(third, "answer = 1  # mine")
    edited = {second: second.read_bytes(), third: third.read_bytes()}
    capsys.readouterr()
    assert main(["student-copy", *map(str, sources), "--out", str(out)]) == 1
    message = capsys.readouterr().out
    assert str(second) in message and str(third) in message and "--force" in message
    assert not first.exists(), "a copy was written although others were refused"
    assert {path: path.read_bytes() for path in edited} == edited


def test_force_replaces_an_edited_copy_with_a_fresh_one(tmp_path, capsys):
    source, out, fresh = copied_then_edited(tmp_path)
    assert main(["student-copy", str(source), "--out", str(out), "--force"]) == 0
    assert (out / source.name).read_bytes() == fresh


def test_force_is_explained_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["student-copy", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--force" in help_text and "edited" in help_text


@pytest.mark.parametrize("link", ["hard link", "symbolic link"])
@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
def test_copy_that_is_a_link_to_the_source_never_writes_through_to_it(tmp_path, capsys, link, force):
    (source,) = real_notebooks(tmp_path / "notebooks")
    before = source.read_bytes()
    out = tmp_path / "student"
    out.mkdir()
    (os.link if link == "hard link" else os.symlink)(source, out / source.name)
    status = main(["student-copy", str(source), "--out", str(out), *(["--force"] if force else [])])
    message = capsys.readouterr().out
    assert source.read_bytes() == before, f"student-copy wrote through a {link} into the source"
    assert status == 1
    assert "refusing to overwrite the instructor's notebook" in message and str(out / source.name) in message


def test_copy_that_is_a_hard_link_to_another_file_is_replaced_by_force_not_written_through(tmp_path, capsys):
    source, out, fresh = copied_then_edited(tmp_path)
    backup = tmp_path / "my_backup.ipynb"
    os.link(out / source.name, backup)  # the learner's own second name for their work
    work = backup.read_bytes()
    assert main(["student-copy", str(source), "--out", str(out)]) == 1
    assert main(["student-copy", str(source), "--out", str(out), "--force"]) == 0
    assert (out / source.name).read_bytes() == fresh
    assert backup.read_bytes() == work, "--force wrote through a hard link into another file"


@pytest.mark.parametrize("marker", [
    "###BEGIN SOLUTION", "#### BEGIN SOLUTION", "### begin solution", "###  BEGIN SOLUTION",
    "### BEGIN  SOLUTION", "###END SOLUTION", "#### END SOLUTION", "### end solution",
    "###  END SOLUTION", "### END  SOLUTION", "### BEGIN_SOLUTION", "### END-SOLUTION",
])
def test_course_notebook_with_a_near_miss_marker_is_refused_naming_the_cell(tmp_path, capsys, marker):
    (source,) = real_notebooks(tmp_path / "notebooks")
    nb = nbformat.read(source, as_version=4)
    exact = "### BEGIN SOLUTION" if "BEGIN" in marker.upper() else "### END SOLUTION"
    index = next(i for i, c in enumerate(nb.cells) if exact in c.source)
    nb.cells[index].source = nb.cells[index].source.replace(exact, marker, 1)
    nbformat.write(nb, source)
    assert main(["student-copy", str(source), "--out", str(tmp_path / "student")]) == 1
    out = capsys.readouterr().out
    assert f"{source.name}, cell {index}: " in out and "looks like a solution marker" in out
    assert not (tmp_path / "student" / source.name).exists()


# ---------------------------------------------------------------------------
# From an installed package: no notebooks beside it, and nothing written into site-packages
# ---------------------------------------------------------------------------

@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """course_utils as a wheel installs it: its REPO_ROOT is an empty site-packages, no checkout
    around it. The instructor works in ``tmp_path/class``; returns that site-packages folder."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(config, "REPO_ROOT", site)
    (tmp_path / "class").mkdir()
    monkeypatch.chdir(tmp_path / "class")
    return site


def test_installed_package_without_a_notebook_argument_says_where_it_looked_and_the_command(installed, capsys):
    assert main(["student-copy"]) == 2
    captured = capsys.readouterr()
    message = " ".join(captured.err.split())
    assert f"not found where they were looked for ({installed / 'notebooks'})" in message
    assert "an installed package does not carry the notebooks" in message
    assert "python -m course_utils student-copy path/to/notebooks/*.ipynb --out student/" in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert list(installed.iterdir()) == [] and not (Path.cwd() / "student").exists()


def test_installed_package_copies_named_notebooks_to_student_in_the_current_folder(installed, tmp_path):
    sources = real_notebooks(tmp_path / "course" / "notebooks", "01_conv2d_output_size.ipynb",
                             "03_residual_blocks.ipynb")
    assert main(["student-copy", *map(str, sources)]) == 0
    assert sorted(p.name for p in (tmp_path / "class" / "student").iterdir()) == [s.name for s in sources]
    assert list(installed.iterdir()) == [], "student-copy wrote into site-packages"


def test_installed_package_copies_named_notebooks_to_the_out_folder(installed, tmp_path):
    (source,) = real_notebooks(tmp_path / "course" / "notebooks")
    out = tmp_path / "handout"
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    assert "# YOUR CODE HERE" in (out / source.name).read_text()
    assert list(installed.iterdir()) == [] and not (tmp_path / "class" / "student").exists()


def test_folder_argument_copies_every_numbered_notebook_in_it_and_nothing_else(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    sources = real_notebooks(folder, "01_conv2d_output_size.ipynb", "03_residual_blocks.ipynb")
    (folder / "scratch.ipynb").write_bytes(sources[0].read_bytes())  # not a course notebook: NN_name
    out = tmp_path / "student"
    assert main(["student-copy", str(folder), str(sources[0]), "--out", str(out)]) == 0  # each once
    assert sorted(p.name for p in out.iterdir()) == [s.name for s in sources]
    assert f"the notebooks in {folder} keep the solutions" in capsys.readouterr().out


def test_folder_argument_without_numbered_notebooks_is_reported_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (source,) = real_notebooks(tmp_path / "notebooks")
    out = tmp_path / "student"
    assert main(["student-copy", str(source), str(tmp_path / "empty"), "--out", str(out)]) == 1
    assert f"{tmp_path / 'empty'} holds no NN_name.ipynb" in capsys.readouterr().out
    assert not out.exists()


# ---------------------------------------------------------------------------
# The command on the course's notebooks
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_copies(tmp_path_factory):
    """Each course notebook's student copy, or why it could not be made (a per-notebook failure)."""
    out = tmp_path_factory.mktemp("student")
    before = {p: p.read_bytes() for p in NOTEBOOKS}
    problems = {}
    for path in NOTEBOOKS:
        try:
            write_student_copy(path, out)
        except ValueError as err:
            problems[path.name] = str(err)
    assert all(p.read_bytes() == b for p, b in before.items()), "an instructor's notebook was modified"
    return out, problems


def copy_of(path: Path, real_copies) -> Path:
    out, problems = real_copies
    assert path.name not in problems, f"no student copy of {path.name}: {problems.get(path.name)}"
    return out / path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_of_course_notebook_has_stubs_and_no_solutions(path, real_copies):
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(copy_of(path, real_copies), as_version=4)
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
def test_student_copy_of_course_notebook_runs_all_in_smoke_mode(
        path, real_copies, monkeypatch, mnist_root, cifar_root, fashion_root):
    copy = copy_of(path, real_copies)
    if not any("# YOUR CODE HERE" in c.source for c in nbformat.read(copy, as_version=4).cells):
        pytest.skip(f"{path.name} has no exercises: its student copy is the notebook itself")
    assert_runs_all_and_checks_say_not_done(execute(copy, monkeypatch))


def test_an_unedited_copy_that_differs_only_in_cell_ids_counts_as_unchanged(tmp_path, capsys):
    """Copies made before the added cells had fixed ids must not be reported as the learner's edits."""
    (source,) = real_notebooks(tmp_path / "notebooks")
    out = tmp_path / "student"
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    copy = out / source.name
    nb = json.loads(copy.read_text())
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"random-{i}"
    copy.write_text(json.dumps(nb, indent=1))
    old = copy.read_bytes()
    capsys.readouterr()
    assert main(["student-copy", str(source), "--out", str(out)]) == 0
    assert "unchanged" in capsys.readouterr().out and copy.read_bytes() == old
    learner_edits(copy)
    assert main(["student-copy", str(source), "--out", str(out)]) == 1
