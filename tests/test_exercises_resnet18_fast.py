"""The exercises of 07_resnet18_fast accept right answers and explain typical wrong ones."""
from __future__ import annotations

import pytest
import torch

from course_utils.data import DeviceLoader
from course_utils.datasets import MEAN, STD
from course_utils.exercises import resnet18_fast as ex

# --- loader_bound -------------------------------------------------------------------


def test_loader_bound_is_one_over_the_compute_share_of_the_example_profile():
    assert sum(ex.EXAMPLE_PROFILE.values()) == pytest.approx(1.0)
    assert ex.loader_bound.check(1 / ex.EXAMPLE_PROFILE["compute"]).passed
    assert ex.loader_bound.check(3.3).passed and ex.loader_bound.check("3.33").passed


@pytest.mark.parametrize("wrong, says", [
    (1 / (1 - 0.62), "loading only"),
    (0.7, "share of time removed"),
    (1 / 0.7, "other way round"),
    (2.33, "add the 1 back"),
])
def test_loader_bound_explains_each_known_mistake(wrong, says):
    result = ex.loader_bound.check(wrong)
    assert not result.passed and says in result.message


def test_loader_bound_says_how_to_work_out_an_unknown_wrong_answer():
    result = ex.loader_bound.check(5)
    assert not result.passed and "Only the compute is left" in result.message


# --- dataset_bytes ------------------------------------------------------------------


def test_dataset_bytes_agrees_with_what_a_device_loader_holds():
    images = torch.zeros(60, 3, 32, 32, dtype=torch.uint8)  # 60 images stand for 60,000
    loader = DeviceLoader(images, torch.zeros(60, dtype=torch.int64), batch_size=8,
                          mean=MEAN["cifar10"], std=STD["cifar10"], device="cpu")
    kept = loader.images.numel() * loader.images.element_size()
    assert ex.dataset_bytes.check(kept * 1000 / 1e6).passed  # 1,000 times as many images


@pytest.mark.parametrize("wrong, says", [
    (737.28, "float32"), (61.44, "3 colour channels"), (153.6, "training images alone"),
    (175.78, "MiB"), (184_320_000, "number of bytes"),
])
def test_dataset_bytes_explains_each_known_mistake(wrong, says):
    result = ex.dataset_bytes.check(wrong)
    assert not result.passed and says in result.message


def test_dataset_bytes_accepts_rounded_answers_and_refuses_text():
    assert ex.dataset_bytes.check(184).passed and ex.dataset_bytes.check(184.3).passed
    result = ex.dataset_bytes.check("184 MB")
    assert not result.passed and "one number of megabytes" in result.message


# --- step_speedup -------------------------------------------------------------------


def test_step_speedup_divides_the_row_by_the_row_just_above_it():
    rows = list(ex.EXAMPLE_LADDER.items())
    i = next(k for k, (name, _) in enumerate(rows) if name.startswith("+ mixed precision"))
    assert ex.step_speedup.check(rows[i][1] / rows[i - 1][1]).passed
    assert ex.step_speedup.check(1.9).passed


@pytest.mark.parametrize("wrong, says", [
    (2300 / 900, "compares with the baseline"),
    (2300 - 1200, "difference"),
    (1200 / 2300, "upside down"),
    (3200 / 1200, "which come after it"),
])
def test_step_speedup_explains_each_known_mistake(wrong, says):
    result = ex.step_speedup.check(wrong)
    assert not result.passed and says in result.message


def test_the_example_ladder_only_ever_gets_faster():
    speeds = list(ex.EXAMPLE_LADDER.values())
    assert speeds == sorted(speeds) and len(set(speeds)) == len(speeds)
