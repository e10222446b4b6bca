"""The lesson's training calls as data: each ``learn.fit(lr, n_cycle, cycle_len, cycle_mult, wds=wd)`` is a
``Fit``, and its learning rate per step follows fastai 0.7's schedulers exactly.

Without ``cycle_len`` fastai 0.7 trains ``n_cycle`` epochs at a constant rate. With it, ``CosAnneal`` runs
``n_cycle`` cosine cycles (restarts), the first ``cycle_len`` epochs long and each next one ``cycle_mult``
times longer; for the first 1/20 of the first cycle the rate is lr/100 (a warm-up), then cosine from there.
Each ``fit`` call builds a new optimiser, so momentum starts afresh at every ``Fit``.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Fit:
    lr: float
    n_cycle: int
    cycle_len: int | None = None
    cycle_mult: int = 1

    @property
    def epochs(self) -> int:
        if self.cycle_len is None:
            return self.n_cycle
        return sum(self.cycle_len * self.cycle_mult**cycle for cycle in range(self.n_cycle))

    def learning_rates(self, steps_per_epoch: int) -> list[float]:
        """The rate of every step of this fit, as fastai 0.7's ``LossRecorder`` or ``CosAnneal`` sets it."""
        total = self.epochs * steps_per_epoch
        if self.cycle_len is None:
            return [self.lr] * total
        rates = []
        cycle_steps = self.cycle_len * steps_per_epoch  # fastai's nb
        cycle_step = 0  # fastai's cycle_iter
        for step in range(total):  # step is fastai's iteration
            if step < cycle_steps / 20:
                rates.append(self.lr / 100)
            else:
                rates.append(self.lr / 2 * (math.cos(math.pi * cycle_step / cycle_steps) + 1))
            cycle_step += 1
            if cycle_step == cycle_steps:
                cycle_step = 0
                cycle_steps *= self.cycle_mult
        return rates


@dataclass(frozen=True)
class Recipe:
    """One network's training in the notebook: its ``fit`` calls in order, and the weight decay they pass."""

    fits: tuple[Fit, ...]
    weight_decay: float = 0.0
    batch_size: int = 256
    momentum: float = 0.9

    @property
    def epochs(self) -> int:
        return sum(fit.epochs for fit in self.fits)

    def locate(self, epoch: int) -> tuple[int, int]:
        """(index of the fit, epoch within it) of the run's 0-based ``epoch``."""
        for index, fit in enumerate(self.fits):
            if epoch < fit.epochs:
                return index, epoch
            epoch -= fit.epochs
        raise ValueError("epoch past the end of the recipe")
