"""Every notebook runs top to bottom in smoke mode, and is committed clean."""
from __future__ import annotations

import importlib.util
import re
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


def setup_cell(path) -> str:
    """The first code cell: it installs the course on a fresh Colab runtime."""
    return next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source


def test_every_notebook_has_the_same_setup_cell():
    first, *others = NOTEBOOKS
    different = [p.name for p in others if setup_cell(p) != setup_cell(first)]
    assert not different, f"the set-up cell of {different} differs from {first.name}'s"


def run_setup_cell(monkeypatch, *, installed: bool, install_works: bool):
    """Run the set-up cell in an IPython shell whose %pip only records its line (no network).

    ``installed=False`` hides course_utils, as on a fresh Colab runtime; ``install_works``
    says whether the fake %pip makes it importable again.
    """
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    real = sys.modules["course_utils"]
    pip_lines = []

    def fake_pip(line):
        pip_lines.append(line)
        if install_works:
            sys.modules["course_utils"] = real

    if not installed:
        real_find_spec = importlib.util.find_spec
        hidden = lambda name: name == "course_utils" and sys.modules.get(name) is None  # noqa: E731
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if hidden(name) else real_find_spec(name, *a))
        monkeypatch.setitem(sys.modules, "course_utils", None)  # `import course_utils` fails
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell(config=config)
    shell.register_magic_function(fake_pip, "line", "pip")
    result = shell.run_cell(setup_cell(NOTEBOOKS[0]))
    return pip_lines, result.error_in_exec


def test_setup_cell_installs_nothing_where_the_course_is_installed(monkeypatch):
    pip_lines, error = run_setup_cell(monkeypatch, installed=True, install_works=True)
    assert pip_lines == [] and error is None


def test_setup_cell_installs_the_course_from_its_repository_on_a_fresh_runtime(monkeypatch):
    pip_lines, error = run_setup_cell(monkeypatch, installed=False, install_works=True)
    assert error is None
    assert pip_lines == ['install -q "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"']


def test_setup_cell_stops_run_all_with_one_message_when_the_install_fails(monkeypatch):
    """%pip does not raise when pip fails: the cell checks the import itself, so "Run all" stops here."""
    pip_lines, error = run_setup_cell(monkeypatch, installed=False, install_works=False)
    assert len(pip_lines) == 1
    assert isinstance(error, RuntimeError)
    message = str(error)
    assert message.startswith("The course package does not import (ModuleNotFoundError")
    for what_to_try in ("Runtime > Restart session", "internet connection",
                        '%pip install "course_utils @ git+https://github.com/resnet-hands-on/resnet-hands-on"',
                        "python -m pip install -e ."):
        assert what_to_try in message
    assert error.__suppress_context__, "one message, not a chained traceback"


def setup_check_fixes(tmp_path, monkeypatch, data_root, *, colab: bool) -> list[str]:
    """Run 00_setup (full mode, so partial datasets get a fix) on ``data_root`` and return its "Fix:" lines.

    A package on PYTHONPATH that fails to import stands in for a broken d2l; an empty
    ``google.colab`` package makes the kernel look like a Colab runtime.
    """
    from nbclient import NotebookClient

    fakes = tmp_path / ("colab" if colab else "laptop")
    (fakes / "d2l").mkdir(parents=True)
    (fakes / "d2l" / "__init__.py").write_text('raise ImportError("broken on purpose")\n')
    if colab:
        (fakes / "google" / "colab").mkdir(parents=True)
        (fakes / "google" / "colab" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(fakes))
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_root))
    nb = nbformat.read(REPO_ROOT / "notebooks" / "00_setup.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    verdict = next(c for c in nb.cells if c.cell_type == "code" and "problem(s) to fix" in c.source)
    text = "".join(o.get("text", "") for o in verdict.outputs)
    return re.findall(r"^- .*?\. Fix: (.*)$", text, re.M)


@pytest.mark.slow
def test_setup_notebook_gives_each_fix_in_the_form_for_this_machine(tmp_path, monkeypatch, synthetic_root):
    """A laptop gets terminal commands; Colab, which has no terminal, gets what to type into a cell.

    The data are partial copies (the synthetic ones, whatever is staged here), so each gets a fix too."""
    laptop = setup_check_fixes(tmp_path, monkeypatch, synthetic_root, colab=False)
    colab = setup_check_fixes(tmp_path, monkeypatch, synthetic_root, colab=True)
    assert len(laptop) >= 2, laptop  # the partial samples and the broken d2l
    assert colab[0] == "Runtime > Change runtime type > T4 GPU, then run this notebook again"  # no GPU here
    assert len(colab) == len(laptop) + 1, (laptop, colab)
    assert any(f.startswith("fine for smoke mode; for real runs: python -m course_utils fetch-data") for f in laptop)
    assert "python -m pip install --no-deps d2l==1.0.3" in laptop
    for line in colab:
        assert "!python -m" in line or "%pip" in line or "%env" in line or "Runtime >" in line, line
        assert not re.search(r"(?<![!\w])python -m|export |pip install -e", line), line
    assert "%pip install --no-deps d2l==1.0.3   (then Runtime > Restart session)" in colab


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
def test_notebook_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch, data_root):
    # data_root holds all three datasets (staged or synthetic), and the kernel reads COURSE_DATA_DIR:
    # a notebook must never fall back to downloading in a test
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_SMOKE", "1")  # the kernel inherits this environment
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    work = tmp_path / "work"  # a fresh folder: nothing from an earlier run, nothing left in notebooks/
    work.mkdir()
    before = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "notebooks").rglob("*"))
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    after = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "notebooks").rglob("*"))
    assert after == before, f"{path.name} wrote into notebooks/: {sorted(set(after) - set(before))}"
    assert not (work / "runs").exists(), f"{path.name} wrote runs/ in smoke mode: use run_dir(...)"
    nbformat.write(nb, tmp_path / path.name)  # the executed notebook, to read after a failure (pytest --durations times it)


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
