"""The shape of ``course_utils``, as architecture.md draws it, held by the tests.

Who may import whom (the table in architecture.md, compared with the real imports,
those inside functions included), no import cycles, the import-linter contracts of the
"never" rules, ruff clean, and every public function short enough to read on one screen.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "course_utils"

#: Body lines (docstring excluded) a public function may have, and the exceptions with their reason.
MAX_LINES = 40
LONGER = {
    "course_utils.train.fit": 50,  # the loop learners read whole, top to bottom
}
#: argparse declarations: one add_argument per option, a table rather than logic.
DECLARATIONS = {"add_parser"}


def short_name(module: str) -> str:
    """``course_utils.commands.train`` -> ``commands``, ``course_utils.exercises.core`` -> ``exercises``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def allowed_imports() -> dict[str, set[str]]:
    """architecture.md's "may import" table: ``{module: the modules it may import}``."""
    text = (REPO / "architecture.md").read_text()
    table = text.split("| module | may import |", 1)[1].split("\n\n", 1)[0]
    allowed: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        left, right = (cell.strip() for cell in line.strip().strip("|").split("|"))
        targets = set(re.findall(r"`(\w+)`", right))
        if right.startswith("anything"):
            targets = {"*"}
        for module in re.findall(r"`(\w+)`", left):
            allowed[module] = targets
    return allowed


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("course_utils")


def test_every_import_between_modules_is_an_arrow_of_architecture_md(graph):
    allowed = allowed_imports()
    wrong = []
    for module in sorted(graph.modules):
        source = short_name(module)
        if source in ("course_utils", "__main__"):
            continue  # the package's own lazy attribute access, and `python -m course_utils`
        assert source in allowed, f"{source} is not in architecture.md's table: add its row"
        for target in map(short_name, graph.find_modules_directly_imported_by(module)):
            if target != source and "*" not in allowed[source] and target not in allowed[source]:
                wrong.append(f"{module} imports course_utils.{target}")
    assert not wrong, "imports architecture.md does not allow:\n" + "\n".join(wrong)


def test_the_package_has_no_import_cycle(graph):
    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for target in graph.find_modules_directly_imported_by(module):
                if target == start:
                    return path + [start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
        return None

    cycles = [" -> ".join(cycle) for cycle in map(cycle_from, sorted(graph.modules)) if cycle]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_import_linter_contracts_of_the_never_rules_are_kept():
    lint = shutil.which("lint-imports")
    assert lint, "lint-imports is missing: python -m pip install -r requirements.txt"
    result = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "course_utils", "tests", "bench"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_package_never_edits_sys_path():
    offenders = [str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py") if "sys.path" in path.read_text()]
    assert not offenders


def public_functions():
    """(qualified name, body lines) of every public function and method of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            if body:
                yield f"{module}.{node.name}", body[-1].end_lineno - body[0].lineno + 1


def test_every_public_function_fits_on_one_screen():
    found = list(public_functions())
    names = {name for name, _ in found}
    assert {"course_utils.train.fit", "course_utils.data.get_loaders"} <= names
    too_long = [(name, lines) for name, lines in found
                if name.rsplit(".", 1)[1] not in DECLARATIONS and lines > LONGER.get(name, MAX_LINES)]
    assert not too_long, f"public functions longer than {MAX_LINES} lines: {too_long}"


def test_no_module_imports_another_modules_private_names():
    crossing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                crossing += [f"{path.relative_to(REPO)}: {node.module}.{alias.name}"
                             for alias in node.names if alias.name.startswith("_")]
    assert not crossing, "private names used across modules (make them public, or move them):\n" + "\n".join(crossing)
