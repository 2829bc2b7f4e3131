"""What a learner reads speaks of the subject: never of how the course was made.

Notebook markdown, and the strings a learner sees from ``course_utils`` (exercise
questions, hints, messages), are searched for phrases about the course's making
("no GPU was available to us", "the seed" of a source text, a style guide, a test
file) and for untranslated source titles (CJK characters, which many fonts show as
empty boxes).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.config import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LEARNER_MODULES = sorted((REPO_ROOT / "course_utils" / "exercises").glob("*.py"))

#: Phrases about the making of the course. Matched case-insensitively, as whole words.
AUTHORING = [
    "available to us", "the seed", "the seeds", "our style", "style guide", "tutorial's",
    "the tutorial", "the tutorials", "source tutorial", "tests/", "where this course was written",
    "we could not", "we could run", "we had only", "not measured here", "an estimate", "estimates",
    "to be filled",
]
PATTERN = re.compile("|".join(r"(?<![\w/])" + re.escape(p) + r"(?![\w])" if p[-1].isalnum() else
                              r"(?<![\w/])" + re.escape(p) for p in AUTHORING), re.IGNORECASE)
TEST_FILE = re.compile(r"\btest_\w+\.py\b")
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def problems(text: str) -> list[str]:
    found = [m.group(0) for m in PATTERN.finditer(text)]
    found += TEST_FILE.findall(text)
    found += [f"CJK text {m.group(0)!r}"] if (m := CJK.search(text)) else []
    return found


@pytest.mark.parametrize("cell_type", ["markdown", "code"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_cells_speak_of_the_subject_only(path, cell_type):
    nb = nbformat.read(path, as_version=4)
    bad = {i: problems(c.source) for i, c in enumerate(nb.cells) if c.cell_type == cell_type}
    bad = {i: p for i, p in bad.items() if p}
    assert not bad, f"{path.name}: {cell_type} cells with text about the course's making: {bad}"


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


@pytest.mark.parametrize("path", LEARNER_MODULES, ids=[p.stem for p in LEARNER_MODULES])
def test_exercise_texts_speak_of_the_subject_only(path):
    bad = [(s[:60], problems(s)) for s in _strings(path) if problems(s)]
    assert not bad, f"{path.name}: {bad}"


@pytest.mark.parametrize("text, caught", [
    ("No GPU was available to us while writing the course.", True),
    ("As the seed tutorial does, ...", True),
    ("See tests/test_classify.py.", True),
    ("test_classify.py repeats it", True),
    ("train_loader, test_loader = get_loaders(...)", False),
    ("The tutorial's loop logs one batch.", True),
    ("残差神经网络的案例", True),
    ("Seed 0 and seed 1 give different batch orders.", False),
    ("A pattern you will meet: a loop that logs only the last batch.", False),
])
def test_the_rule_catches_authoring_talk_and_lets_subject_text_through(text, caught):
    assert bool(problems(text)) is caught


@pytest.mark.parametrize("name", ["README.md", "docs/benchmarks.md"])
def test_readme_and_docs_speak_of_the_subject_only(name):
    found = problems((REPO_ROOT / name).read_text(encoding="utf-8"))
    assert not found, f"{name}: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_table_is_left_to_be_filled_in(path):
    nb = nbformat.read(path, as_version=4)
    assert not [i for i, c in enumerate(nb.cells) if "<!-- TABLE:" in c.source]
