"""The exercises of 00_setup accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest

from course_utils import get_device
from course_utils.exercises import setup as ex

# --- device ------------------------------------------------------------------

def test_device_accepts_what_get_device_finds_in_any_spelling():
    found = get_device().type
    for answer in (found, found.upper(), f" {found} ", f"{found}:0"):
        assert ex.device.check(answer).passed, answer


def test_device_follows_course_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert ex.device.check("cpu").passed
    result = ex.device.check("cuda")
    assert not result.passed and "get_device() picks 'cpu' here" in result.message


@pytest.mark.parametrize("wrong, says", [
    ("gpu", "no device called 'gpu'"),
    ("nvidia", "'cuda'"),
    ("tpu", "not one of PyTorch's device types"),
    (0, "as a string"),
])
def test_device_explains_typical_mistakes(wrong, says):
    result = ex.device.check(wrong)
    assert not result.passed and result.done and says in result.message


# --- run_length --------------------------------------------------------------

def test_run_length_is_one_epoch_because_smoke_mode_wins(monkeypatch):
    from course_utils import pick
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert ex.run_length.check(pick(full=30, short=10, smoke=1, run="short")).passed


@pytest.mark.parametrize("wrong, says", [(10, "smoke wins over RUN"), (30, "full run"),
                                         (3, "pick returns smoke"), ("ten", "one number")])
def test_run_length_explains_typical_mistakes(wrong, says):
    result = ex.run_length.check(wrong)
    assert not result.passed and says in result.message


# --- epoch_minutes -----------------------------------------------------------

@pytest.mark.parametrize("right", [50_000 / 20 / 60, 42, 41.5, "41.7"])
def test_epoch_minutes_accepts_about_42(right):
    assert ex.epoch_minutes.check(right).passed


@pytest.mark.parametrize("wrong, says", [
    (2500, "seconds"),
    (50_000 / 2500 / 60, "T4's time"),
    (0.69, "hours"),
    (40, "Divide the images"),
    ("long", "one number of minutes"),
])
def test_epoch_minutes_explains_typical_mistakes(wrong, says):
    result = ex.epoch_minutes.check(wrong)
    assert not result.passed and says in result.message


def test_unfinished_answers_are_not_done_yet():
    for exercise in (ex.device, ex.run_length, ex.epoch_minutes):
        assert not exercise.check(...).done
