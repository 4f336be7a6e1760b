"""Training a list of runs into a results folder: tuning runs, then the grid.

Records are saved as each group of runs finishes (metrics.csv, tuning_metrics.csv), in grid order
whatever order the groups finish in, so an interruption loses only the group in progress, and a resume
finds every finished run on disk and trains only the others. runs.csv says where each run stands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nncmp.results import store
from nncmp.spec.config import Options
from nncmp.registry.datasets import Data
from nncmp.errors import Interrupted, RunsFailed
from nncmp.training.execute import run_local
from nncmp.training.probes import Tracking
from nncmp.output.progress import RunProgress
from nncmp.training.recorder import records_frame
from nncmp.training.signals import exit_code, ignore_interrupts, termination_as_interrupt
from nncmp.spec.run import RunSpec

Records = list[dict[str, Any]]


def finished_runs(path: Path, specs: list[RunSpec], n_train: int) -> dict[int, Records]:
    """The records already in `path` (a metrics file of an earlier, interrupted attempt), by grid position.

    A run's rows are written only once it has finished, so every run in the file is complete.
    """
    if not path.exists():
        return {}
    frame = store.read_records(path)
    positions = {s.resolved(n_train).run_id: i for i, s in enumerate(specs)}
    done: dict[int, Records] = {}
    for run_id, rows in frame.groupby("run_id", sort=False):
        if run_id not in positions:
            raise store.StoreError(f"{path}: run {run_id} is not part of this comparison")
        done[positions[run_id]] = rows.to_dict("records")
    return done


def _saver(path: Path, by_run: dict[int, Records],
           after: Callable[[], None] | None) -> Callable[[list[tuple[int, Records]]], None]:
    """on_group for run_local: keeps each run's records by grid position and rewrites `path` in grid order,
    a whole group in one atomic write."""

    def save(group: list[tuple[int, Records]]) -> None:
        kept = {**by_run, **dict(group)}
        try:
            store.write_csv(path, records_frame([r for i in sorted(kept) for r in kept[i]]))
            by_run.update(group)  # only once it is on disk
            if after:
                after()
        except OSError as e:
            raise store.WriteError(f"cannot write {path}: {e.strerror or e}; the results saved before are "
                                   "intact") from None

    return save


def write_runs(folder: Path, specs: list[RunSpec], by_run: dict[int, Records], n_train: int,
               interrupted: bool = False, failed: dict[int, str] | None = None) -> None:
    """runs.csv: each run of the grid and where it stands — ok, diverged, pending, interrupted or failed
    (with its error)."""
    import pandas as pd

    failed = failed or {}
    rows = []
    for i, spec in enumerate(specs):
        status = by_run[i][-1]["status"] if i in by_run else (
            "failed" if i in failed else "interrupted" if interrupted else "pending")
        rows.append({"run": i + 1, "run_id": spec.resolved(n_train).run_id, "status": status,
                     "error": failed.get(i, "")})
    store.write_csv(Path(folder) / "runs.csv", pd.DataFrame(rows))


def write_layers(path: Path, run_ids: list[str], rows: dict[str, list[dict[str, Any]]]) -> None:
    """layers.csv (--track-layers): the finished runs' per-layer statistics, in grid order."""
    import pandas as pd

    store.write_csv(path, pd.DataFrame([r for run_id in run_ids for r in rows.get(run_id, [])]))


def _run(specs: list[RunSpec], data: Data, path: Path, console: Any, quiet: bool, options: Options, verbose: bool,
         phase: str, done: dict[int, Records], after: Callable[[dict[int, Records]], None] | None = None,
         probe: Any = None) -> tuple[dict[int, Records], dict[int, str]]:
    """Train the runs not in `done`; returns every run's records by position, and the failed ones' errors."""
    by_run = dict(done)
    save = _saver(path, by_run, (lambda: after(by_run)) if after else None)
    todo = [i for i in range(len(specs)) if i not in by_run]
    say = console.print if verbose and not quiet else None
    if done and not quiet:
        console.print(f"resuming: {len(done)} of {len(specs)} {phase} runs already finished")
    failed: dict[int, str] = {}
    try:
        with termination_as_interrupt(), RunProgress(console, [specs[i] for i in todo], data.n_train, quiet) as p:
            if options.backend == "local":
                from nncmp.training.devices import on_device

                failed = run_local([specs[i] for i in todo], on_device(data, options.device), p,
                                   lambda group: save([(todo[j], r) for j, r in group]), options.group_size, say,
                                   probe)
                failed = {todo[j]: error for j, error in failed.items()}
            else:
                failed = _run_parallel([specs[i] for i in todo], todo, data, p, save, options, phase, probe, say)
    except KeyboardInterrupt as e:
        ignore_interrupts()
        raise Interrupted(phase, len(by_run), len(specs), exit_code(e)) from None
    return by_run, failed


def _run_parallel(specs: list[RunSpec], positions: list[int], data: Data, progress: Any, save: Any,
                  options: Options, phase: str, probe: Any, say: Any) -> dict[int, str]:
    from nncmp.training.backends import DataRecipe, run_parallel

    first = specs[0]
    recipe = DataRecipe(first.dataset, first.n, options.data_dir, tuning=phase == "tuning", device=options.device)

    def on_group(group: list[tuple[int, Records]], tracked: dict[str, Any]) -> None:
        if probe is not None:
            probe.merge(tracked)
        save([(positions[j], r) for j, r in group])

    outcome = run_parallel(specs, recipe, data.n_train, progress, on_group, options.group_size, options.backend,
                           options.jobs, options.retries, tracking=probe.tracking if probe is not None else Tracking(),
                           address=options.address, say=say, threads=options.threads,
                           gpus_per_task=options.gpus_per_task if options.gpus_per_task is not None
                           else (1.0 if options.device.startswith("cuda") else 0.0),
                           deterministic=options.deterministic)
    if say:
        n_done = len(specs) - len(outcome.failed)
        say(f"driver: {outcome.driver_seconds * 1000 / max(n_done, 1):.1f} ms per finished run to save results; "
            f"{outcome.retried} retried group(s)")
    return {positions[j]: error for j, error in outcome.failed.items()}


def tune_rates(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool,
               options: Options = Options(), verbose: bool = False, resume: bool = False) -> list[RunSpec]:
    """--lrs auto: train the tuning grid on a split of the training data, write tuning.csv, and return the
    runs to report: every spec at its optimizer's default rate and at its tuned rate. A resume reuses a
    finished tuning.csv, or the finished tuning runs."""
    from nncmp.tuning import lr as tune

    if resume and (folder / "tuning.csv").exists():
        table = tune.read_table(folder / "tuning.csv")
        return tune.with_tuned_rates(specs, table, data.n_train)
    candidates = tune.tuning_specs(specs)
    split = tune.tuning_split(data)
    path = folder / "tuning_metrics.csv"
    done = finished_runs(path, candidates, split.n_train) if resume else {}
    if not quiet:
        console.print(f"tuning learning rates: {len(candidates)} runs on {split.n_train} training examples, "
                      f"scored on {len(split.x_val)} held out from training")
    by_run, failed = _run(candidates, split, path, console, quiet, options, verbose, "tuning", done)
    if failed and not quiet:  # they lose the tuning; the grid's runs of that configuration report the error
        console.print(f"{len(failed)} tuning run(s) failed, e.g. {next(iter(failed.values()))}")
    failure = {"val_acc": math.nan, "val_loss": math.nan, "status": "failed", "seconds": math.nan}
    finals = [by_run[i][-1] if i in by_run else failure for i in range(len(candidates))]
    table = tune.tuning_table(candidates, finals, data.n_train)
    store.write_csv(folder / "tuning.csv", table)
    return tune.with_tuned_rates(specs, table, data.n_train)


def run_grid(specs: list[RunSpec], data: Data, folder: Path, console: Any, quiet: bool,
             options: Options = Options(), verbose: bool = False, resume: bool = False) -> None:
    """Train every spec not finished yet, rewriting metrics.csv and runs.csv after each finished group."""
    path = folder / "metrics.csv"
    done = finished_runs(path, specs, data.n_train) if resume else {}
    write_runs(folder, specs, done, data.n_train)
    tracker = None
    tracking = Tracking(layers=options.track_layers, weights=options.track_weights, every=options.track_every,
                        seed=min((s.seed for s in specs), default=None))
    if tracking:
        from nncmp.training.probes import Probes

        tracker = Probes(data, tracking)
        if resume and options.track_layers and (folder / "layers.csv").exists():  # the finished runs' rows
            earlier = store.read_csv(folder / "layers.csv", ["run_id", "epoch", "layer", "statistic", "value"])
            for run_id, rows in earlier.groupby("run_id", sort=False):
                tracker.rows[run_id] = rows.to_dict("records")

    written: set[int] = set()  # runs already in --tensorboard's LOGDIR

    def after(current: dict[int, Records]) -> None:
        write_runs(folder, specs, current, data.n_train)
        run_ids = [specs[i].resolved(data.n_train).run_id for i in sorted(current)]
        if options.tensorboard:  # as runs finish, so `tensorboard --logdir` shows progress live
            from nncmp.output.tensorboard import write_run

            for i in sorted(set(current) - written):
                write_run(Path(options.tensorboard), current[i])
                written.add(i)
        if tracker and tracker.layers:
            write_layers(folder / "layers.csv", run_ids, tracker.rows)
        if tracker and tracker.weights:  # written once, as the run's group finishes; then out of memory
            tracker.weights.save(folder, run_ids)

    try:
        _, failed = _run(specs, data, path, console, quiet, options, verbose, "training", done, after, tracker)
        if failed:
            write_runs(folder, specs, finished_runs(path, specs, data.n_train), data.n_train, failed=failed)
            raise RunsFailed({specs[i].resolved(data.n_train).run_id: e for i, e in failed.items()})
    except Interrupted:
        # From the file itself: an interrupt may land between writing metrics.csv and noting it in memory.
        write_runs(folder, specs, finished_runs(path, specs, data.n_train), data.n_train, interrupted=True)
        raise
