"""Training a list of runs into a results folder, saved group by group, and resumable.

Records are saved as each group of runs finishes (metrics.csv, or tuning_metrics.csv for tuning runs),
in the order of the run list whatever order the groups finish in, so an interruption loses only the
group in progress, and a resume finds every finished run on disk and trains only the others. runs.csv
says where each run stands. The specs given here are resolved (every default filled in on the data they
train on): their run ids are the ones in the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nncmp.config.budget import rounds
from nncmp.config.comparison import Options
from nncmp.config.run import RunSpec
from nncmp.errors import Interrupted, RunsFailed, UserCodeStopped, WriteError
from nncmp.registry.user import how_stopped
from nncmp.results import checked, schema, store
from nncmp.results.schema import records_frame
from nncmp.training import weights
from nncmp.training.backends import train
from nncmp.training.plan import plan
from nncmp.training.probes import Probes, Tracking
from nncmp.training.progress import Reporter
from nncmp.training.recorder import Record
from nncmp.training.signals import exit_code, ignore_interrupts, termination_as_interrupt

if TYPE_CHECKING:
    from nncmp.registry.datasets import Data

# Called after every save with every finished run's records so far, by position in the run list.
OnSaved = Callable[[dict[int, list[Record]]], None]


def finished_runs(path: Path, specs: list[RunSpec], notes: list[str] | None = None,
                  recorded: bool = False) -> dict[int, list[Record]]:
    """The records already in `path` (a metrics file of an earlier, interrupted attempt), by position: the runs
    that are whole (results/checked.py). A damaged run's rows are dropped from the file (said in `notes`), so it
    trains again.

    `recorded` (a resume's start): a run of metrics.csv counts only if runs.csv records it as finished (its rows
    and checksum, written after metrics.csv); without, its rows alone decide (just written by this process).
    """
    if not path.exists():
        return {}
    records, runs_said = checked.run_records(path.parent) if path.name == schema.METRICS else (None, [])
    every = {rounds(s) for s in specs}
    frame, found = checked.records(path, every.pop() if len(every) == 1 else None, records)
    problems = checked.dropped(path, found)
    problems += [f"{line}; the runs whose record is lost there train again" for line in runs_said]
    positions = {s.run_id: i for i, s in enumerate(specs)}
    # Folders written before the hyperparameters were part of run ids name a run by its older id; where
    # that is unambiguous their rows continue under the current one.
    legacy: dict[str, list[int]] = {}
    for i, s in enumerate(specs):
        legacy.setdefault(s.legacy_run_id, []).append(i)
    done: dict[int, list[Record]] = {}
    renamed = False
    unrecorded = []
    for run_id, rows in frame.groupby("run_id", sort=False):
        records_of_run = rows.to_dict("records")
        if run_id not in positions:
            if len(legacy.get(run_id, ())) != 1:
                raise store.StoreError(f"{path}: run {run_id} is not part of this comparison")
            spec = specs[legacy[run_id][0]]
            for r in records_of_run:
                r["run_id"], r["config"] = spec.run_id, spec.config_id
            done[legacy[run_id][0]] = records_of_run
            renamed = True
            continue
        if recorded and records is not None and found.header == schema.RECORD_COLUMNS and run_id not in records:
            unrecorded.append(run_id)  # its process stopped before runs.csv said it finished
            continue
        done[positions[run_id]] = records_of_run
    if unrecorded:
        problems.append(f"{path}: {len(unrecorded)} run(s) not recorded as finished in runs.csv (e.g. "
                        f"{unrecorded[0]}): they train again")
    if renamed or found.problems or unrecorded:  # the file itself as kept, in current ids: what report reads
        store.write_csv(path, records_frame([r for i in sorted(done) for r in done[i]]))
    if notes is not None:
        notes += problems
    return done


def write_runs(folder: Path, specs: list[RunSpec], by_run: dict[int, list[Record]], interrupted: bool = False,
               failed: dict[int, str] | None = None) -> None:
    """runs.csv: each run and where it stands — ok, diverged, pending, interrupted or failed (with its error) —
    and each finished run's completion record: its rows in metrics.csv, as on disk now, and their checksum."""
    failed = failed or {}
    written = checked.written(Path(folder) / schema.METRICS)
    before = earlier_costs(Path(folder) / schema.RUNS)
    rows = []
    for i, spec in enumerate(specs):
        status = by_run[i][-1]["status"] if i in by_run else (
            "failed" if i in failed else "interrupted" if interrupted else "pending")
        count, digest = written.get(spec.run_id, ("", "")) if i in by_run else ("", "")
        # A run's costs as it trained (costs.Recorded), or as runs.csv had them (read back from metrics.csv).
        costs = (getattr(by_run[i], "costs", None) or before.get(spec.run_id, {})) if i in by_run else {}
        rows.append({"run": i + 1, "run_id": spec.run_id, "status": status, "error": failed.get(i, ""),
                     "rows": count, "checksum": digest,
                     **{c: "" if costs.get(c) is None else costs[c] for c in schema.COST_COLUMNS}})
    columns = schema.RUN_STATUS_COLUMNS + schema.RUN_RECORD_COLUMNS + schema.COST_COLUMNS
    store.write_csv(Path(folder) / schema.RUNS, pd.DataFrame(rows, columns=columns))


def earlier_costs(path: Path) -> dict[str, dict[str, Any]]:
    """The costs runs.csv at `path` holds, by run id ({}: none, a file from before them, or unreadable)."""
    try:
        table = store.read_csv(path) if path.is_file() else None
    except Exception:  # noqa: BLE001 -- a damaged runs.csv: its costs are lost, the runs are not
        return {}
    if table is None or not all(c in table.columns for c in schema.COST_COLUMNS):
        return {}
    table = table.astype(object).where(table.notna(), None)
    whole = schema.COST_COLUMNS[:2]  # counts: written back as integers
    return {r["run_id"]: {c: int(r[c]) if c in whole and r[c] is not None else r[c] for c in schema.COST_COLUMNS}
            for r in table.to_dict("records")}


def write_layers(path: Path, run_ids: list[str], rows: dict[str, list[dict[str, Any]]]) -> None:
    """layers.csv (--track-layers): the finished runs' per-layer statistics, in run order."""
    store.write_csv(path, pd.DataFrame([r for run_id in run_ids for r in rows.get(run_id, [])]))


def run_phase(specs: list[RunSpec], data: Data, path: Path, reporter: Reporter, options: Options, phase: str,
              done: dict[int, list[Record]], after: Callable[[dict[int, list[Record]]], None] | None = None,
              probe: Probes | None = None, carry: list[Record] | None = None, say_resumed: bool = True
              ) -> tuple[dict[int, list[Record]], dict[int, str]]:
    """Train the runs not in `done` into the metrics file `path`, a finished group in one atomic write.
    Returns every run's records by position, and the failed ones' errors; Interrupted on Ctrl-C or
    SIGTERM, once everything finished is saved. `phase`: "training" or "tuning" (its data is the holdout).
    `carry`: records of finished runs that are not in `specs` (a tuning study's later rounds, on its resume)
    which every write keeps in the file."""
    by_run = dict(done)

    def save(group: list[tuple[int, list[Record]]]) -> None:
        kept = {**by_run, **dict(group)}
        try:
            store.write_csv(path, records_frame([r for i in sorted(kept) for r in kept[i]] + list(carry or ())))
            by_run.update(group)  # only once it is on disk
            if after:
                after(by_run)
        except OSError as e:  # the file that failed: metrics.csv, or runs.csv, layers.csv, weights/ after it
            raise WriteError(f"cannot write {e.filename or path}: {e.strerror or e}; the results saved before are "
                             "intact") from None

    todo = [i for i in range(len(specs)) if i not in by_run]
    if done and say_resumed:
        reporter.note(f"resuming: {len(done)} of {len(specs)} {phase} runs already finished")
    say = reporter.detail if reporter.detailed else None

    def on_group(group: list[tuple[int, list[Record]]], tracked: dict[str, Any]) -> None:
        if probe is not None:
            probe.merge(tracked)  # what a worker's probes gathered (this process's own are in `probe` already)
        save([(todo[j], records) for j, records in group])

    try:
        with termination_as_interrupt():
            groups = plan([specs[i] for i in todo], data, options.group_size, options.device)
            with reporter.progress(groups, data) as progress:
                outcome = train(groups, data, options, progress, on_group, holdout=phase == "tuning", probe=probe,
                                say=say)
        failed = {todo[j]: error for j, error in outcome.failed.items()}
    except SystemExit as e:  # a user's code outside any run's training (the plan building a model): its error
        raise UserCodeStopped(f"{phase}: a user's code {how_stopped(e)}") from None
    except KeyboardInterrupt as e:
        ignore_interrupts()
        # Counted in the file itself: the interrupt may land between a write and noting it in memory.
        found = on_disk(path, specs)
        raise Interrupted(phase, len(by_run) if found is None else len(found), len(specs), exit_code(e)) from None
    return by_run, failed


def on_disk(path: Path, specs: list[RunSpec]) -> set[int] | None:
    """The positions of `specs` whose records are in the metrics file `path` (None: it cannot be read)."""
    try:
        ids = set(store.read_records(path)["run_id"]) if path.exists() else set()
    except Exception:  # noqa: BLE001 -- whatever a reader finds wrong: the caller's own count
        return None
    return {i for i, s in enumerate(specs) if s.run_id in ids}


def run_grid(specs: list[RunSpec], data: Data, folder: Path, reporter: Reporter, options: Options,
             resume: bool = False, on_saved: OnSaved | None = None) -> None:
    """Train every run not finished yet, rewriting metrics.csv and runs.csv after each finished group (and
    layers.csv, weights/ when tracking); `on_saved` then gets every finished run's records. RunsFailed
    after the others finished if some runs failed; Interrupted on Ctrl-C or SIGTERM."""
    path = folder / schema.METRICS
    notes: list[str] = []
    done = finished_runs(path, specs, notes, recorded=True) if resume else {}
    for note in notes:
        reporter.note(note)
    done = {i: records for i, records in done.items() if i not in lacking_weights(folder, specs, done, options)}
    write_runs(folder, specs, done)
    tracker = None
    tracking = Tracking(layers=options.track_layers, weights=options.track_weights, every=options.track_every or 0,
                        seed=min((s.seed for s in specs), default=None))
    if tracking:
        tracker = Probes(data, tracking)
        if resume and options.track_layers and (folder / schema.LAYERS).exists():  # the finished runs' rows
            for run_id, rows in store.read_layers(folder).groupby("run_id", sort=False):
                tracker.rows[run_id] = rows.to_dict("records")

    def after(current: dict[int, list[Record]]) -> None:
        write_runs(folder, specs, current)
        run_ids = [specs[i].run_id for i in sorted(current)]
        if tracker and tracker.layers:
            write_layers(folder / schema.LAYERS, run_ids, tracker.rows)
        if tracker and tracker.weights:  # written once, as the run's group finishes; then out of memory
            tracker.weights.save(folder, run_ids)
        if on_saved:
            on_saved(current)

    try:
        _, failed = run_phase(specs, data, path, reporter, options, "training", done, after, tracker)
        if failed:
            write_runs(folder, specs, finished_runs(path, specs), failed=failed)
            raise RunsFailed({specs[i].run_id: e for i, e in failed.items()})
    except Interrupted as stop:
        # From the files themselves: an interrupt may land between writing metrics.csv and noting it in memory.
        saved = finished_runs(path, specs)
        saved = {i: records for i, records in saved.items() if i not in lacking_weights(folder, specs, saved, options)}
        write_runs(folder, specs, saved, interrupted=True)
        stop.finished = len(saved)
        raise


def lacking_weights(folder: Path, specs: list[RunSpec], done: Iterable[int], options: Options) -> set[int]:
    """Of the finished runs `done` (positions in `specs`), with --track-weights, the tracked ones whose weights file
    is missing (the disk filled up after metrics.csv was written): not finished, they train again, so `landscape`
    never silently lacks one."""
    if not options.track_weights:
        return set()
    first = min((s.seed for s in specs), default=None)  # the seed Tracking records the weights of
    return {i for i in done if specs[i].seed == first
            and not (folder / weights.FOLDER / weights.filename(specs[i].run_id)).is_file()}


def saved_runs(folder: Path, specs: list[RunSpec], options: Options) -> int:
    """How many of a comparison's runs are complete in `folder` (metrics.csv; with --track-weights, their weights
    file): what a failed write or an interruption outside the training says was saved."""
    found = on_disk(folder / schema.METRICS, specs) or set()
    return len(found - lacking_weights(folder, specs, found, options))
