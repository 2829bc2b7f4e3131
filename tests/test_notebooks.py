"""Every notebook runs top to bottom in smoke mode, and is committed clean."""
from __future__ import annotations

import json
import re
import time
import warnings

import nbformat
import pytest

from course_utils.config import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BADGE = re.compile(r"https://colab\.research\.google\.com/github/resnet-hands-on/resnet-hands-on/"
                   r"blob/main/notebooks/(?P<name>[\w.-]+\.ipynb)")


def ids(paths):
    return [p.stem for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_name.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_committed_with_outputs_cleared(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"



@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_code_compiles_without_warnings(path):
    """No cell may show a learner a SyntaxWarning, e.g. an invalid escape like "$\\mathcal$" in a non-raw string."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        python = "\n".join(  # IPython magics are not Python: a `pass` in their place
            line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("!", "%")) else line
            for line in cell.source.splitlines())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(python, f"{path.name}, cell {i}", "exec", dont_inherit=True)

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_has_colab_badge_to_itself_and_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    match = BADGE.search(first.source)
    assert match and match["name"] == path.name, f"{path.name}: Colab badge missing or points elsewhere"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("course_utils") is None' in setup.source and "%pip install" in setup.source
    repository = re.search(r'^Repository = "(.+)"$', (REPO_ROOT / "pyproject.toml").read_text(), re.M)[1]
    assert f"git+{repository}" in setup.source, "the set-up cell must install from the project's repository"
    assert repository.replace("https://github.com/", "https://colab.research.google.com/github/") in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_has_at_least_three_checked_exercises(path):
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if c.cell_type == "code" and re.search(r"\.check\(", c.source)]
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(checks) >= 3, f"{path.name}: {len(checks)} check cells"
    assert len(solutions) >= 3, f"{path.name}: {len(solutions)} cells tagged 'solution'"
    for cell in solutions:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch, mnist_root, cifar_root,
                                                 fashion_root):
    # all three datasets staged: a notebook must never fall back to downloading in a test
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_SMOKE", "1")  # the kernel inherits this environment
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    work = tmp_path / "work"  # a fresh folder: nothing from an earlier run, nothing left in notebooks/
    work.mkdir()
    before = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "notebooks").rglob("*"))
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    seconds = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    after = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "notebooks").rglob("*"))
    assert after == before, f"{path.name} wrote into notebooks/: {sorted(set(after) - set(before))}"
    assert not (work / "runs").exists(), f"{path.name} wrote runs/ in smoke mode: use run_dir(...)"
    nbformat.write(nb, tmp_path / path.name)
    timings = REPO_ROOT / ".pytest_cache" / "notebook_seconds.json"
    timings.parent.mkdir(exist_ok=True)
    table = json.loads(timings.read_text()) if timings.exists() else {}
    table[path.stem] = round(seconds, 1)
    timings.write_text(json.dumps(table, indent=1, sort_keys=True))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_exercise_question_is_also_written_in_markdown_and_hints_are_opt_in(path):
    """A reader on GitHub (no kernel) sees each question; a hint prints only when asked for."""
    from course_utils.exercises import NOTEBOOK_MODULES, question_text

    module = next(m for m, stem in NOTEBOOK_MODULES.items() if stem == path.stem)
    nb = nbformat.read(path, as_version=4)
    flat = lambda text: " ".join(text.split())  # noqa: E731
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for name in re.findall(r"^ex\.(\w+)\.question\(\)", cell.source, re.M):
            before = next((c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown"), None)
            assert before is not None and flat(question_text(f"{module}.{name}")) in flat(before.source), \
                f"{path.name}, cell {i}: the markdown cell before ex.{name}.question() must state the question"
        live_hints = re.findall(r"^ex\.\w+\.hint\(\)", cell.source, re.M)
        assert not live_hints, f"{path.name}, cell {i}: write the hint cell as '# ex.NAME.hint()' (opt-in)"
