"""The README keeps its promises: every notebook listed, its two commands true, no placeholders."""
import re

import nbformat
import pytest

from course_utils.config import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Words the course writes in capitals on purpose (environment variables, constants).
ALLOWED = {"COURSE_DATA_DIR", "COURSE_SMOKE", "COURSE_DEVICE", "OMP_NUM_THREADS", "MASTER_ADDR",
           "MASTER_PORT", "WORLD_SIZE", "LOCAL_RANK", "CUDA_VISIBLE_DEVICES", "RUN_FULL", "ON_DISK",
           "COURSE_RESNET18_WEIGHTS", "TORCH_HOME"}
#: A word of capitals joined by underscores, as left behind by an unfilled template.
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def _placeholders(text: str) -> set[str]:
    return {w for w in PLACEHOLDER.findall(text) if w not in ALLOWED}


def test_readme_has_no_unfilled_placeholders():
    assert not _placeholders(README)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_readme_lists_every_notebook(path):
    assert f"(notebooks/{path.name})" in README, f"add {path.name} to the README's table of notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_text_has_no_unfilled_placeholders(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not {w for w in _placeholders(text) if w.startswith(("MEASURED", "TODO", "FIXME", "PLACEHOLDER"))}
    unfilled = re.findall(r"to be filled|to be measured|fill(?:ed)? in later|\bTBD\b|\bTODO\b|\bXXX\b", text, re.I)
    assert not unfilled, f"{path.name} still says {unfilled}: write in what was measured"


def test_readme_and_docs_have_no_unfilled_text():
    for path in [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")]:
        unfilled = re.findall(r"to be filled|fill(?:ed)? in later|\bTBD\b|\bTODO\b", path.read_text(), re.I)
        assert not unfilled, f"{path.name} still says {unfilled}"


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "```bash\npython -m pytest\n```" in README
    assert re.search(r"^python -m pytest\b", ci, re.M), ".ci/run must run the README's test command"
    setup = re.search(r"```bash\n(python -m pip install -r requirements.txt.*jupyter lab notebooks/)\n```", README)
    assert setup, "the README's one set-up command is missing"
    for step in setup.group(1).split(" && ")[:-1]:  # all but `jupyter lab`
        assert step.replace("python -m pip install ", "python -m pip install -q ") in ci, step


def test_contributing_quotes_the_readmes_commands_verbatim():
    contributing = (REPO_ROOT / "CONTRIBUTING.md").read_text()
    quoted = re.findall(r"`([^`]+)` \(the README's", contributing)
    assert quoted, "CONTRIBUTING.md names the README's test command, as `COMMAND` (the README's command...)"
    commands = {line for block in re.findall(r"```bash\n(.*?)```", README, re.S) for line in block.splitlines()}
    for command in quoted:
        assert command in commands, f"CONTRIBUTING.md calls `{command}` the README's, but the README says otherwise"


def test_classroom_section_says_in_one_line_what_fetch_data_checks_and_what_student_copy_refuses():
    lines = README.splitlines()
    checks = [line for line in lines if line.startswith("- **`fetch-data --from` checks**")]
    refuses = [line for line in lines if line.startswith("- **`student-copy` refuses**")]
    assert len(checks) == 1 and len(refuses) == 1
    assert all(word in checks[0] for word in ("unpacked size", "IDX headers", "MD5", "run code"))
    assert all(word in refuses[0] for word in ("--force", "symbolic link", "###BEGIN SOLUTION", "cell"))
