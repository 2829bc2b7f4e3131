"""What a page of the public site shows: the executed notebook, answers hidden, widgets as still text.

**Solutions.** The site is public, and the course's notebooks are the
instructor's edition: each solution sits in its answer cell, and each check
prints a verdict that names the right answer ("right: ... = 55"). So by
default a page shows what a learner's copy shows: the question (the markdown
and ``ex.NAME.question()``'s output), the answer cell as the student's stub
(``answer = ...`` then ``# YOUR CODE HERE``, as ``student-copy`` writes it)
and, in place of the check's verdict, a line saying it is hidden. Everything
computed after the exercise (figures, trainings that use the solution) stays:
it is the course's result, not the answer. ``solutions=True`` keeps the
instructor's edition whole, for a site only the instructors see.

**Widgets.** A page has no kernel, so a slider cannot answer. Each widget is
written as the text it showed when the notebook ran (from the widget state the
run stored): a tqdm bar as ``epoch 3: 100%|##########| 40/40 [00:12<00:00]``, the
calculator as its sliders' values and its answer.
"""
from __future__ import annotations

import html
import re

import nbformat

from course_utils.student import MARKDOWN_STUB, is_solution_cell, stub_solutions

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: What stands where a check's verdict was: the verdict names the answer.
CHECK_HIDDEN = ("[The check's verdict is hidden on this site: it names the answer. "
                "Run the notebook to check yours.]\n")
_CHECK_CALL = re.compile(r"\bex\.\w+\.check\(")


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    """A code cell that runs an exercise's check (``ex.NAME.check(...)``), or that nbgrader grades.

    >>> is_check_cell(nbformat.v4.new_code_cell("ex.output_size.check(answer)"))
    True
    """
    graded = cell.metadata.get("nbgrader", {}).get("grade", False) and not is_answer_cell(cell)
    return cell.cell_type == "code" and (bool(_CHECK_CALL.search(cell.source)) or graded)


def is_answer_cell(cell: nbformat.NotebookNode) -> bool:
    """A cell that holds a solution: tagged ``solution``, with solution markers, or nbgrader's solution cell."""
    return is_solution_cell(cell) or bool(cell.metadata.get("nbgrader", {}).get("solution", False))


def hide_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` as a learner's copy shows it: solutions stubbed, checks' verdicts hidden.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    ...     "answer = ...\\n### BEGIN SOLUTION\\nanswer = 55\\n### END SOLUTION", metadata={"tags": ["solution"]})])
    >>> print(hide_solutions(nb).cells[0].source)
    answer = ...
    # YOUR CODE HERE
    """
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        if is_answer_cell(cell):
            if cell.cell_type == "markdown":
                cell.source = MARKDOWN_STUB
            else:
                cell.source, cell.outputs = stub_solutions(cell.source), []
        elif is_check_cell(cell) and cell.outputs:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=CHECK_HIDDEN)]
    return nb


def widget_text(model_id: str, states: dict) -> str | None:
    """What the widget ``model_id`` showed, as text, from the stored widget ``states``; None if it is gone.

    Boxes are their children (side by side, or one under the other), a progress
    bar is a bar of ``#``, an HTML or label widget its text, any other control
    ``description: value``.

    >>> states = {"b": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p"]}},
    ...           "l": {"model_name": "HTMLModel", "state": {"value": "epoch 1: 50%"}},
    ...           "p": {"model_name": "FloatProgressModel", "state": {"value": 5, "max": 10}}}
    >>> widget_text("b", states)
    'epoch 1: 50%|#####     |'
    """
    model = states.get(model_id)
    if model is None:  # closed when the cell ran (a tqdm bar with leave=False): it was gone from the page too
        return None
    name, state = model["model_name"], model["state"]
    if "children" in state:
        parts = [widget_text(child.removeprefix("IPY_MODEL_"), states) for child in state["children"]]
        return ("" if name.startswith("HBox") else "\n").join(part for part in parts if part)
    if "Progress" in name:
        filled = round(10 * state.get("value", 0) / (state.get("max") or 1))
        return "|" + "#" * filled + " " * (10 - filled) + "|"
    if name in ("HTMLModel", "LabelModel", "HTMLMathModel"):
        return html.unescape(re.sub(r"<[^>]+>", "", str(state.get("value", ""))))
    label = state.get("description", "")
    return f"{label}: {state['value']}" if "value" in state else label or None


def still_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every widget written as the text it showed, and no widget state left.

    Without the state, nbconvert adds no widget scripts from the internet: the
    page stays readable offline.
    """
    nb = nbformat.from_dict(nb)
    states = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            text = widget_text(view["model_id"], states)
            if text:
                outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": text}))
        cell.outputs = outputs
    return nb


def public_edition(nb: nbformat.NotebookNode, *, solutions: bool = False) -> nbformat.NotebookNode:
    """The executed notebook as its page shows it: widgets as text, and solutions hidden unless ``solutions``."""
    nb = still_widgets(nb)
    return nb if solutions else hide_solutions(nb)
