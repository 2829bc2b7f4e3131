"""The core of the exercises: ``Exercise`` (question, check, hint, solution), its ``Result``,
and what every check relies on (``keep_rng_state``, ``seeded``, the registry of every notebook's
exercises). The toolkit that builds exercises from tables is ``course_utils.exercises.toolkit``.
"""
from __future__ import annotations

import contextlib
import importlib
import math
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from course_utils.config import is_graded_run

#: The exercise module of each notebook, in course order.
NOTEBOOK_MODULES = {
    "setup": "00_setup",
    "conv_arithmetic": "01_conv2d_output_size",
    "cifar_cnn": "02_cifar10_sequential_cnn",
    "residual_blocks": "03_residual_blocks",
    "resnet_family": "04_resnet_family",
    "cifar_degradation": "05_cifar_degradation",
    "resnet18": "06_resnet18_training",
    "resnet18_fast": "07_resnet18_fast",
    "mnist_resnet": "08_mnist_resnet",
    "d2l_resnet": "09_fashion_mnist_resnet18_d2l",
    "visualizing": "10_visualizing_residual_connections",
    "multi_gpu": "12_from_notebook_to_multi_gpu",
    "transfer_learning": "11_transfer_learning",
}


@dataclass(frozen=True)
class Result:
    """The outcome of one check. Shown in a notebook as one line."""

    exercise: str
    passed: bool
    message: str
    done: bool = True

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        if not self.done:
            return f"[not done yet] {self.exercise}: {self.message}"
        mark = "[right]" if self.passed else "[not yet]"
        return f"{mark} {self.exercise}: {self.message}"

    def _ipython_display_(self) -> None:
        """In a notebook, shown as printed text rather than as the cell's value (``Out[..]``).

        nbgrader reads a graded cell's value as the points it earned, and warns
        about a value that is not a number; printed text is feedback only.
        """
        print(repr(self))


class Code(str):
    """A learner's answer written as code (a function or class): run after the solution, as a later cell would be.

    Known mistakes of a function or class exercise are kept this way, e.g.
    ``Code("class MyBlock(MyBlock):\n    def forward(self, x): ...")``: the
    solution's class with one method gone wrong.
    """


class Exercise:
    """One exercise: a question, a checker, a hint and a solution.

    ``checker(answer)`` returns ``None`` when the answer is right and a string
    saying what is wrong otherwise; it may raise ``AssertionError`` with that
    string instead. Anything else it raises is reported, not re-raised, since
    a learner's function is allowed to be buggy.

    The solution is code: run with ``torch``, ``nn``, ``math`` and the names of
    ``context`` (what the notebook has defined by then), it defines the answer,
    the variable ``answer_name``. ``mistakes`` lists known wrong answers (values,
    or ``Code``) with what the check's message says about each.
    """

    def __init__(self, name: str, question: str, checker: Callable[[Any], str | None],
                 hint: str, solution: str, praise: str = "correct.", *, answer_name: str = "answer",
                 context: Callable[[], Mapping[str, Any]] | None = None,
                 mistakes: Sequence[tuple[Any, str]] = ()) -> None:
        self.name = name
        self._question = question
        self._checker = checker
        self._hint = hint
        self._solution = solution
        self._praise = praise
        self.answer_name = answer_name
        self._context = context
        self.mistakes = list(mistakes)

    def namespace(self) -> dict[str, Any]:
        """The names a solution may use: torch, nn, math and what the notebook defines (``context``)."""
        return {"torch": torch, "nn": nn, "math": math, **(self._context() if self._context else {})}

    def solved(self, mistake: str | None = None) -> Any:
        """The answer the solution's code defines; with ``mistake`` (code run after it), that wrong answer.

        >>> Exercise("two", "1 + 1?", lambda a: None, "", "answer = 1 + 1").solved()
        2
        """
        names = self.namespace()
        exec(self._solution, names)  # noqa: S102 - the course's own solution text
        if mistake is not None:
            exec(mistake, names)  # noqa: S102 - a known mistake of the course's own table
        return names[self.answer_name]

    def answer_of(self, known: Any) -> Any:
        """A known answer as the check takes it: ``Code`` is run (after the solution), anything else is itself."""
        return self.solved(known) if isinstance(known, Code) else known

    def check_in_context(self, answer: Any) -> Result:
        """Check ``answer`` with what the notebook passes besides it (nothing, for most exercises)."""
        return self.check(answer)

    def question(self) -> None:
        """Print what the exercise asks."""
        print(f"{self.name}: {self._question}")

    def markdown(self) -> str:
        """The question as a markdown cell's text, so the notebook reads without running it.

        >>> Exercise("padding", "Which padding keeps 32x32?", lambda a: None, "", "").markdown()
        '**Exercise `padding`.** Which padding keeps 32x32?'
        """
        return f"**Exercise `{self.name}`.** {self._question}"

    def check(self, answer: Any) -> Result:
        """Check ``answer``; the returned ``Result`` prints as one line.

        Under nbgrader (``nbgrader autograde`` or ``validate``) a wrong or missing
        answer raises ``NotPassedError`` instead, with the same line: see ``report``.
        """
        return report(self.judge(answer))

    def judge(self, answer: Any) -> Result:
        """The ``Result`` of checking ``answer``, right or not; never raises for the learner's mistakes."""
        if unfinished(answer):
            return Result(self.name, False, "replace the `...` with your answer, then run this cell again.",
                          done=False)
        try:
            with keep_rng_state():  # the learner's next random numbers stay theirs
                problem = self._checker(answer)
        except NotImplementedError:
            return Result(self.name, False, "your code still raises NotImplementedError: "
                          "replace that line with your solution.", done=False)
        except AssertionError as err:
            problem = str(err) or "that is not right yet."
        except Exception as err:  # the learner's code crashed: say how
            problem = f"your code raised {type(err).__name__}: {err}"
        if problem:
            return Result(self.name, False, f"{problem} (ex.{self.name}.hint() gives a hint.)")
        return Result(self.name, True, self._praise)

    def hint(self) -> None:
        """Print a hint: a nudge (what to look at, a formula's shape), never the solution.

        Notebooks call it from a commented-out cell, ``# ex.NAME.hint()``, so that
        a learner sees it only after asking for it.
        """
        print(f"Hint for {self.name}: {self._hint}")

    #: Set by ``hide_solutions()``, which the first cells of a student copy call.
    solutions_hidden = False

    def solution(self) -> None:
        """Print the solution (in a student copy: ask your instructor)."""
        if Exercise.solutions_hidden:
            print("The solution is not in the student copy: ask your instructor.")
            return
        print(f"Solution of {self.name}:\n{self._solution}")

    def __repr__(self) -> str:
        return f"Exercise({self.name!r}): {self._question}"


class NotPassedError(AssertionError):
    """An exercise check that did not pass, raised only while nbgrader grades the notebook."""


def report(result: Result) -> Result:
    """``result`` itself, for the notebook to show; under nbgrader, an error unless it passed.

    nbgrader gives a test cell its points when the cell runs without an error,
    so while it grades or validates a notebook (``config.is_graded_run()``) a
    check that did not pass raises ``NotPassedError`` with the line a learner
    would have read. At a learner's desk nothing is raised: "Run All" goes on.

    >>> report(Result("padding", False, "not yet."))
    [not yet] padding: not yet.
    """
    if not result.passed and is_graded_run():
        raise NotPassedError(repr(result))
    return result


def unfinished(answer: Any) -> bool:
    """``...`` or ``None``, or a tuple/list still holding one (``answer = (hardest, other)`` with both still ``...``)."""
    if answer is ... or answer is None:
        return True
    return isinstance(answer, (tuple, list)) and any(part is ... for part in answer)


def hide_solutions(hidden: bool = True) -> None:
    """Make every ``Exercise.solution()`` say "ask your instructor" instead of answering.

    ``python -m course_utils student-copy`` adds a cell calling this to each
    student notebook; ``hide_solutions(False)`` shows the solutions again.
    """
    Exercise.solutions_hidden = hidden


@contextlib.contextmanager
def keep_rng_state() -> Iterator[None]:
    """Run a block and then restore every global random number generator it may have used.

    torch's CPU generator (and the CUDA ones, once CUDA is in use), Python's
    ``random`` and NumPy's: a check that builds a model or draws a test batch
    leaves the learner's next ``torch.randn`` exactly as it would have been.

    >>> state = torch.get_rng_state()
    >>> with keep_rng_state():
    ...     _ = torch.randn(3)
    >>> torch.equal(state, torch.get_rng_state())
    True
    """
    python_state = random.getstate()
    numpy = sys.modules.get("numpy")  # restored only if already imported: no import for it
    numpy_state = numpy.random.get_state() if numpy is not None else None
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        random.setstate(python_state)
        if numpy_state is not None:
            numpy.random.set_state(numpy_state)


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Fixed random numbers inside the block (so a check says the same each time), restored after.

    Use it instead of ``torch.manual_seed`` in a checker, which would reseed
    the learner's own generator:

    >>> with seeded(0):
    ...     x = torch.randn(2)
    >>> with seeded(0):
    ...     torch.equal(x, torch.randn(2))
    True

    As a decorator, ``@seeded(0)``, it runs the whole function that way, on every call:

    >>> @seeded(0)
    ... def draw() -> torch.Tensor:
    ...     return torch.randn(2)
    >>> torch.equal(draw(), x), torch.equal(draw(), x)
    (True, True)
    """
    with keep_rng_state():
        torch.default_generator.manual_seed(seed)  # the CPU generator only, inside the fork
        yield


def all_exercises() -> dict[str, "Exercise"]:
    """Every ``Exercise`` of every notebook, keyed ``"module.name"`` (``"mnist_resnet.flatten_size"``).

    Names repeat across notebooks (``residual_block``), hence the module.
    """
    found: dict[str, Exercise] = {}
    for module_name in NOTEBOOK_MODULES:
        module = importlib.import_module(f"course_utils.exercises.{module_name}")
        for value in vars(module).values():
            if isinstance(value, Exercise):
                found[f"{module_name}.{value.name}"] = value
    return found


def question_text(name: str) -> str:
    """The question of exercise ``name`` ("module.name", or a name used by one notebook only).

    For notebook tests: the markdown cell before each ``ex.NAME.question()``
    cell must contain it (compare with whitespace collapsed, since a pasted
    question may be wrapped: ``" ".join(text.split())``).
    """
    exercises = all_exercises()
    if name in exercises:
        return exercises[name]._question
    matches = [key for key in exercises if key.split(".", 1)[1] == name]
    if len(matches) == 1:
        return exercises[matches[0]]._question
    if matches:
        raise KeyError(f"{name!r} is an exercise of several notebooks: say which, one of {matches}")
    raise KeyError(f"no exercise is called {name!r}: the names are {sorted(exercises)}")


def expect_equal(expected: Any, what: str = "the answer") -> Callable[[Any], str | None]:
    """A checker for answers with one right value: says what was given and that it is off."""
    def checker(answer: Any) -> str | None:
        if answer != expected:
            return f"{what} is {answer!r}, which is not right."
        return None
    return checker
