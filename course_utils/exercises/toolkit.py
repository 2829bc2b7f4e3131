"""The toolkit the topic modules build their exercises from, so that each module reads as tables.

``number_exercise`` (one number), ``table_exercise`` and ``shape_exercise`` (a
shape, a list, a set) hold the right answer and a table of known mistakes, each
with what it means; ``check_calls`` and ``first_problem`` run a learner's
function on named cases, or a learner's class through named steps, and report
the first that goes wrong; ``when`` writes one such step as a row (what is wrong,
what to say), and ``override`` writes a known mistake of a class exercise.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

from course_utils.exercises.core import Code, Exercise

# ---------------------------------------------------------------------------
# One number
# ---------------------------------------------------------------------------

def as_number(answer: Any) -> float | None:
    """``answer`` as a float, or None when it is not one number.

    ``True`` is not a number here, and a pair of equal numbers, such as the
    ``(h, w)`` size of a square map, counts as that number.

    >>> as_number("7"), as_number((5, 5)), as_number(True)
    (7.0, 5.0, None)
    """
    if isinstance(answer, (tuple, list, torch.Size)) and len(answer) == 2 and answer[0] == answer[1]:
        answer = answer[0]
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


def matches(value: float, target: Any, tolerance: float = 0.0) -> bool:
    """Whether ``value`` counts as ``target``: inside an interval (low, high), or equal up to a relative tolerance.

    >>> matches(2357.6, (2357.06, 2358.06)), matches(1761, 1760, tolerance=0.002), matches(3, 4)
    (True, True, False)
    """
    if isinstance(target, tuple):
        return target[0] <= value <= target[1]
    return value == target or abs(value - target) <= tolerance * abs(target)


def around(value: float, margin: float) -> tuple[float, float]:
    """The interval ``value`` +- ``margin``, for answers that may be rounded or read off a plot.

    >>> around(41.7, 1)
    (40.7, 42.7)
    """
    return value - margin, value + margin


def example_of(target: Any) -> float:
    """A value that counts as ``target``: the target itself, or the middle of its interval."""
    return (target[0] + target[1]) / 2 if isinstance(target, tuple) else target


def check_number(answer: Any, right: Any, mistakes: Mapping[Any, str], otherwise: str | Callable[[float], str],
                 *, what: str = "one number", tolerance: float = 0.0) -> str | None:
    """The usual check of a one-number answer, for a checker to return.

    None when ``answer`` counts as ``right``; the message of ``mistakes`` when it
    is a known wrong answer (what you get when you forget the bias, floor too
    early, ...); else "not it" followed by ``otherwise``, which says how to
    work it out (or ``otherwise(value)``, the whole message). ``what`` describes
    the expected answer when it is no number. Targets are values or intervals
    (low, high); ``tolerance`` is relative, for answers rounded any way.
    """
    value = as_number(answer)
    if value is None:
        return f"give {what}, not {answer!r}."
    if matches(value, right, tolerance):
        return None
    for wrong, message in mistakes.items():
        if matches(value, wrong, tolerance):
            return message
    return otherwise(value) if callable(otherwise) else f"{answer!r} is not it. {otherwise}"


def number_exercise(name: str, question: str, right: Any, mistakes: Mapping[Any, str],
                    otherwise: str | Callable[[float], str], *, hint: str, solution: str, praise: str,
                    what: str = "one number", tolerance: float = 0.0,
                    before: Callable[[Any], str | None] | None = None, **options: Any) -> Exercise:
    """An exercise whose answer is one number, checked by ``check_number``.

    ``before(answer)`` may reject an answer that is no number in a way worth
    explaining (a shape where its length is asked, ``'same'`` for a padding).
    ``options`` go to ``Exercise`` (``context``, the names the solution uses).

    >>> ex = number_exercise("k", "Kernel?", 3, {5: "that is 5."}, "Count.", hint="", solution="answer = 3",
    ...                      praise="right.")
    >>> ex.check(3).passed, ex.check(5).message
    (True, 'that is 5. (ex.k.hint() gives a hint.)')
    """
    def checker(answer: Any) -> str | None:
        """``before``'s objection, if any, else the usual one-number check."""
        problem = before(answer) if before else None
        return problem or check_number(answer, right, mistakes, otherwise, what=what, tolerance=tolerance)

    known = [(example_of(wrong), message) for wrong, message in mistakes.items()]
    known.append(("a lot", f"give {what}, not 'a lot'."))
    return Exercise(name, question, checker, hint, solution, praise, mistakes=known, **options)


def not_a_length(answer: Any) -> str | None:
    """The message for a shape given where the flattened length is asked, else None."""
    if isinstance(answer, (tuple, list, torch.Size)) and len(answer) in (3, 4):
        return (f"{tuple(answer)} is a shape; nn.Flatten turns each image's (C, H, W) map into one "
                "vector: give its length, the product C x H x W.")
    return None


# ---------------------------------------------------------------------------
# Shapes, lists, sets: any answer that can be read into one comparable value
# ---------------------------------------------------------------------------

def as_shape(answer: Any) -> tuple | None:
    """``answer`` as a tuple of numbers (ints where whole), or None when it is not a sequence of numbers.

    >>> as_shape(torch.Size([8, 128, 8, 8])), as_shape([7.5, 7.0]), as_shape("8, 8")
    ((8, 128, 8, 8), (7.5, 7), None)
    """
    if isinstance(answer, (str, bytes)):
        return None
    try:
        values = [float(v) for v in answer if not isinstance(v, bool)]
    except (TypeError, ValueError):
        return None
    if len(values) != len(answer):
        return None
    return tuple(int(v) if v.is_integer() else v for v in values)


def table_exercise(name: str, question: str, right: Any, mistakes: Mapping[Any, str],
                   otherwise: str | Callable[[Any], str], *, read: Callable[[Any], Any],
                   what: str | Callable[[Any], str], steps: Sequence[Callable[[Any], str | None]] = (),
                   hint: str, solution: str, praise: str, examples: Sequence[tuple[Any, str]] = (),
                   **options: Any) -> Exercise:
    """An exercise whose answer, once ``read`` (a shape, a set of names), is compared with a table.

    ``read(answer)`` gives the comparable value, or None for an answer of the
    wrong kind ("give ``what``", or ``what(answer)``, the whole message). Then:
    right; a known mistake of ``mistakes``; else the first of ``steps`` that
    finds something to say; else ``otherwise``. ``examples`` are more known
    mistakes, (answer, what its message says), that the steps diagnose.
    """
    def checker(answer: Any) -> str | None:
        """Read the answer, then: right, a known mistake, a step's message, or ``otherwise``."""
        value = read(answer)
        if value is None:
            return what(answer) if callable(what) else f"give {what}, not {answer!r}."
        if value == right:
            return None
        if value in mistakes:
            return mistakes[value]
        problem = first_problem(steps, value)
        return problem or (otherwise(value) if callable(otherwise) else otherwise)

    known = [*mistakes.items(), *examples]
    return Exercise(name, question, checker, hint, solution, praise, mistakes=known, **options)


def shape_exercise(name: str, question: str, right: tuple, mistakes: Mapping[tuple, str],
                   otherwise: str | Callable[[tuple], str], **fields: Any) -> Exercise:
    """A ``table_exercise`` for a shape or a list of numbers, read with ``as_shape`` unless ``read`` says otherwise."""
    fields.setdefault("read", as_shape)
    fields.setdefault("what", "a shape such as (8, 64, 15, 15)")
    return table_exercise(name, question, right, mistakes, otherwise, **fields)


# ---------------------------------------------------------------------------
# A learner's function or class: named cases, named steps
# ---------------------------------------------------------------------------

def check_calls(fn: Any, name: str, cases: Iterable[tuple[tuple, Any, str]], *,
                returns: type | None = None) -> str | None:
    """Call ``fn`` on each case ``(args, expected, why)``; the first wrong result is reported with its why.

    ``returns`` is the type every result must have (``bool`` for a yes/no
    question). None when every case is right.

    >>> check_calls(lambda a, b: a >= b, "beats", [((1, 1), False, "a tie is no win.")])
    'beats(1, 1) returned True: a tie is no win.'
    """
    if not callable(fn):
        return f"give the function itself (`{name}`), not {fn!r}."
    for args, expected, why in cases:
        call = f"{name}({', '.join(map(repr, args))})"
        got = fn(*args)
        if got is None and expected is not None:
            return f"{name} returned None: did you forget `return`?"
        if returns is not None and not isinstance(got, returns):
            return f"{call} returned {got!r}; return {'True or False' if returns is bool else returns.__name__}."
        if got != expected:
            return f"{call} returned {got!r}: {why}"
    return None


def first_problem(steps: Iterable[Callable[..., str | None]], *args: Any) -> str | None:
    """Run the named steps on ``args`` in order; the first one that finds a problem says it, else None.

    >>> first_problem([lambda n: None, lambda n: f"{n} is odd." if n % 2 else None], 3)
    '3 is odd.'
    """
    for step in steps:
        problem = step(*args)
        if problem:
            return problem
    return None


def when(wrong: Callable[..., bool], message: str | Callable[..., str]) -> Callable[..., str | None]:
    """A step for ``first_problem`` (or ``steps=``), written as a row: when ``wrong(value)``, say ``message``.

    ``message`` is the text, or ``message(value)`` for one that quotes the
    value; the step says nothing (None) when the value is not wrong that way.

    >>> too_short = when(lambda s: len(s) < 4, lambda s: f"{len(s)} dimensions: give four.")
    >>> too_short((8, 64)), too_short((8, 64, 15, 15))
    ('2 dimensions: give four.', None)
    """
    def step(*args: Any) -> str | None:
        """``message`` when the arguments are wrong that way, else None."""
        if not wrong(*args):
            return None
        return message(*args) if callable(message) else message
    return step


def override(cls: str, signature: str, *lines: str) -> Code:
    """A known mistake of a class exercise: the solution's class ``cls`` with one method rewritten.

    The subclass keeps every other method of the solution, so the mistake is
    exactly the rewritten lines (which the check should then name):

    >>> print(override("MyBlock", "forward(self, x)", "return x"))
    class MyBlock(MyBlock):
        def forward(self, x):
            return x
    """
    body = "".join(f"\n        {line}" for line in lines)
    return Code(f"class {cls}({cls}):\n    def {signature}:{body}")
