"""The lesson's fit calls and fastai 0.7's learning rates: constant without cycles; with them a lr/100
warm-up for the first 1/20 of the first cycle, then cosine annealing that restarts at every cycle."""

import math

import pytest

from camserve.models.cifar.recipes import RECIPES
from camserve.models.cifar.schedule import Fit, Recipe


def test_epochs_of_the_lesson_fits() -> None:
    assert Fit(1e-2, 2).epochs == 2
    assert Fit(1e-2, 3, cycle_len=1, cycle_mult=2).epochs == 1 + 2 + 4
    assert Fit(1e-2, 8, cycle_len=4).epochs == 32
    assert RECIPES["lesson7-resnet2"].epochs == 41
    assert RECIPES["lesson7-resnet2"].weight_decay == 1e-6
    assert RECIPES["lesson7-resnet"].weight_decay == 1e-5
    assert [RECIPES[name].epochs for name in RECIPES] == [6, 4, 6, 4, 41, 41]


def test_without_cycles_the_rate_is_constant() -> None:
    assert Fit(0.1, 2).learning_rates(5) == [0.1] * 10


def test_cosine_cycles_with_warm_up_and_restarts() -> None:
    steps = 40
    rates = Fit(1.0, 3, cycle_len=1, cycle_mult=2).learning_rates(steps)
    assert len(rates) == 7 * steps
    assert rates[:2] == [0.01, 0.01]  # 40 / 20 = 2 warm-up steps
    assert rates[2] == pytest.approx(0.5 * (math.cos(math.pi * 2 / 40) + 1))
    assert rates[39] == pytest.approx(0.5 * (math.cos(math.pi * 39 / 40) + 1))
    # Restarts at full rate, with no second warm-up; the second cycle is twice as long.
    assert rates[40] == pytest.approx(1.0)
    assert rates[40 + 40] == pytest.approx(0.5 * (math.cos(math.pi * 40 / 80) + 1))
    assert rates[120] == pytest.approx(1.0)
    assert min(rates[40:]) > 0


def test_locate_an_epoch_in_the_recipe() -> None:
    recipe = Recipe((Fit(1, 2), Fit(1, 3, cycle_len=1)))
    assert [recipe.locate(epoch) for epoch in range(5)] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    with pytest.raises(ValueError):
        recipe.locate(5)
