"""``python -m course_utils site``: the course as a static website, every notebook executed.

    python -m course_utils site                       # each notebook as large as this machine allows, into build/site/
    python -m course_utils site --scale smoke         # every notebook in about a minute (CI, a rehearsal)
    python -m course_utils site notebooks/08_mnist_resnet.ipynb --scale short --out /tmp/site

Each notebook is executed in a temporary folder (the source notebooks stay
output-free), at ``--scale``: ``auto`` takes for each notebook the largest scale
that its own estimate (``describe_run``'s minutes) finishes within ``--budget``
minutes on this device: ``full`` everywhere on a CUDA GPU; on a CPU ``full`` or
``short`` for the quick notebooks, smoke mode for the long trainings. Each page
states the scale, device, versions and date of its run.
Open ``OUT/index.html`` in a browser, or serve the folder as it is (GitHub
Pages, ``python -m http.server -d build/site``). The exit status is 1 when a
notebook failed: it is named with its cell and error, and it gets no page.
The work is done in ``course_utils.website``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils import config

SCALE_CHOICES = ("auto", "smoke", "short", "full")


def add_parser(subparsers, help: str) -> None:
    p = subparsers.add_parser(
        "site",
        allow_abbrev=False,
        help=help,
        description=(
            "Execute every notebook in a temporary folder, at the chosen scale, and write a static "
            "website: one self-contained HTML page per notebook (figures embedded, so it works from "
            "file:// and from any static server) and index.html, which links them. Each page states "
            "the scale, device, PyTorch version and date its outputs were computed at. The source "
            "notebooks are not modified. By default exercises show the question and the learner's "
            "empty answer cell, with solutions and the checks' verdicts (which name the answer) "
            "hidden: --solutions show builds the instructor's edition. A notebook that fails gets no "
            "page; it is named with its cell and error, and the exit status is 1."
        ),
    )
    p.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                   help="notebooks to put on the site, in this order, or folders: every NN_name.ipynb in "
                        "each (default: the checkout's notebooks/; an installed package does not carry them)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write the site (default: build/site at the repository root in a checkout, "
                        "else ./build/site)")
    p.add_argument("--scale", choices=SCALE_CHOICES, default="auto",
                   help="smoke: COURSE_SMOKE=1, about a minute a notebook on a CPU; short: RUN = 'short'; full: "
                        "RUN = 'full'; auto (default): each notebook at the largest scale that its own estimate "
                        "finishes within --budget minutes on this device (full on a CUDA GPU; on a CPU, smoke "
                        "mode for the long trainings)")
    p.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                   help="with --scale auto, the minutes a notebook may take (default: 30, the length from which "
                        "the notebooks call a CPU run long)")
    p.add_argument("--solutions", choices=("hide", "show"), default="hide",
                   help="hide (default, for a public site): answer cells show the learner's stub and the checks' "
                        "verdicts are hidden; show: the instructor's edition, solutions and verdicts included")
    p.add_argument("--cell-timeout", type=int, default=None, metavar="SECONDS",
                   help="stop a notebook whose cell runs longer than this (default: no limit)")
    p.add_argument("--title", default=None, help="the site's title (default: 'ResNet, hands-on')")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:  # nbconvert and nbclient, imported here so that a missing one stops this command only
        from course_utils.student import notebook_paths
        from course_utils.website import build_site, this_machine
        from course_utils.website.build import COURSE_TITLE
        from course_utils.website.scale import BUDGET_MINUTES
    except ModuleNotFoundError as err:
        print(f"error: site needs {err.name}, which is not installed; fix: "
              'python -m pip install -e ".[site]"  (or: python -m pip install nbconvert nbclient ipykernel)',
              file=sys.stderr)
        return 1
    checkout = config.checkout_root()
    paths, empty = notebook_paths(args.notebooks or ([checkout / "notebooks"] if checkout else []))
    if empty or not paths:
        where = f"{', '.join(map(str, empty))} holds no NN_name.ipynb" if empty else "no notebooks to build"
        print(f"error: {where}: name the notebooks, or the folder that holds them, e.g. "
              "python -m course_utils site path/to/notebooks/ --out build/site", file=sys.stderr)
        return 2
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = args.out or (checkout or Path.cwd()) / "build" / "site"
    machine = this_machine()
    print(f"Building {len(paths)} notebook(s) at scale {args.scale} on {machine.device} into {out}")
    try:
        pages = build_site(paths, out, args.scale, budget=BUDGET_MINUTES if args.budget is None else args.budget,
                           solutions=args.solutions == "show", timeout=args.cell_timeout, machine=machine,
                           title=args.title or COURSE_TITLE, log=lambda line: print(line, flush=True))
    except ValueError as err:  # --out is a file or inside the notebooks' folder; a file is not a notebook
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = [page for page in pages if page.error]
    seconds = sum(page.seconds or 0 for page in pages)
    print(f"{len(pages) - len(failed)} of {len(pages)} notebooks ran ({seconds / 60:.1f} min); open {out / 'index.html'}")
    for page in failed:
        print(f"error: {page.error}", file=sys.stderr)
    return 1 if failed else 0
