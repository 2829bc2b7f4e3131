"""Self-checking exercises: the learner answers, a check says right or what is wrong.

Each notebook has a module here (``course_utils.exercises.conv_arithmetic``
for ``01_conv2d_output_size``, ...) holding its ``Exercise`` objects. In a
notebook::

    from course_utils.exercises import conv_arithmetic as ex
    ex.output_size.question()      # what to do (ex.output_size.markdown() is the same
                                   # text for a markdown cell, readable without running)
    answer = ...                   # the learner's answer
    ex.output_size.check(answer)   # right, or what is wrong
    # ex.output_size.hint()        # a nudge, opt-in: remove the # to see it
    # ex.output_size.solution()    # the answer, when stuck

A check never crashes on an unfinished exercise: ``...``/``None`` or a
function that still raises ``NotImplementedError`` is reported as "not done
yet", so a student copy with stubs runs top to bottom. A check never changes
the learner's random numbers either: it runs inside ``keep_rng_state()``, and
a checker that wants fixed random numbers uses ``seeded(0)``.

Under nbgrader (``nbgrader autograde``, ``nbgrader validate``) a check that
does not pass raises ``NotPassedError`` instead of printing, since nbgrader
gives a test cell its points when it runs without an error. The notebooks
carry nbgrader's cell metadata: the question cell locked, the answer cell a
solution cell, the check cell a graded test cell worth one point.
"""
from course_utils.exercises.core import (
                                         NOTEBOOK_MODULES,
                                         Code,
                                         Exercise,
                                         NotPassedError,
                                         Result,
                                         all_exercises,
                                         expect_equal,
                                         hide_solutions,
                                         keep_rng_state,
                                         question_text,
                                         report,
                                         seeded,
)
from course_utils.exercises.toolkit import (
                                         around,
                                         as_number,
                                         as_shape,
                                         check_calls,
                                         check_number,
                                         first_problem,
                                         not_a_length,
                                         number_exercise,
                                         override,
                                         shape_exercise,
                                         table_exercise,
                                         when,
)

__all__ = [
    "NOTEBOOK_MODULES", "Code", "Exercise", "NotPassedError", "Result", "all_exercises", "expect_equal",
    "hide_solutions", "keep_rng_state", "question_text", "report", "seeded", "around", "as_number", "as_shape", "check_calls",
    "check_number", "first_problem", "not_a_length", "number_exercise", "override", "shape_exercise",
    "table_exercise", "when",
]
