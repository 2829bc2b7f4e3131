"""Self-checking exercises: the learner answers, a check says right or what is wrong.

Each notebook has a module here (``course_utils.exercises.conv_arithmetic``
for ``01_conv2d_output_size``, ...) holding its ``Exercise`` objects. In a
notebook::

    from course_utils.exercises import conv_arithmetic as ex
    ex.output_size.question()      # what to do
    answer = ...                   # the learner's answer
    ex.output_size.check(answer)   # right, or what is wrong
    ex.output_size.hint()          # a nudge
    ex.output_size.solution()      # the answer, when stuck

A check never crashes on an unfinished exercise: ``...``/``None`` or a
function that still raises ``NotImplementedError`` is reported as "not done
yet", so a student copy with stubs runs top to bottom.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch


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


class Exercise:
    """One exercise: a question, a checker, a hint and a solution.

    ``checker(answer)`` returns ``None`` when the answer is right and a string
    saying what is wrong otherwise; it may raise ``AssertionError`` with that
    string instead. Anything else it raises is reported, not re-raised, since
    a learner's function is allowed to be buggy.
    """

    def __init__(self, name: str, question: str, checker: Callable[[Any], str | None],
                 hint: str, solution: str, praise: str = "correct.") -> None:
        self.name = name
        self._question = question
        self._checker = checker
        self._hint = hint
        self._solution = solution
        self._praise = praise

    def question(self) -> None:
        """Print what the exercise asks."""
        print(f"{self.name}: {self._question}")

    def check(self, answer: Any) -> Result:
        """Check ``answer``; the returned ``Result`` prints as one line."""
        if answer is ... or answer is None:
            return Result(self.name, False, "replace the `...` with your answer, then run this cell again.",
                          done=False)
        try:
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
        """Print a hint."""
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


def hide_solutions(hidden: bool = True) -> None:
    """Make every ``Exercise.solution()`` say "ask your instructor" instead of answering.

    ``python -m course_utils student-copy`` adds a cell calling this to each
    student notebook; ``hide_solutions(False)`` shows the solutions again.
    """
    Exercise.solutions_hidden = hidden


def expect_equal(expected: Any, what: str = "the answer") -> Callable[[Any], str | None]:
    """A checker for answers with one right value: says what was given and that it is off."""
    def checker(answer: Any) -> str | None:
        if answer != expected:
            return f"{what} is {answer!r}, which is not right."
        return None
    return checker


def as_number(answer: Any) -> float | None:
    """``answer`` as a float, or None when it is not one number.

    ``True`` is not a number here, and a pair of equal numbers, such as the
    ``(h, w)`` size of a square map, counts as that number.
    """
    if isinstance(answer, (tuple, list, torch.Size)) and len(answer) == 2 and answer[0] == answer[1]:
        answer = answer[0]
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


def check_number(answer: Any, right: float, mistakes: Mapping[float, str], otherwise: str, *,
                 what: str = "one number") -> str | None:
    """The usual check of a one-number answer, for a checker to return.

    None when ``answer`` equals ``right``; the message of ``mistakes`` when it
    is a known wrong answer (what you get when you forget the bias, floor too
    early, ...); else "not it" followed by ``otherwise``, which says how to
    work it out. ``what`` describes the expected answer when it is no number.
    """
    value = as_number(answer)
    if value is None:
        return f"give {what}, not {answer!r}."
    if value == right:
        return None
    if value in mistakes:
        return mistakes[value]
    return f"{answer!r} is not it. {otherwise}"
