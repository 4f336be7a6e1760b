"""A study: one configuration's sampler (Optuna's Halton, random or TPE; or the --lrs auto grid), asked for
trials in rounds through Optuna's ask/tell interface, so a round's trials train together."""

from __future__ import annotations

from typing import Any

from nncmp.config.space import Param
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
        """The next round: every trial for Halton, random and the grid, TPE_ROUND for TPE."""
        size = TPE_ROUND if self.tuning.sampler == "tpe" else self.tuning.trials
        size = min(size, self.tuning.trials - self.asked)
        out = []
        for _ in range(size):
            if self.tuning.sampler == GRID:
                out.append((self.asked, {"learning_rate": self.space["learning_rate"].values[self.asked]}, None))
            else:
                trial = self.study.ask(self.distributions)
                out.append((self.asked, dict(trial.params), trial))
            self.asked += 1
        return out

    def tell(self, handle: Any, value: float) -> None:
        if handle is not None:
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
