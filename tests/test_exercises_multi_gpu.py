"""The exercises of 12_from_notebook_to_multi_gpu accept right answers and explain typical wrong ones."""
from __future__ import annotations

import math

import pytest

from course_utils.exercises import multi_gpu as ex


def not_done(result) -> bool:
    return not result.passed and not result.done and "not done yet" in repr(result)


@pytest.mark.parametrize("exercise", [ex.per_rank_batch, ex.epoch_plan, ex.scaled_lr, ex.who_writes])
def test_an_unfinished_answer_reports_not_done_yet(exercise):
    assert not_done(exercise.check(...))

    def stub(*args):
        raise NotImplementedError

    assert not_done(ex.epoch_plan.check(stub))


# --- per_rank_batch ---------------------------------------------------------------

def test_per_rank_batch_accepts_64():
    assert ex.per_rank_batch.check(64).passed
    assert ex.per_rank_batch.check(512 // 8).passed


@pytest.mark.parametrize("wrong, says", [
    (128, "one machine"), (256, "machines only"), (512, "global batch itself"), (4096, "not multiplied"),
])
def test_per_rank_batch_explains_typical_mistakes(wrong, says):
    result = ex.per_rank_batch.check(wrong)
    assert not result.passed and result.done and says in result.message


# --- epoch_plan ---------------------------------------------------------------------

def right_plan(n_images, global_batch, world_size):
    per_rank = math.ceil(n_images / world_size)
    steps = math.ceil(per_rank / (global_batch // world_size))
    return per_rank, steps, per_rank * world_size - n_images


def test_epoch_plan_solution_agrees_with_pytorch_and_passes():
    for case in [(1000, 128, 2), (1003, 64, 4), (7, 2, 2)]:
        assert right_plan(*case) == ex.real_epoch_plan(*case)
    assert ex.epoch_plan.check(right_plan).passed


def test_epoch_plan_that_floors_is_told_the_sampler_pads():
    def floored(n, b, w):
        per_rank = n // w
        return per_rank, math.ceil(per_rank / (b // w)), 0
    result = ex.epoch_plan.check(floored)
    assert not result.passed and "you floored" in result.message and "pads" in result.message


def test_epoch_plan_that_drops_the_last_batch_is_told_to_round_up():
    def dropped(n, b, w):
        per_rank = math.ceil(n / w)
        return per_rank, per_rank // (b // w), per_rank * w - n
    result = ex.epoch_plan.check(dropped)
    assert not result.passed and "round up" in result.message


def test_epoch_plan_without_repeats_is_told_how_many_are_repeated():
    def no_repeats(n, b, w):
        per_rank, steps, _ = right_plan(n, b, w)
        return per_rank, steps, 0
    result = ex.epoch_plan.check(no_repeats)
    assert not result.passed and "repeats" in result.message


def test_epoch_plan_that_gives_every_rank_all_images_is_told_about_shares():
    result = ex.epoch_plan.check(lambda n, b, w: (n, math.ceil(n / b), 0))
    assert not result.passed and "its share" in result.message


def test_epoch_plan_returning_the_wrong_shape_is_told_so():
    result = ex.epoch_plan.check(lambda n, b, w: 3)
    assert not result.passed and "three numbers" in result.message


# --- scaled_lr ----------------------------------------------------------------------

def test_scaled_lr_accepts_0_8():
    assert ex.scaled_lr.check(0.8).passed
    assert ex.scaled_lr.check(0.1 * 8 * 256 / 256).passed


@pytest.mark.parametrize("wrong, says", [
    (0.1, "one-GPU learning rate"), (0.1 * math.sqrt(8), "square-root rule"),
    (0.0125, "you divided"), ("fast", "one number"),
])
def test_scaled_lr_explains_typical_mistakes(wrong, says):
    result = ex.scaled_lr.check(wrong)
    assert not result.passed and says in result.message


# --- who_writes ---------------------------------------------------------------------

def test_who_writes_accepts_rank_0_alone():
    assert ex.who_writes.check({0}).passed
    assert ex.who_writes.check(0).passed
    assert ex.who_writes.check([0]).passed


@pytest.mark.parametrize("wrong, says", [
    ({0, 4}, "LOCAL_RANK-0"), (set(range(8)), "corrupt"), ({7}, "rank 0"),
])
def test_who_writes_explains_typical_mistakes(wrong, says):
    result = ex.who_writes.check(wrong)
    assert not result.passed and says in result.message
