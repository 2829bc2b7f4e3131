"""What the tests may not change: the files of the checkout that git ignores.

Everything a run of the course writes (``runs/``, ``notebooks/figures/``,
``student/``, ``build/``, checkpoints, downloaded data) is in ``.gitignore``, so a
test that writes into the checkout instead of its ``tmp_path`` adds files that
``git status --ignored`` lists, and that later runs would find. ``tests/conftest.py``
compares the list before and after the session.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def ignored_files(root: Path) -> set[str] | None:
    """The files under ``root`` that git ignores, or None when ``root`` is not a git checkout.

    Left out: the tools' caches, which are theirs and not the course's: folders whose
    name starts with a dot at the top (``.pytest_cache``, ``.hypothesis``, ``.ruff_cache``...)
    and ``__pycache__`` folders.
    """
    try:
        status = subprocess.run(["git", "status", "--porcelain", "-z", "--ignored", "--untracked-files=all"],
                                cwd=root, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})  # never rewrites .git/index
    except (OSError, subprocess.TimeoutExpired):
        return None
    if status.returncode != 0:
        return None
    paths = [entry[3:] for entry in status.stdout.split("\0") if entry.startswith("!! ")]
    return {path for path in paths if not path.startswith(".") and "__pycache__/" not in path}
