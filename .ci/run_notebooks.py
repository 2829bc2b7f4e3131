"""Execute notebooks top to bottom, each in a fresh temporary folder, and say which failed.

    python .ci/run_notebooks.py notebooks/00_setup.ipynb notebooks/01_conv2d_output_size.ipynb

It runs them in the kernel of the Python that runs this script, with the caller's
environment (set COURSE_SMOKE=1 for smoke mode, COURSE_DATA_DIR for the data). The
notebooks themselves are not modified. Exit status: 0 when every notebook ran, 1 otherwise.
Used by .ci/colab_env to run the course in an environment pinned to Google Colab's versions.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path) -> str | None:
    """Run one notebook in a new temporary folder; None when it ran, else the error's last lines."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": work}})
        try:
            client.execute()
        except CellExecutionError as err:
            return "\n".join(str(err).strip().splitlines()[-3:])
    return None


def main(paths: list[str]) -> int:
    failed = []
    for path in map(Path, paths):
        start = time.perf_counter()
        error = execute(path)
        print(f"{'ok    ' if error is None else 'FAILED'} {path.name} ({time.perf_counter() - start:.0f} s)")
        if error is not None:
            print(f"       {error}")
            failed.append(path.name)
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks ran top to bottom")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
