"""A study: one configuration's sampler (Optuna's Halton, random or TPE; or the --lrs auto grid), asked for
trials in rounds through Optuna's ask/tell interface, so a round's trials train together.

The grid (--lrs auto) asks in two rounds: the POINTS rates centred on the optimizer's default, then WIDEN more
beyond the edge where the best of them lies (config/space.py: widening); its space's values are the whole
ladder of rates it may reach."""

from __future__ import annotations

from typing import Any

from nncmp.config.space import POINTS, WIDEN, Param, widening
from nncmp.config.tuning import GRID, Tuning

TPE_ROUND = 4  # TPE trials asked at a time (each round learns from the ones before)


def distribution(param: Param) -> Any:
    """A searched number as an Optuna distribution: its values, or its range and scaling."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if param.values is not None:
        return CategoricalDistribution(list(param.values))
    return FloatDistribution(param.low, param.high, log=param.scaling == "log")


class Study:
    """One study of one configuration: its sampler, asked for trials in rounds and told their scores."""

    def __init__(self, tuning: Tuning, space: dict[str, Param], seed: int):
        self.tuning, self.space, self.asked = tuning, space, 0
        self.dummy = None
        self.told: dict[int, float] = {}  # the grid: ladder position → score
        if tuning.sampler == GRID:
            return
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if tuning.sampler == "halton":
            import warnings

            with warnings.catch_warnings():  # "experimental since v3.0": its interface is what nncmp pins
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler: Any = optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=seed,
                                                          warn_independent_sampling=False)
        elif tuning.sampler == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.distributions = {name: distribution(p) for name, p in space.items()}
        if tuning.sampler == "halton" and self.distributions:
            # Optuna's QMCSampler samples a study's first trial at random (it fixes the search space) and the
            # Halton sequence from the second on: that first trial is asked and discarded, so every one of the
            # N trials is a Halton point.
            self.dummy = self.study.ask(self.distributions)

    @property
    def done(self) -> bool:
        return self.asked >= self.tuning.trials

    def ask(self) -> list[tuple[int, dict[str, Any], Any]]:
        """The next round: every trial for Halton and random, TPE_ROUND for TPE; the grid's two rounds."""
        if self.tuning.sampler == GRID:
            return self._grid_round()
        size = TPE_ROUND if self.tuning.sampler == "tpe" else self.tuning.trials
        size = min(size, self.tuning.trials - self.asked)
        out = []
        for _ in range(size):
            trial = self.study.ask(self.distributions)
            out.append((self.asked, dict(trial.params), trial))
            self.asked += 1
        return out

    def _grid_round(self) -> list[tuple[int, dict[str, Any], Any]]:
        """The grid centred on the default (the ladder's middle POINTS), then the widening; a trial's handle is its
        position on the ladder."""
        ladder = self.space["learning_rate"].values
        assert ladder is not None and len(ladder) == POINTS + 2 * WIDEN and self.tuning.trials == POINTS + WIDEN
        if self.asked == 0:
            positions = list(range(WIDEN, WIDEN + POINTS))
        else:
            positions = widening(self.told, WIDEN, WIDEN + POINTS - 1, self.tuning.trials - self.asked)
        out = []
        for position in positions:
            out.append((self.asked, {"learning_rate": ladder[position]}, position))
            self.asked += 1
        return out

    def tell(self, handle: Any, value: float) -> None:
        """A trial's score (the grid: -inf for a diverged or collapsed trial; the samplers: a finite worst)."""
        if self.tuning.sampler == GRID:
            self.told[handle] = value
        elif handle is not None:
            self.study.tell(handle, value)

    def close(self) -> None:
        if self.dummy is not None:
            from optuna.trial import TrialState

            self.study.tell(self.dummy, state=TrialState.FAIL)


def first_trials(spec: Any, k: int, sampler: str = "halton") -> list[Any]:
    """The k trials one study of nncmp's space for `spec` (resolved) asks first (nncmp bench's trial case)."""
    from nncmp.config.space import apply, default_space

    space = default_space(spec.optimizer, spec.schedule)
    return [apply(spec, space, sampled) for _, sampled, _ in Study(Tuning(sampler, k), space, 0).ask()]
