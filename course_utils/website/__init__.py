"""The rendered course: every notebook executed, then written as a static web page.

The source notebooks stay output-free. ``build_site`` copies each one in
memory, executes the copy in a temporary folder (never in ``notebooks/``) at a
chosen scale, and writes one self-contained HTML page per notebook (figures
embedded as data URIs, so the site works from ``file://`` and from any static
server) with an index page that links them. ``python -m course_utils site``
is the command; one module per step:

* ``scale``    how big each run is (smoke, short, full), where it runs, and the note each page shows
* ``execute``  one notebook run top to bottom in a fresh kernel; a failure names the notebook and cell
* ``edition``  what a public page shows: solutions as the student's stub, widgets as still text
* ``pages``    nbconvert's HTML for a notebook, and the index page
* ``build``    the whole site, notebook after notebook

>>> from course_utils.website import build_site
>>> build_site(["notebooks/01_conv2d_output_size.ipynb"], "build/site", "smoke")  # doctest: +SKIP
[Page(name='01_conv2d_output_size', title='01 · How big is the output? ...', scale='smoke', ...)]
"""
from course_utils.website.build import Page, build_site
from course_utils.website.execute import NotebookFailedError, execute
from course_utils.website.scale import SCALES, Machine, choose_scale, this_machine

__all__ = ["Page", "build_site", "NotebookFailedError", "execute", "SCALES", "Machine", "choose_scale",
           "this_machine"]
