"""Every exercise's own solution passes its check, and every known mistake in its table is diagnosed.

The solution is the code ``ex.NAME.solution()`` prints: run as a notebook cell
would be (``Exercise.solved``), it must give an answer the check accepts, so a
solution can never drift from its checker. Each exercise's table of known
mistakes (``Exercise.mistakes``: a wrong answer, or ``Code`` for a wrong
function or class, and the phrase its message contains) is walked the same way.
"""
from __future__ import annotations

import pytest

from course_utils.exercises import Code, all_exercises

EXERCISES = all_exercises()
MISTAKES = [pytest.param(key, wrong, says, id=f"{key}-{i}")
            for key, exercise in EXERCISES.items() for i, (wrong, says) in enumerate(exercise.mistakes)]


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_the_solution_run_as_code_passes_its_own_check(key):
    exercise = EXERCISES[key]
    result = exercise.check_in_context(exercise.solved())
    assert result.passed, f"{key}: the solution's answer fails its check: {result.message}"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_every_exercise_has_a_table_of_known_mistakes(key):
    assert len(EXERCISES[key].mistakes) >= 3, f"{key}: list its typical wrong answers in `mistakes`"


@pytest.mark.parametrize("key, wrong, says", MISTAKES)
def test_every_known_mistake_fails_with_its_diagnosis(key, wrong, says):
    exercise = EXERCISES[key]
    result = exercise.check_in_context(exercise.answer_of(wrong))
    shown = "code" if isinstance(wrong, Code) else repr(wrong)
    assert not result.passed and result.done, f"{key} accepted the known mistake {shown}"
    assert says in result.message, f"{key}, {shown}: {result.message}"
    assert f"ex.{exercise.name}.hint()" in result.message
