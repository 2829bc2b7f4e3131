"""papermill runs a notebook with other settings: one cell tagged `parameters` holds them alone."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import nbformat
import pytest

from course_utils.config import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING = [p for p in NOTEBOOKS if any(re.search(r"^RUN = ", c.source, re.M)
                                        for c in nbformat.read(p, as_version=4).cells)]


def assigned_names(source: str) -> set[str]:
    """Names a cell assigns (an IPython magic line reads as `pass`)."""
    code = "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def test_the_notebooks_that_train_are_found():
    assert len(TRAINING) >= 7, [p.name for p in TRAINING]


@pytest.mark.parametrize("path", TRAINING, ids=[p.stem for p in TRAINING])
def test_one_parameters_cell_holds_only_the_settings_and_the_next_cell_derives_the_sizes(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    params = cells[tagged[0]]
    body = ast.parse(params.source).body
    assert body and all(isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                        for s in body), f"{path.name}: the parameters cell must be plain `NAME = value` lines"
    for statement in body:  # papermill writes literals: a value computed here would not be replaced
        ast.literal_eval(statement.value)
    settings = {s.targets[0].id for s in body}
    assert "RUN" in settings
    derived = cells[tagged[0] + 1].source
    assert "run=RUN" in derived, f"{path.name}: the cell after the parameters must derive the sizes from RUN"
    later = [i for i, c in enumerate(cells) if i != tagged[0] and assigned_names(c.source) & settings]
    assert not later, f"{path.name}: cells {later} assign a setting again, which would undo papermill's value"


def test_papermill_runs_a_notebook_with_run_short_in_smoke_mode(tmp_path, monkeypatch, mnist_root):
    """The command an instructor types; in smoke mode the sizes stay tiny whatever RUN says."""
    pytest.importorskip("papermill")
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out = tmp_path / "05_short.ipynb"
    done = subprocess.run([sys.executable, "-m", "papermill", str(REPO_ROOT / "notebooks" / "08_mnist_resnet.ipynb"),
                           str(out), "-p", "RUN", "short", "--cwd", str(tmp_path), "-k", "python3"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = nbformat.read(out, as_version=4).cells
    injected = next(i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", []))
    assert "parameters" in cells[injected - 1].metadata.get("tags", [])
    assert re.search(r'^RUN = "short"$', cells[injected].source, re.M)
    printed = "".join(o.get("text", "") for o in cells[injected + 1].outputs)
    assert "1 epoch(s) per training run" in printed  # smoke mode wins over RUN


def derived_sizes(path, tmp_path, **parameters) -> str:
    """What the cells up to the derived sizes print, run by papermill (not in smoke mode) with `parameters`."""
    import papermill

    nb = nbformat.read(path, as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells = nb.cells[: params + 2]  # no training: the settings and the sizes derived from them
    source = tmp_path / f"head_{'_'.join(map(str, parameters.values())) or 'default'}.ipynb"
    nbformat.write(nb, source)
    ran = papermill.execute_notebook(str(source), str(source.with_suffix(".out.ipynb")), parameters=parameters,
                                     cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    return "".join(o.get("text", "") for c in ran.cells[-1:] for o in c.get("outputs", []))


def test_papermill_parameters_change_the_derived_sizes(tmp_path):
    pytest.importorskip("papermill")
    path = REPO_ROOT / "notebooks" / "08_mnist_resnet.ipynb"
    full = derived_sizes(path, tmp_path)
    short = derived_sizes(path, tmp_path, RUN="short", BATCH_SIZE=32)
    assert "10 epoch(s) per training run, in batches of 64" in full
    assert "3 epoch(s) per training run, in batches of 32" in short
