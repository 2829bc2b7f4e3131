"""One notebook run top to bottom in a fresh kernel, at a scale, in a folder of its own.

The notebook is read into memory and never written back. Its ``RUN`` setting
is given the way papermill gives it (``-p RUN short``: a cell tagged
``injected-parameters`` after the cell tagged ``parameters``, so the page shows
both), and the kernel runs in a new temporary folder: what the notebook writes (``runs/``,
``figures/``, checkpoints) goes there and is removed afterwards. A cell that
fails, a kernel that dies and a cell that runs too long all raise
``NotebookFailedError``, which names the notebook, the cell and the error.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

from course_utils.website.scale import kernel_env


class NotebookFailedError(RuntimeError):
    """A notebook that did not run to the end: which one, in which cell, and the error.

    >>> str(NotebookFailedError("08_mnist_resnet.ipynb", 12, "x = 1 / 0", "ZeroDivisionError: division by zero"))
    '08_mnist_resnet.ipynb failed in cell 12 (x = 1 / 0): ZeroDivisionError: division by zero'
    """

    def __init__(self, notebook: str, cell: int | None, source: str, error: str) -> None:
        self.notebook, self.cell, self.error = notebook, cell, error
        where = f" in cell {cell} ({source.strip().splitlines()[0][:80]})" if cell is not None and source.strip() else ""
        super().__init__(f"{notebook} failed{where}: {error}")


def has_parameters(nb: nbformat.NotebookNode) -> bool:
    """True when a cell is tagged ``parameters``: the notebook has a ``RUN`` a build can set."""
    return any("parameters" in cell.metadata.get("tags", []) for cell in nb.cells)


def with_run(nb: nbformat.NotebookNode, run: str | None) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``RUN = run`` in a new cell after its parameters cell, or ``nb`` itself.

    The new cell is the one papermill would inject (``-p RUN short``): tagged
    ``injected-parameters``, so a reader of the page sees the notebook's own
    setting and the one the build gave. Nothing is injected in smoke mode
    (``run`` is None) or into a notebook without a parameters cell (00 and 01
    have no run settings).

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('RUN = "full"', metadata={"tags": ["parameters"]})])
    >>> with_run(nb, "short").cells[1].source
    '# Parameters\\nRUN = "short"'
    """
    if run is None or not has_parameters(nb):
        return nb
    nb = nbformat.from_dict(nb)  # a deep copy
    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(f"# Parameters\nRUN = {json.dumps(run)}",
                                                         metadata={"tags": ["injected-parameters"]}))
    return nb


def execute(path: Path, scale: str, *, timeout: int | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at ``path`` at ``scale`` (smoke, short or full); returns it with its outputs,
    and the seconds it took.

    ``timeout`` limits each cell (seconds; None: no limit). Raises
    ``NotebookFailedError`` when a cell fails, times out or kills the kernel.
    The file at ``path`` is not modified.

    >>> nb, seconds = execute(Path("notebooks/01_conv2d_output_size.ipynb"), "smoke")  # doctest: +SKIP
    """
    path = Path(path)
    nb = with_run(nbformat.read(path, as_version=4), None if scale == "smoke" else scale)
    with tempfile.TemporaryDirectory(prefix=f"course-site-{path.stem}-") as work:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": work}})
        start = time.perf_counter()
        try:
            client.execute(env={**os.environ, **kernel_env(scale)})  # cwd: work, from resources
        except CellExecutionError as err:
            cell, source = _failed_cell(nb)
            raise NotebookFailedError(path.name, cell, source, f"{err.ename}: {err.evalue}") from None
        except (CellControlSignal, DeadKernelError, TimeoutError) as err:  # a cell timed out, the kernel died
            raise NotebookFailedError(path.name, None, "", f"{type(err).__name__}: {err}") from None
    return nb, time.perf_counter() - start


def _failed_cell(nb: nbformat.NotebookNode) -> tuple[int | None, str]:
    """The cell that shows an error: its index in the source notebook (without the injected cell), its source."""
    injected = 0
    for i, cell in enumerate(nb.cells):
        injected += "injected-parameters" in cell.metadata.get("tags", [])
        if cell.cell_type == "code" and any(output.output_type == "error" for output in cell.outputs):
            return i - injected, cell.source
    return None, ""
