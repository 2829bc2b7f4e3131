"""The site's HTML: one page per executed notebook (nbconvert's ``lab`` template), and the index.

Each page is one self-contained file: nbconvert embeds every figure (PNG, SVG)
as a data URI, so a page works from ``file://``, from any static server, and
copied alone. Math is typeset by MathJax from its CDN when the reader is
online; offline it shows as its TeX source.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nbformat
from nbconvert import HTMLExporter

#: Tag of the cell a build adds at the top of each page (the scale note and the links).
NOTE_TAG = "site-note"


@dataclass(frozen=True)
class Link:
    """A link to another page of the site: its file name and its title."""

    href: str
    title: str


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first ``# `` heading, else ``fallback``.

    >>> notebook_title(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · Sizes\\ntext")]), "01")
    '01 · Sizes'
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.M)
            if match:
                return match[1].strip()
    return fallback


def inline_code(text: str) -> str:
    """``text`` as HTML, its `backticks` as <code>.

    >>> inline_code("the size of `Conv2d` & co")
    'the size of <code>Conv2d</code> &amp; co'
    """
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def navigation(index: Link, previous: Link | None, following: Link | None) -> str:
    """The links at the top of a page, as HTML: previous, the course's index, next."""
    parts = [f'<a href="{html.escape(previous.href)}">&larr; {inline_code(previous.title)}</a>'] if previous else []
    parts.append(f'<a href="{html.escape(index.href)}">{inline_code(index.title)}: all notebooks</a>')
    if following:
        parts.append(f'<a href="{html.escape(following.href)}">{inline_code(following.title)} &rarr;</a>')
    return '<nav class="course-nav">' + " &middot; ".join(parts) + "</nav>"


def with_note(nb: nbformat.NotebookNode, note_html: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a markdown cell of ``note_html`` first (tagged ``site-note``)."""
    nb = nbformat.from_dict(nb)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(note_html, metadata={"tags": [NOTE_TAG]}))
    return nb


def page_html(nb: nbformat.NotebookNode, title: str) -> str:
    """The notebook as one HTML page, with its outputs and embedded figures, titled ``title``.

    >>> "<title>Sizes</title>" in page_html(nbformat.v4.new_notebook(), "Sizes")
    True
    """
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


INDEX_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd; padding: 0.4em; text-align: left; }
.failed { color: #b00020; } .course-scale-note { border-left: 4px solid #d08700; background: #fff8e6; padding: 0.6em 1em; }
"""


def index_html(title: str, rows: list[tuple[Link, str]], note_html: str) -> str:
    """The index page: ``title``, the build's note, and a table of the notebooks.

    ``rows`` holds each notebook's link and what the table says of its run
    (its scale and time, or why it failed: then its title is not a link).

    >>> page = index_html("ResNet, hands-on", [(Link("01_a.html", "01 · Sizes"), "4 s")], "<p>smoke</p>")
    >>> '<a href="01_a.html">01 · Sizes</a>' in page
    True
    """
    body = []
    for link, run in rows:
        failed = run.startswith("FAILED")
        name = inline_code(link.title) if failed else f'<a href="{html.escape(link.href)}">{inline_code(link.title)}</a>'
        body.append(f'<tr{" class=failed" if failed else ""}><td>{name}</td><td>{html.escape(run)}</td></tr>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{INDEX_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{note_html}"
            "<table><thead><tr><th>notebook</th><th>run</th></tr></thead><tbody>"
            + "\n".join(body) + "</tbody></table></body></html>\n")
