"""The whole site: each notebook executed, rendered and written, and the index that links them.

A site can be built in several goes. ``OUT/site.json`` records each page's
title, scale, device, date and run time (or its failure), and the index lists
every page recorded there: so one notebook can be rebuilt after an edit without
running the others again, and notebooks whose data or time this machine lacks
for a larger scale can be built at a smaller one into the same site::

    python -m course_utils site --out build/site                   # each notebook as large as fits
    python -m course_utils site notebooks/04_*.ipynb --scale smoke --out build/site

A notebook that fails does not stop the others (a full build takes hours), but
it gets no page: the index shows it as FAILED with its error, and the ``site``
command exits with an error naming it. A page left by an earlier build of that
notebook is removed, so the site never shows outputs older than it says.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from course_utils.student import read_notebook
from course_utils.website.edition import public_edition
from course_utils.website.execute import NotebookFailedError, execute, has_parameters
from course_utils.website.pages import Link, index_html, navigation, notebook_title, page_html, with_note
from course_utils.website.scale import (
    BUDGET_MINUTES,
    Machine,
    choose_scale,
    expected_minutes,
    scale_label,
    scale_note,
    this_machine,
)

COURSE_TITLE = "ResNet, hands-on"
MANIFEST = "site.json"


@dataclass(frozen=True)
class Page:
    """One notebook of the site: what it is, how and where it ran, and its error if it failed."""

    name: str  # the notebook's file name without .ipynb; its page is NAME.html
    title: str
    scale: str  # smoke, short or full
    has_run: bool  # whether it has a RUN setting (a parameters cell)
    device: str = ""
    date: str = ""
    seconds: float | None = None
    error: str | None = None
    solutions: bool = False  # the instructor's edition
    estimate: float | None = None  # the minutes the notebook's own estimate gives at this scale on this device

    @property
    def href(self) -> str:
        return f"{self.name}.html"


def build_page(path: Path, out: Path, page: Page, machine: Machine, nav: str, *, timeout: int | None = None) -> Page:
    """Execute the notebook at ``path`` as ``page`` says and write ``out/NAME.html``; returns ``page``, completed.

    ``nav`` is the HTML of the links put at the top, above the scale note.
    """
    target = out / page.href
    try:
        nb, seconds = execute(path, page.scale, timeout=timeout)
    except NotebookFailedError as err:
        target.unlink(missing_ok=True)  # no page from an earlier build passes for this one
        return replace(page, error=str(err))
    note = scale_note(machine, page.scale, has_run=page.has_run, seconds=seconds)
    shown = with_note(public_edition(nb, solutions=page.solutions), f"{nav}\n{note}")
    target.write_text(page_html(shown, page.title), encoding="utf-8")
    return replace(page, seconds=seconds)


def read_manifest(out: Path) -> dict[str, Page]:
    """The pages an earlier build recorded in ``out/site.json`` (failures, and pages whose file is still there)."""
    try:
        records = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        pages = [Page(**record) for record in records]
    except (OSError, ValueError, TypeError):  # no site yet, or a manifest of another shape: start afresh
        return {}
    return {page.name: page for page in pages if page.error or (out / page.href).is_file()}


def write_index(out: Path, pages: dict[str, Page], title: str) -> None:
    """Write ``out/site.json`` and ``out/index.html`` for ``pages``, in the order of their names."""
    ordered = [pages[name] for name in sorted(pages)]
    (out / MANIFEST).write_text(json.dumps([asdict(page) for page in ordered], indent=1), encoding="utf-8")
    rows = [(Link(page.href, page.title), _run_summary(page)) for page in ordered]
    (out / "index.html").write_text(index_html(title, rows, site_note(ordered)), encoding="utf-8")


def site_note(pages: list[Page]) -> str:
    """The index page's note, as HTML: what the table says, and how exercises are shown."""
    answers = ("Exercises show the question and the learner's empty answer cell; solutions and the checks' "
               "verdicts (which name the answer) are hidden." if not any(page.solutions for page in pages) else
               "Pages marked 'solutions shown' are the instructor's edition.")
    return ('<p class="course-scale-note" id="scale-note">Every notebook was executed for this site: the table '
            "says at which scale, on which device and when, and so does the top of each page. Numbers at "
            f"another scale, on other data or another device differ. {answers}</p>")


def check_out(out: Path, notebooks: list[Path]) -> None:
    """Raise ``ValueError`` when ``out`` cannot take the site: a file, or inside the source notebooks' folder."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: give the folder the site should go to, e.g. build/site")
    for folder in {path.resolve().parent for path in notebooks}:
        if out.resolve() == folder or folder in out.resolve().parents:
            raise ValueError(f"{out} is inside {folder}, the source notebooks' folder, which stays "
                             "output-free: build the site elsewhere, e.g. build/site")


def build_site(notebooks: Iterable[Path | str], out: Path | str, scale: str = "auto", *,
               budget: float = BUDGET_MINUTES, solutions: bool = False, timeout: int | None = None,
               title: str = COURSE_TITLE, machine: Machine | None = None,
               log: Callable[[str], None] | None = None) -> list[Page]:
    """Execute ``notebooks`` and write their pages into ``out``, with ``index.html`` listing every page there.

    ``scale`` is smoke, short, full, or auto: each notebook at the largest scale
    its own estimate finishes within ``budget`` minutes here (``choose_scale``).
    ``solutions=True`` shows the solutions (an instructors' site); ``timeout``
    limits each cell, in seconds; ``log`` (e.g. ``print``) hears of each notebook
    as it starts and ends. The index is rewritten after each notebook, so a long
    build shows its finished pages. Returns this build's pages; those that
    failed carry their error, and have no page.

    >>> build_site(["notebooks/01_conv2d_output_size.ipynb"], "build/site", "smoke")  # doctest: +SKIP
    """
    paths, out, machine = [Path(path) for path in notebooks], Path(out), machine or this_machine()
    check_out(out, paths)
    planned = [plan_page(path, scale, machine, budget, solutions) for path in paths]  # every file read first
    out.mkdir(parents=True, exist_ok=True)
    pages, built = read_manifest(out), []  # what the index lists: earlier builds', then this one's as they end
    for path, page in zip(paths, planned):
        if log:
            estimate = f" (its estimate on a {machine.kind}: {page.estimate:g} min)" if page.estimate is not None else ""
            log(f"  running {path.name} at scale {page.scale}{estimate}")
        nav = _navigation({**pages, **{other.name: other for other in planned}}, page.name, title)
        page = pages[page.name] = build_page(path, out, page, machine, nav, timeout=timeout)
        built.append(page)
        write_index(out, pages, title)
        if log:
            log(f"  ok      {path.name} ({page.seconds:.0f} s)" if page.error is None else f"  FAILED  {page.error}")
    return built


def plan_page(path: Path, scale: str, machine: Machine, budget: float = BUDGET_MINUTES,
              solutions: bool = False) -> Page:
    """The page the notebook at ``path`` will make: its title, and the scale it runs at here (``choose_scale``).

    Raises ``ValueError`` naming the file when it cannot be read as a notebook.
    """
    try:
        nb = read_notebook(path)  # student-copy's reader: says what is wrong with a file that is not a notebook
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None
    minutes = expected_minutes(nb)
    chosen = choose_scale(scale, machine, minutes, budget)
    return Page(path.stem, notebook_title(nb, path.stem), chosen, has_parameters(nb), machine.device, machine.date,
                solutions=solutions, estimate=(minutes or {}).get(chosen, {}).get(machine.kind))


def _navigation(pages: dict[str, Page], name: str, title: str) -> str:
    """The links at the top of page ``name``: the pages before and after it by name (not failed ones), the index."""
    names = sorted(other for other, page in pages.items() if page.error is None or other == name)
    links, i = [Link(pages[other].href, pages[other].title) for other in names], names.index(name)
    return navigation(Link("index.html", title), links[i - 1] if i else None, links[i + 1] if i + 1 < len(links) else None)


def _run_summary(page: Page) -> str:
    """The index table's words for one notebook's run: its scale, device, date and time, or its failure."""
    if page.error is not None:
        return f"FAILED: {page.error}"
    took = f"{page.seconds:.0f} s" if page.seconds < 120 else f"{page.seconds / 60:.0f} min"
    shown = ", solutions shown" if page.solutions else ""
    return f"{scale_label(page.scale, page.has_run)}, {page.device}, {page.date}, {took}{shown}"
