"""gradctrl.options: flags over the config, and the number checks every command and the config share."""
import argparse

import pytest

from gradctrl.errors import UserError
from gradctrl.options import check_int, check_number, flags_over_config, number_problem


def test_flags_win_over_the_config():
    args = argparse.Namespace(steps=3, step_size=None)
    settings = flags_over_config(args, steps=9, step_size=0.5)
    assert (settings.steps, settings.step_size) == (3, 0.5)


@pytest.mark.parametrize("value, bounds, problem", [
    (0, dict(integer=True, low=1), "must be at least 1"),
    (2.5, dict(integer=True), "expected an integer"),
    (True, dict(integer=True), "expected an integer"),
    (float("nan"), {}, "expected a finite number"),
    (0.0, dict(low=0, low_open=True), "must be greater than 0"),
    (1.0, dict(high=1, high_open=True), "must be below 1"),
    (1.5, dict(high=1), "must be at most 1"),
    (1, dict(integer=True, low=1, high=1), None),
])
def test_number_problems(value, bounds, problem):
    assert number_problem(value, **bounds) == problem


def test_checks_name_the_flag_and_value():
    assert check_int(4, "--steps") == 4 and check_number(0.5, "--step_size", low=0, low_open=True) == 0.5
    with pytest.raises(UserError, match=r"^--steps 0: must be at least 1$"):
        check_int(0, "--steps")
    with pytest.raises(UserError, match=r"^--seed -1: must be at least 0$"):
        check_int(-1, "--seed", low=0)
