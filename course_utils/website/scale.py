"""How big each notebook's run is, the machine it runs on, and the note that says so on its page.

Three scales, the notebooks' own:

* ``smoke``: ``COURSE_SMOKE=1``, a few hundred images and about one epoch; a minute a notebook on a CPU.
* ``short``: ``RUN = "short"``, the run that finishes in a class on a T4-class GPU.
* ``full``: ``RUN = "full"``, the published settings.

``auto`` chooses per notebook: the largest scale that the notebook's own estimate
(the minutes it gives ``describe_run``) finishes within a budget on this kind of
device, 30 minutes unless told (the length from which ``describe_run`` itself
calls a CPU run long). On a CUDA GPU that is ``full`` everywhere; on a CPU,
``full`` or ``short`` for the quick notebooks and ``smoke`` for the long
trainings. The numbers on a page are those of its run, so every page states its
scale, device, versions and date (``scale_note``): a reader can tell a
smoke-mode accuracy from a real one.
"""
from __future__ import annotations

import ast
import datetime
import html
import os
import platform
from dataclasses import dataclass
from typing import Mapping

import nbformat

from course_utils import config

SCALES = ("smoke", "short", "full")
#: Minutes a notebook may take at the scale ``auto`` chooses (``describe_run`` calls a longer CPU run long).
BUDGET_MINUTES = 30.0


@dataclass(frozen=True)
class Machine:
    """Where and when a site is built: what each page states beside its scale.

    >>> Machine("cpu", "cpu (2 cores)", "2.5.1", "3.11.7", "2026-12-06", "data").kind
    'cpu'
    """

    device_type: str  # "cuda", "mps" or "cpu"
    device: str  # in words: "cpu (2 cores)", "cuda (NVIDIA H100 80GB HBM3)"
    torch_version: str
    python_version: str
    date: str  # the day of the build, ISO format
    data: str  # the folder the datasets are read from

    @property
    def kind(self) -> str:
        """``"gpu"`` or ``"cpu"``: the column of the notebooks' time estimates that applies here."""
        return "gpu" if self.device_type == "cuda" else "cpu"


def describe_device(device) -> str:
    """The device in words: its type, and the GPU's name or the CPU's cores.

    >>> import torch; describe_device(torch.device("cpu"))  # doctest: +ELLIPSIS
    'cpu (... cores)'
    """
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return f"mps ({platform.machine()} Mac)"
    return f"cpu ({os.cpu_count()} cores)"


def this_machine() -> Machine:
    """This machine, today: its device (``config.get_device``), versions, and data folder."""
    import torch

    device = config.get_device()
    return Machine(device.type, describe_device(device), torch.__version__, platform.python_version(),
                   datetime.date.today().isoformat(), str(config.data_dir()))


def expected_minutes(nb: nbformat.NotebookNode) -> dict | None:
    """The notebook's own time estimates, ``{"full": {"cpu": .., "gpu": ..}, "short": {...}}``, or None.

    They are the third argument of its ``describe_run(RUN, device, {...})`` call.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     'print(describe_run(RUN, device, {"full": {"cpu": 35, "gpu": 10}, "short": {"cpu": 11, "gpu": 3}}))')])
    >>> expected_minutes(nb)["short"]["cpu"]
    11
    """
    for cell in nb.cells:
        if cell.cell_type != "code" or "describe_run(" not in cell.source:
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "describe_run" and len(node.args) > 2:
                try:
                    return ast.literal_eval(node.args[2])
                except ValueError:  # not a literal: no estimate to read
                    return None
    return None


def choose_scale(requested: str, machine: Machine, minutes: Mapping | None, budget: float = BUDGET_MINUTES) -> str:
    """The scale to run a notebook at: ``requested``, or for ``"auto"`` the largest within ``budget`` minutes.

    ``minutes`` are the notebook's estimates (``expected_minutes``). Without them
    (a notebook that does not train) ``auto`` is ``full``.

    >>> cpu = Machine("cpu", "cpu (2 cores)", "2.5.1", "3.11.7", "2026-12-06", "data")
    >>> estimates = {"full": {"cpu": 35, "gpu": 10}, "short": {"cpu": 11, "gpu": 3}}
    >>> choose_scale("auto", cpu, estimates), choose_scale("auto", cpu, estimates, budget=5)
    ('short', 'smoke')
    """
    if requested not in ("auto", *SCALES):
        raise ValueError(f"scale must be 'auto' or one of {', '.join(SCALES)}, not {requested!r}")
    if requested != "auto":
        return requested
    if not minutes:
        return "full"
    for scale in ("full", "short"):
        if scale in minutes and minutes[scale].get(machine.kind, float("inf")) <= budget:
            return scale
    return "smoke"


def kernel_env(scale: str) -> dict[str, str]:
    """The variables the notebook's kernel gets besides this process's environment.

    ``COURSE_SMOKE`` is always set, to ``0`` for short and full runs: a
    ``COURSE_SMOKE=1`` left in the shell must not shrink a full build silently.
    Figures go inline, whatever ``MPLBACKEND`` the shell has.

    >>> kernel_env("short")["COURSE_SMOKE"]
    '0'
    """
    return {"COURSE_SMOKE": "1" if scale == "smoke" else "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def scale_label(scale: str, has_run: bool) -> str:
    """The scale of a notebook's run in a few words, for the index table.

    >>> scale_label("short", has_run=True), scale_label("short", has_run=False)
    ('RUN = "short"', 'full size (no RUN setting)')
    """
    if scale == "smoke":
        return "smoke mode"
    return f'RUN = "{scale}"' if has_run else "full size (no RUN setting)"


def scale_words(scale: str, has_run: bool) -> str:
    """The scale of a notebook's run, and what it means, for the note on its page.

    >>> scale_words("short", has_run=True)
    'RUN = "short" (smoke mode off)'
    """
    if scale == "smoke":
        return "smoke mode (COURSE_SMOKE=1: a few hundred images, about one epoch; same cells, smaller sizes)"
    if has_run:
        return f"{scale_label(scale, has_run)} (smoke mode off)"
    return "full size: this notebook has no RUN setting (smoke mode off)"


def scale_note(machine: Machine, scale: str, *, has_run: bool, seconds: float) -> str:
    """The note at the top of a page, as HTML: at which scale, where and when its outputs were computed.

    >>> cpu = Machine("cpu", "cpu (2 cores)", "2.5.1", "3.11.7", "2026-12-06", "data")
    >>> "smoke mode" in scale_note(cpu, "smoke", has_run=True, seconds=4.2)
    True
    """
    return (
        '<div class="course-scale-note" id="scale-note" style="border-left: 4px solid #d08700; '
        'background: #fff8e6; padding: 0.6em 1em; margin: 0.5em 0;">'
        f"<strong>Outputs computed at: {html.escape(scale_words(scale, has_run))}</strong>, "
        f"on {html.escape(machine.device)}, PyTorch {html.escape(machine.torch_version)}, "
        f"Python {html.escape(machine.python_version)}, {html.escape(machine.date)}, "
        f"in {seconds:.0f} s; datasets from <code>{html.escape(machine.data)}</code>. "
        "Your numbers will differ: a run at another scale, on other data or another device gives others."
        "</div>"
    )
