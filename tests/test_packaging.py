"""course_utils installs like a package: a wheel of code only, with its licence and honest metadata.

The wheel is built here, offline, from a copy of the checkout (the build writes
``build/`` and ``*.egg-info`` beside its sources). The dependencies are checked
against what the code imports and against Google Colab's preinstalled versions,
which installing the course there must leave alone. Last, the repository's
``conftest.py``: notebooks run by pytest default to smoke mode, the tests do not.
"""
from __future__ import annotations

import ast
import email
import functools
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from course_utils.config import REPO_ROOT, is_smoke

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
DEPENDENCIES = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]

#: What a fresh Google Colab runtime has (Python 3.13); `pip install course_utils` must keep each.
COLAB = {"torch": "2.11.0", "torchvision": "0.26.0", "numpy": "2.1.3", "matplotlib": "3.10.0",
         "tqdm": "4.67.3", "ipywidgets": "7.7.1", "tensorboard": "2.20.0", "nbformat": "5.11.1",
         "graphviz": "0.21", "pillow": "11.3.0"}

#: Imports that need no runtime dependency, and why.
OPTIONAL = {"d2l": "installed with --no-deps for notebook 09 (its pins break modern Python); "
                   "course_utils.d2l_compat imports it inside a function and says how to install it"}
KERNEL = {"IPython": "every Jupyter kernel has it (ipykernel, ipywidgets and Colab depend on it)",
          "matplotlib_inline": "ipykernel depends on it: it draws the inline plots"}


# ---------------------------------------------------------------------------
# The wheel
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel that ``pip wheel`` builds from a copy of the checkout, offline."""
    source = tmp_path_factory.mktemp("checkout")
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE", "conftest.py"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for name in ("course_utils", "tests", "notebooks", "bench"):  # the last three must stay out
        shutil.copytree(REPO_ROOT / name, source / name, ignore=junk)
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (path,) = out.glob("course_utils-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def dist_info(wheel: zipfile.ZipFile) -> str:
    """The wheel's ``NAME-VERSION.dist-info`` folder."""
    return next(name.split("/")[0] for name in wheel.namelist() if name.split("/")[0].endswith(".dist-info"))


def metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    """The wheel's METADATA: what pip reads to install it."""
    return email.message_from_bytes(wheel.read(f"{dist_info(wheel)}/METADATA"))


def test_wheel_holds_every_module_of_the_package_and_its_exercises(wheel):
    names = set(wheel.namelist())
    modules = {path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "course_utils").rglob("*.py")}
    assert "course_utils/__init__.py" in names
    assert {m for m in modules if m.startswith("course_utils/exercises/")} <= names
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"


def test_wheel_holds_no_tests_notebooks_or_benchmarks(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert tops == {"course_utils", dist_info(wheel)}, tops


def test_wheel_carries_the_licence_and_says_mit(wheel):
    info = dist_info(wheel)
    assert wheel.read(f"{info}/licenses/LICENSE") == (REPO_ROOT / "LICENSE").read_bytes()
    meta = metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert "Programming Language :: Python :: 3.13" in meta.get_all("Classifier")


def test_wheel_requires_pyprojects_dependencies_and_not_setuptools(wheel):
    required = [Requirement(line) for line in metadata(wheel).get_all("Requires-Dist")]
    runtime = [r for r in required if r.marker is None or "extra" not in str(r.marker)]
    assert sorted(map(str, runtime)) == sorted(map(str, DEPENDENCIES))
    assert not {"setuptools", "pkg-resources", "distutils"} & {canonicalize_name(r.name) for r in runtime}
    assert metadata(wheel)["Requires-Python"] == ">=3.10"


@pytest.mark.parametrize("name,version", COLAB.items(), ids=COLAB)
def test_runtime_dependencies_admit_colabs_preinstalled_version(name, version):
    requirement = next((r for r in DEPENDENCIES if canonicalize_name(r.name) == name), None)
    if requirement is None:
        pytest.skip(f"{name} is not a runtime dependency")
    assert requirement.specifier.contains(Version(version)), (
        f"{requirement} would replace Colab's {name} {version}")


def test_ipywidgets_stays_at_colabs_7_7_1():
    """Upgrading Colab's ipywidgets 7.7.1 to 8 breaks its widget display."""
    (ipywidgets,) = [r for r in DEPENDENCIES if r.name == "ipywidgets"]
    assert ipywidgets.specifier.contains("7.7.1")


# ---------------------------------------------------------------------------
# What the code imports is what the package declares
# ---------------------------------------------------------------------------

def third_party_imports(code: str) -> list[tuple[str, bool]]:
    """Each top-level module ``code`` imports outside the standard library and course_utils, and
    whether the import is guarded: inside a function, in a ``try`` that catches ImportError."""
    found = []

    def visit(node: ast.AST, in_function: bool, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, in_function and guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, in_function and guarded))
        in_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if isinstance(node, ast.Try):
            catches = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if catches & {"ImportError", "ModuleNotFoundError"}:
                for child in node.body:
                    visit(child, in_function, True)
                for child in node.handlers + node.orelse + node.finalbody:
                    visit(child, in_function, guarded)
                return
        for child in ast.iter_child_nodes(node):
            visit(child, in_function, guarded)

    visit(ast.parse(code), False, False)
    tops = [(name.split(".")[0], guarded) for name, guarded in found]
    return [(top, guarded) for top, guarded in tops
            if top not in sys.stdlib_module_names and top not in ("course_utils", "__future__")]


@functools.cache
def distributions(module: str) -> frozenset[str]:
    """The installed distributions that provide the top-level ``module`` (``PIL`` -> ``pillow``)."""
    return frozenset(canonicalize_name(d) for d in importlib.metadata.packages_distributions().get(module, []))


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in requirements}


def unprovided(imports: dict[str, str], provided: set[str], allowed: dict[str, str]) -> list[str]:
    """``module (where)`` for each import that no distribution in ``provided`` supplies."""
    return [f"{module} ({where}: from {sorted(distributions(module)) or 'no installed distribution'})"
            for module, where in imports.items()
            if module not in allowed and not distributions(module) & provided]


#: Subpackages that only their command imports (in try/except ImportError, saying what to install),
#: and the extra of pyproject.toml that provides what they import.
EXTRA_SUBPACKAGES = {"website": "site"}


def test_every_third_party_import_of_course_utils_is_a_runtime_dependency():
    imports, unguarded = {}, []
    for path in sorted((REPO_ROOT / "course_utils").rglob("*.py")):
        where = path.relative_to(REPO_ROOT).as_posix()
        if path.parent.name in EXTRA_SUBPACKAGES:
            continue
        for module, guarded in third_party_imports(path.read_text(encoding="utf-8")):
            imports.setdefault(module, where)
            if module in OPTIONAL and not guarded:
                unguarded.append(f"{module} in {where}")
    assert not unguarded, f"optional imports must sit in a function, in try/except ImportError: {unguarded}"
    assert not unprovided(imports, names(PYPROJECT["project"]["dependencies"]), OPTIONAL)


@pytest.mark.parametrize("subpackage, extra", sorted(EXTRA_SUBPACKAGES.items()))
def test_a_subpackage_of_an_extra_imports_only_what_the_extra_installs_and_its_command_guards_it(subpackage, extra):
    imports = {module: path.name for path in sorted((REPO_ROOT / "course_utils" / subpackage).glob("*.py"))
               for module, _ in third_party_imports(path.read_text(encoding="utf-8"))}
    dependencies = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"][extra]
    assert not unprovided(imports, names(dependencies), {})
    importers = [path for path in (REPO_ROOT / "course_utils").rglob("*.py")
                 if path.parent.name != subpackage and f"course_utils.{subpackage}" in path.read_text(encoding="utf-8")]
    assert importers, f"nothing imports course_utils.{subpackage}"
    for path in importers:
        text = path.read_text(encoding="utf-8")
        assert "except ModuleNotFoundError" in text or "except ImportError" in text, (
            f"{path.name} imports course_utils.{subpackage} without saying what to install when {extra} is missing")
        assert f".[{extra}]" in text, f"{path.name} should name the `{extra}` extra in its message"


def python_of(cell: str) -> str:
    """A code cell as Python: each IPython magic or shell line (``%pip``, ``!ls``) becomes ``pass``."""
    lines = cell.splitlines()
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                     else line for line in lines)


def test_every_third_party_import_of_the_notebooks_is_a_runtime_dependency_or_the_kernels():
    imports = {}
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                for module, _ in third_party_imports(python_of("".join(cell["source"]))):
                    imports.setdefault(module, path.name)
    assert not unprovided(imports, names(PYPROJECT["project"]["dependencies"]), OPTIONAL | KERNEL)


def test_what_d2l_imports_is_installed_by_requirements_txt():
    """d2l comes with --no-deps, so requirements.txt lists what ``import d2l.torch`` needs."""
    spec = importlib.util.find_spec("d2l")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("d2l is not installed (python -m pip install --no-deps d2l==1.0.3)")
    d2l_torch = Path(next(iter(spec.submodule_search_locations))) / "torch.py"
    tree = ast.parse(d2l_torch.read_text(encoding="utf-8"))
    imports = {module: "d2l/torch.py" for statement in tree.body  # module level: run by `import d2l.torch`
               for module, _ in third_party_imports(ast.unparse(statement))
               if not isinstance(statement, (ast.FunctionDef, ast.ClassDef))}
    lines = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e .[test,lab,site]" in lines, "requirements.txt installs the package with its extras"
    extras = PYPROJECT["project"]["optional-dependencies"]
    provided = names([line for line in lines if line and not line.startswith("-")]) | names(
        PYPROJECT["project"]["dependencies"] + extras["test"] + extras["lab"])
    assert not unprovided(imports, provided, KERNEL)


# ---------------------------------------------------------------------------
# The repository's conftest.py: notebooks under pytest run in smoke mode
# ---------------------------------------------------------------------------

PROBE = '''
"""A stand-in for a notebook runner (nbmake, nbval): one item per notebook, which records
the COURSE_SMOKE a kernel started now would inherit; every other item records it too."""
import json
import os

import pytest


class Notebook(pytest.File):
    def collect(self):
        yield Kernel.from_parent(self, name="kernel")


class Kernel(pytest.Item):
    def runtest(self):
        pass


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".ipynb":
        return Notebook.from_parent(parent, path=file_path)


def pytest_runtest_call(item):
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(json.dumps([item.path.name, os.environ.get("COURSE_SMOKE")]) + "\\n")
'''


def pytest_run_probed(tmp_path: Path, target: str, smoke: str | None) -> list[tuple[str, str | None]]:
    """``python -m pytest TARGET`` from the repository root, with COURSE_SMOKE as given (None:
    unset); each item's ``(file name, COURSE_SMOKE)`` while it ran."""
    (tmp_path / "notebook_probe.py").write_text(PROBE)
    env = {key: value for key, value in os.environ.items() if key != "COURSE_SMOKE"}
    env.update(PROBE_OUT=str(tmp_path / "seen.jsonl"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")])))
    if smoke is not None:
        env["COURSE_SMOKE"] = smoke
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "notebook_probe",
                             target], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [tuple(json.loads(line)) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("smoke,expected", [(None, "1"), ("0", "0"), ("1", "1")],
                         ids=["unset-means-smoke", "0-means-full-size", "1-stays"])
def test_notebooks_run_by_pytest_default_to_smoke_mode(tmp_path, smoke, expected):
    seen = pytest_run_probed(tmp_path, "notebooks/01_conv2d_output_size.ipynb", smoke)
    assert seen == [("01_conv2d_output_size.ipynb", expected)]


def test_the_smoke_default_is_taken_back_when_no_notebook_is_collected(tmp_path):
    """The README's `python -m pytest` runs the docstring examples at full size: describe_run's passes."""
    seen = pytest_run_probed(tmp_path, "course_utils/config.py", None)
    assert seen and all(smoke is None for _name, smoke in seen), seen


def test_course_smoke_0_means_full_size(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert not is_smoke()
