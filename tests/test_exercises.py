"""The exercise framework itself; each notebook's exercises are tested in test_exercises_<topic>.py."""
import torch

from course_utils.exercises import Exercise, expect_equal


def make(checker=None):
    checker = checker or expect_equal(2, "padding")
    return Exercise("padding", "Which padding keeps 32 -> 32 with a 5x5 kernel?", checker,
                    hint="out = in + 2p - k + 1", solution="padding = 2")


def test_right_answer_passes():
    result = make().check(2)
    assert result.passed and bool(result) and "[right]" in repr(result)


def test_wrong_answer_says_what_is_wrong_and_points_to_hint():
    result = make().check(3)
    assert not result.passed and result.done
    assert "padding is 3" in result.message and "hint()" in result.message


def test_ellipsis_or_none_is_not_done_yet():
    for answer in (..., None):
        result = make().check(answer)
        assert not result.done and "[not done yet]" in repr(result)


def test_stub_function_raising_not_implemented_is_not_done_yet():
    def stub(n):
        raise NotImplementedError

    result = make(lambda f: None if f(1) == 1 else "wrong").check(stub)
    assert not result.done and "NotImplementedError" in result.message


def test_crashing_learner_code_is_reported_not_raised():
    result = make(lambda f: None if f(1) == 1 else "wrong").check(lambda n: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message


def test_hint_and_solution_print(capsys):
    ex = make()
    ex.hint(); ex.solution(); ex.question()
    out = capsys.readouterr().out
    assert "out = in + 2p - k + 1" in out and "padding = 2" in out and "5x5 kernel" in out


def test_as_number_accepts_numbers_and_square_sizes_but_not_bools_or_text():
    from course_utils.exercises import as_number
    assert as_number(7) == 7.0 and as_number("7") == 7.0 and as_number(torch.tensor(7)) == 7.0
    assert as_number((5, 5)) == 5.0
    assert as_number((5, 6)) is None and as_number(True) is None and as_number("seven") is None


def test_check_number_names_the_known_mistake_else_says_how_to_work_it_out():
    from course_utils.exercises import check_number
    mistakes = {2432: "that is the first convolution."}
    assert check_number(51264, 51264, mistakes, "count the weights.") is None
    assert check_number(2432.0, 51264, mistakes, "count the weights.") == "that is the first convolution."
    assert check_number(10, 51264, mistakes, "count the weights.") == "10 is not it. count the weights."
    assert check_number([1, 2, 3], 51264, mistakes, "x", what="one int") == "give one int, not [1, 2, 3]."
