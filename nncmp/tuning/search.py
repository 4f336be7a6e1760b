"""Tuning with a budget: the same number of trials for every optimizer, scored on a split of the training data.

    every configuration of the grid apart from its hyperparameters (TUNED_PER): its search space
    → S studies × N trials asked of an Optuna sampler (Halton, random, TPE; `--lrs auto`: a grid over lr)
    → trials trained on the holdout split (at least MIN_SCORED examples to score on), with one seed, grouped
      and stacked like any runs (run_phase), resumable by run id; a trial that diverges or collapses (its
      predictions all one class) never wins and is recorded
    → each study's best trial; the winner of the median study is the tuned configuration
    → tuning.csv (every trial), tuning.json (the reporting checklist), budget.csv (what each budget buys)
    → the runs to report: every configuration at its defaults and tuned, with every seed.

No peeking: the trials never see the validation data that `compare` reports (registry.datasets.holdout).
The default configuration also trains once on the split (Crowded Valley's one-shot), outside the budget,
so the tuning table shows what tuning adds to it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.budget import rounds
from nncmp.config.comparison import Options
from nncmp.config.run import RunSpec
from nncmp.config.space import WIDEN, Param, apply, columns_of, lr_grid, space_for, with_values
from nncmp.config.tuning import GRID, Tuning
from nncmp.registry.datasets import Data, holdout
from nncmp.registry.optimizers import entry
from nncmp.results import checked, schema, store
from nncmp.results.schema import COLLAPSED, DIVERGED, TUNED_PER, tuning_hyper_columns
from nncmp.training.progress import Reporter
from nncmp.training.runner import run_phase
from nncmp.tuning import budget
from nncmp.tuning.study import Study

if TYPE_CHECKING:
    import pandas as pd

EDGE = 0.05  # a chosen rate in the outer 5% of its (log) range is "at the edge"
# The fewest examples (for labels per position: positions with a target) a tuning split may score its trials on.
# An accuracy measured on n examples is uncertain by up to ±1.96·√(0.25/n) (95%): ±0.098 at 100, so scores
# closer than about 0.1 are not told apart even there, and on fewer a lucky split decides (91 examples once
# scored a rate 1.000 that diverged or collapsed on the full data). The split is not enlarged instead: a larger
# share held out trains the trials on fewer examples than the runs they choose for (fewer steps per epoch),
# which moves the best rate; small data wants cross-validation, which nncmp does not do.
MIN_SCORED = 100
NOT_WINNING = (DIVERGED, COLLAPSED, "failed")  # statuses whose trial never wins


@dataclass
class Trial:
    key: tuple[Any, ...]  # the configuration (TUNED_PER values) it tunes
    kind: str  # "trial", or "default" (the one-shot at the optimizer's defaults, outside the budget)
    study: int
    number: int
    sampled: dict[str, Any]  # space name → the sampled number
    spec: RunSpec  # resolved on the split
    handle: Any = None  # the Optuna trial, to tell


def spaces(reps: dict[tuple[Any, ...], RunSpec], tuning: Tuning) -> dict[tuple[Any, ...], dict[str, Param]]:
    """Each configuration's search space (the grid: every rate it may reach, widened: study.py)."""
    if tuning.sampler == GRID:
        return {k: {"learning_rate": Param("learning_rate",
                                           values=tuple(lr_grid(entry(s.optimizer).lr, beyond=WIDEN)))}
                for k, s in reps.items()}
    return {k: space_for(s.optimizer, s.schedule, tuning.space) for k, s in reps.items()}


def check_tuning(specs: list[RunSpec], tuning: Tuning) -> None:
    """SpecError before any training if the space names what the grid's optimizers lack, or if a trial at
    either end of a range (or at any listed value) would not be a valid run (betas of 1, a negative decay)."""
    from nncmp.config.space import check_space
    from nncmp.errors import SpecError

    if tuning.space:
        check_space(tuning.space, sorted({s.optimizer for s in specs}), sorted({s.schedule for s in specs}))
    seen = set()
    for s in specs:
        key = tuning_key(s)
        if key in seen:
            continue
        seen.add(key)
        for name, param in space_for(s.optimizer, s.schedule, tuning.space).items():
            for value in param.values if param.values is not None else (param.low, param.high):
                try:
                    apply(s, {name: param}, {name: value})
                except SpecError as e:
                    raise SpecError(f"--space {name} = {value:g} for {s.optimizer}: {e}") from None


def tuning_key(spec: RunSpec, keys: list[str] = TUNED_PER) -> tuple[Any, ...]:
    """The values of `keys` (a tuning table's key columns) for a resolved spec, as the table holds them."""
    columns = spec.columns()
    return tuple(columns[k] for k in keys)


def scored_examples(data: Data) -> tuple[int, str] | None:
    """How many examples the holdout split scores tuning trials on, and what they are ("examples", or with labels
    per position the positions with a target); None for data whose validation set is its training set
    (toy-regression), which is its own split: there is no held-out sample whose size matters."""
    if data.x_val is data.x_train:
        return None
    split = holdout(data)  # the split itself, so the count is the one tuning uses, whatever its rounding
    if data.per_token:
        from nncmp.registry.data import IGNORE_INDEX

        return int((split.y_val != IGNORE_INDEX).sum()), f"{data.token} positions"
    return len(split.y_val), "examples"


def check_split(data: Data, what: str) -> None:
    """SpecError, before anything trains, if the tuning split would score trials on fewer than MIN_SCORED
    examples; `what`: the option that tunes (--lrs auto, --tune)."""
    from nncmp.errors import SpecError

    got = scored_examples(data)
    if got is not None and got[0] < MIN_SCORED:
        n, unit = got
        settings = "rates" if what == "--lrs auto" else "settings"
        raise SpecError(f"{what}: tuning would score its trials on {n} {unit} held out from the {data.n_train} "
                        f"training examples, too few to tell {settings} apart (at least {MIN_SCORED}); give the "
                        f"{settings} to compare yourself (--lrs 0.001,0.01,0.1) or use more training data")


def score(record: dict[str, Any]) -> float:
    """Higher is better; a diverged, collapsed or failed run scores -inf so it never wins."""
    if record["status"] in NOT_WINNING:
        return -math.inf
    return _value(record)


def _value(record: dict[str, Any]) -> float:
    acc = record.get("val_acc")
    if acc is not None and not (isinstance(acc, float) and math.isnan(acc)):
        return float(acc)
    return -float(record["val_loss"])


def budget_value(records: list[dict[str, Any]]) -> float:
    """A trial's score for the budget curves: its final score, or for a diverged or collapsed trial its score at
    epoch 0 (as good as not training: the curves need a finite worst, and -inf would swamp every mean)."""
    last = records[-1]
    if last["status"] not in NOT_WINNING:
        return _value(last)
    first = records[0]
    try:
        value = _value(first)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


FAILURE = {"val_acc": math.nan, "val_loss": math.nan, "status": "failed", "seconds": math.nan, "examples": 0}


def tune(specs: list[RunSpec], data: Data, folder: Path, reporter: Reporter, options: Options, tuning: Tuning,
         resume: bool = False, defaults: bool = True) -> list[RunSpec]:
    """Tune every configuration of `specs` (resolved on `data`), write tuning.csv, tuning.json and (for the
    samplers) budget.csv, and return the runs to report: each spec tuned, and at its defaults (unless not
    `defaults`: a suite judges the tuned runs only). A resume reuses a finished tuning.csv, or the finished trials."""
    if resume and (folder / schema.TUNING).exists():  # finished: its files, if whole, else made again (below)
        configs = {s.config_id: s.columns() for s in specs}
        table, problems = checked.finished_tuning(folder, configs, budget_csv=tuning.sampler != GRID)
        if not problems:
            return reported(specs, table, defaults)
        for line in problems:
            reporter.note(line)
        reporter.note(f"so {schema.TUNING} and the files made with it are made again from the trials' records in "
                      f"{schema.TUNING_METRICS} (the trials missing there train again)")
    check_split(data, "--lrs auto" if tuning.sampler == GRID else "--tune")
    first_seed = min(s.seed for s in specs)
    reps: dict[tuple[Any, ...], RunSpec] = {}
    for s in specs:
        reps.setdefault(tuning_key(s), replace(s, seed=first_seed))
    split = holdout(data)
    space_of = spaces(reps, tuning)
    on_split = lambda s: s.resolved(split.n_train)  # noqa: E731  (full-batch runs take the whole split)
    trials: list[Trial] = []
    if tuning.sampler != GRID:
        trials += [Trial(k, "default", -1, 0, {}, on_split(replace(rep, lr=entry(rep.optimizer).lr)))
                   for k, rep in reps.items()]
    base_seed = reps[next(iter(reps))].seed
    studies = {(k, s): Study(tuning, space_of[k], base_seed + s) for k in reps for s in range(tuning.studies)}
    path = folder / schema.TUNING_METRICS
    disk = checked.whole_runs(path, rounds(next(iter(reps.values()))), reporter.note, "trial") if resume else {}
    total = len(reps) * tuning.trials * tuning.studies
    reporter.note(f"tuning ({_what(tuning)}): {total} trials of {len(reps)} configuration(s) on {split.n_train} "
                  f"training examples, scored on {len(split.x_val)} held out from training")
    if disk:
        runs = total + (0 if tuning.sampler == GRID else len(reps))
        reporter.note(f"resuming: {len(disk)} of {runs} tuning runs already finished")
    results: dict[str, list[dict[str, Any]]] = {}
    first_round = True
    while first_round or not all(st.done for st in studies.values()):
        new = list(trials) if first_round else []
        for (k, s), st in studies.items():
            for number, sampled, handle in st.ask():
                new.append(Trial(k, "trial", s, number, sampled, on_split(apply(reps[k], space_of[k], sampled)),
                                 handle))
        trials += [t for t in new if t.kind == "trial"]
        _train([t.spec for t in trials], split, path, reporter, options, results, disk)
        for t in new:
            if t.kind == "trial":
                records = results[t.spec.run_id]
                # The grid widens towards the best as the choice sees it; a sampler learns from finite values.
                value = score(records[-1]) if tuning.sampler == GRID else _tell_value(records)
                studies[(t.key, t.study)].tell(t.handle, value)
        first_round = False
    for st in studies.values():
        st.close()
    table = trial_table(trials, results, reps, space_of, tuning)
    store.atomic_write_text(folder / schema.TUNING_JSON, json.dumps(checklist(table, tuning, space_of, reps, split),
                                                                    indent=2) + "\n")
    if tuning.sampler != GRID:
        store.write_csv(folder / schema.BUDGET, budget_table(table))
    # Last: a resume takes tuning.csv for a finished tuning, so the files made from it are on disk before it is.
    store.write_csv(folder / schema.TUNING, table)
    return reported(specs, table, defaults)


def _what(tuning: Tuning) -> str:
    if tuning.sampler == GRID:
        return f"learning rates on a grid, then {WIDEN} beyond the best one's side"
    return f"{tuning.sampler}, {tuning.studies} × {tuning.trials} trials per configuration"


def _tell_value(records: list[dict[str, Any]]) -> float:
    value = budget_value(records)
    return value if math.isfinite(value) else -1e30  # an error: the worst, as a finite number for the sampler


def _train(specs: list[RunSpec], split: Data, path: Path, reporter: Reporter, options: Options,
           results: dict[str, list[dict[str, Any]]], disk: dict[str, list[dict[str, Any]]]) -> None:
    """Train the trials not finished yet (each distinct run once), their records into `results` by run id."""
    unique = list({s.run_id: s for s in specs}.values())
    ids = {s.run_id for s in unique}
    done = {i: results.get(s.run_id) or disk[s.run_id] for i, s in enumerate(unique)
            if s.run_id in results or s.run_id in disk}
    carry = [r for run_id, rows in disk.items() if run_id not in ids for r in rows]
    by_run, failed = run_phase(unique, split, path, reporter, options, "tuning", done, carry=carry,
                               say_resumed=False)
    if failed:  # they lose the tuning; the grid's runs of that configuration report the error
        reporter.note(f"{len(failed)} tuning run(s) failed, e.g. {next(iter(failed.values()))}")
    for i, s in enumerate(unique):
        results[s.run_id] = by_run.get(i) or [dict(FAILURE)]


def trial_table(trials: list[Trial], results: dict[str, list[dict[str, Any]]],
                reps: dict[tuple[Any, ...], RunSpec], space_of: dict[tuple[Any, ...], dict[str, Param]],
                tuning: Tuning) -> pd.DataFrame:
    """tuning.csv: one row per trial (and per default one-shot), the study bests and the chosen trial marked,
    with the config ids the reported runs of each configuration will have."""
    import pandas as pd

    searched = {p.target for space in space_of.values() for p in space.values()} | {"lr"}
    columns = tuning_hyper_columns(searched)
    rows = []
    for t in trials:
        records = results[t.spec.run_id]
        last = records[-1]
        values = columns_of(t.spec)
        rows.append({**dict(zip(TUNED_PER, t.key)), "kind": t.kind, "study": t.study, "trial": t.number,
                     **{c: values.get(c, math.nan) for c in columns},
                     "default_lr": entry(t.spec.optimizer).lr, "score": score(last),
                     "budget_score": budget_value(records),
                     "tune_val_acc": last["val_acc"], "tune_val_loss": last["val_loss"], "status": last["status"],
                     "seconds": last["seconds"], "examples": last.get("examples", math.nan),
                     # the trial's records in tuning_metrics.csv (trials of the same run share them): MLflow's
                     # export tags each trial's run with its study and number through this
                     "run_id": t.spec.run_id})
    table = pd.DataFrame(rows)
    table["study_best"] = False
    table["chosen"] = False
    table["at_edge"] = False
    for k, rep in reps.items():
        mine = table[_rows_of(table, k) & (table["kind"] == "trial")]
        bests = []
        for _, g in mine.groupby("study", sort=True):
            tied = g[g["score"] == g["score"].max()]
            # Ties: the first trial; the grid's, the smallest rate (its widened rates come after it in the table).
            best = tied["lr"].idxmin() if tuning.sampler == GRID else tied.index[0]
            table.loc[best, "study_best"] = True
            bests.append(best)
        # The median study's winner (of an even number of studies: the lower of the two middle ones).
        ranked = sorted(bests, key=lambda i: (table.loc[i, "score"], -i))
        chosen = ranked[(len(ranked) - 1) // 2]
        table.loc[chosen, "chosen"] = True
        table.loc[chosen, "at_edge"] = _at_edge(float(table.loc[chosen, "lr"]), space_of[k], mine["lr"])
        default = replace(rep, lr=entry(rep.optimizer).lr)
        tuned = with_values(rep, table.loc[chosen].to_dict())
        table.loc[_rows_of(table, k), "default_config"] = default.config_id
        table.loc[_rows_of(table, k), "tuned_config"] = tuned.config_id
    return table


def _rows_of(table: pd.DataFrame, key: tuple[Any, ...]) -> pd.Series:
    mask = None
    for name, value in zip(TUNED_PER, key):
        m = table[name] == value
        mask = m if mask is None else mask & m
    return mask


def _at_edge(lr: float, space: dict[str, Param], tried: Iterable[float]) -> bool:
    param = next((p for p in space.values() if p.target == "lr"), None)
    if param is None:
        return False
    if param.values is not None:
        return lr in (min(tried), max(tried))
    if param.scaling == "log":
        where = (math.log(lr) - math.log(param.low)) / (math.log(param.high) - math.log(param.low))
    else:
        where = (lr - param.low) / (param.high - param.low)
    return where < EDGE or where > 1 - EDGE


def reported(specs: list[RunSpec], table: pd.DataFrame, defaults: bool = True) -> list[RunSpec]:
    """Each (resolved) spec at its optimizer's default rate and tuned (once if they are the same run); without
    `defaults`, tuned only."""
    keys = [k for k in TUNED_PER if k in table.columns]
    chosen = {}
    for r in table[table["chosen"]].to_dict("records"):
        chosen[tuple(int(r[k]) if k == "batch_size" else r[k] for k in keys)] = r
    out = []
    for s in specs:
        default = replace(s, lr=entry(s.optimizer).lr)
        tuned = with_values(default, chosen[tuning_key(s, keys)])
        if defaults:
            out.append(default)
        if tuned != default or not defaults:
            out.append(tuned)
    return out


def budget_table(table: pd.DataFrame) -> pd.DataFrame:
    """budget.csv: per configuration and budget n (1 … its trials over every study), the expected best
    score of n trials, its standard deviation, and the training seconds and examples n trials cost."""
    import pandas as pd

    rows = []
    trials = table[table["kind"] == "trial"]
    for key, g in trials.groupby(TUNED_PER, sort=False, dropna=False):
        values = [v for v in g["budget_score"] if math.isfinite(v)]
        if not values:
            continue
        worst = min(values)
        values = [v if math.isfinite(v) else worst for v in g["budget_score"]]  # an error: the worst trial
        sec, ex = float(g["seconds"].mean()), float(g["examples"].mean())
        for n, mean, sd in budget.curve(values):
            rows.append({**dict(zip(TUNED_PER, key)), "n": n, "expected_best": mean, "sd": sd,
                         "seconds": n * sec, "examples": n * ex})
    return pd.DataFrame(rows)


def checklist(table: pd.DataFrame, tuning: Tuning, space_of: dict[tuple[Any, ...], dict[str, Param]],
              reps: dict[tuple[Any, ...], RunSpec], split: Data) -> dict[str, Any]:
    """The reporting checklist of Dodge et al. (2019): what was searched, how, at what cost, chosen on what."""
    trials = table[table["kind"] == "trial"]
    per = []
    for k, rep in reps.items():
        mine = trials[_rows_of(trials, k)]
        bests = mine[mine["study_best"]]["score"].tolist()
        finite = [b for b in bests if math.isfinite(b)]
        # The grid: the rates it tried (its widening depends on the scores); a sampler: its space.
        bounds = {name: "{" + ", ".join(f"{v:g}" for v in sorted(mine["lr"])) + "}" if tuning.sampler == GRID
                  else p.text() for name, p in space_of[k].items()}
        per.append({"config": rep.config_id.split("/lr=")[0], "optimizer": rep.optimizer, "bounds": bounds,
                    "trials": int(len(mine)), "examples": float(mine["examples"].sum()),
                    "seconds": float(mine["seconds"].sum()),
                    # None: every trial of the study diverged or collapsed
                    "study_bests": [b if math.isfinite(b) else None for b in bests],
                    "median_of_study_bests": statistics.median(finite) if finite else None})
    seconds = trials["seconds"]
    return {
        "sampler": tuning.sampler if tuning.sampler != GRID else "grid (--lrs auto)",
        "sampler_seeds": [reps[next(iter(reps))].seed + s for s in range(tuning.studies)],
        "trials_per_configuration_per_study": tuning.trials, "studies": tuning.studies,
        "rounding": "sampled numbers rounded to 3 significant digits" if tuning.sampler != GRID else None,
        "mean_seconds_per_trial": float(seconds.mean()), "total_tuning_seconds": float(table["seconds"].sum()),
        "selection": (f"final score on a split of the training data: {split.n_train} examples to train, "
                      f"{len(split.x_val)} held out from the training set to score (the reported validation set "
                      "is never seen); one seed; the winner of the median study"
                      + (f"; the grid widened by {WIDEN} rates beyond the edge where its best rate lay (one each "
                         "side when inside), the same number of trials for every configuration"
                         if tuning.sampler == GRID else "")),
        "score": ("final val acc on the split (regression: − final val loss); a diverged trial, or a collapsed one "
                  "(its final predictions all one class), never wins"),
        "configurations": per,
    }
