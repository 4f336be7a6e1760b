"""MLflow: every run of a results folder as an MLflow run — while it trains (`--mlflow URI` on compare, train
and suite) or afterwards (`nncmp export DIR --mlflow URI`), the same runs either way.

    experiment 'nncmp' ($MLFLOW_EXPERIMENT_NAME chooses another): every comparison side by side
    └ suite run          (a suite's folder) parent of its problems' comparison runs
      └ comparison run   (a compare folder) named by the folder
        └ run            (one per nncmp run, and per tuning trial: nncmp.phase) named by its run id
    └ calibration run    (nncmp suite --calibrate's folder, nncmp.phase calibration) parent of its problems'
      └ problem run      (a problem's sub-folder)
        └ run            (a tuning trial, nncmp.phase tuning; a baseline run, nncmp.phase calibration)

A `train` folder is one run, no parent. What each carries (params, metrics, tags) is read from the folder
by output/mlflow_folder.py. Logging again adds nothing twice: a comparison's runs are found by its tag
nncmp.key, a run's by nncmp.run_id and nncmp.phase (a tuning trial and the run it chose share an id); a run
whose nncmp.records tag says it has every record gets no metric again, one cut short gets what it lacks (by
metric and step); tags and statuses are brought up to date; params, which MLflow never changes, are only
added. mlflow is an optional extra (nncmp[mlflow]), imported only here and only when asked for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError, StoreError, WriteError
from nncmp.output.mlflow_folder import CALIBRATE, TAG, TRAINING, TUNING, Entry, Folder, Point, Records, label, points
from nncmp.results import store

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

OnSaved = Callable[[dict[int, Records]], None]

EXPERIMENT = "nncmp"  # unless $MLFLOW_EXPERIMENT_NAME names another
DEFAULT = "default"  # --mlflow default: $MLFLOW_TRACKING_URI, else MLflow's own default store
INSTALL = "pip install 'nncmp[mlflow]' (in this project: .venv/bin/pip install mlflow)"


def check_installed() -> None:
    """SpecError (exit 2) saying how to install mlflow, if it is not."""
    import importlib.util  # lazy: only --mlflow asks

    if importlib.util.find_spec("mlflow") is None:
        raise SpecError(f"--mlflow needs the mlflow package: {INSTALL}")


def _reason(error: BaseException) -> str:
    """An MLflow or driver error in one short line."""
    said = " ".join(str(error).split()) or type(error).__name__
    return said if len(said) <= 240 else said[:237] + "..."


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Environment variables MLflow reads at each request, for the block only; a value the user set stays."""
    unset = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in unset})
    try:
        yield
    finally:
        for k in unset:
            os.environ.pop(k, None)


@dataclass
class Tracker:
    """An MLflow experiment nncmp logs into, and what one command found there (read once, then kept)."""

    client: MlflowClient
    experiment: str  # its id
    name: str
    uri: str  # as MLflow resolved it
    _found: dict[str, dict[str, Run]] = field(default_factory=dict)  # key → label (level or run id) → run
    _state: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # MLflow run id → (status, end)

    def _runs(self, key: str) -> dict[str, Run]:
        """The runs logged for a comparison or suite, by label: its own by level, its runs by run id."""
        if key not in self._found:
            found: dict[str, Run] = {}
            token = None
            while True:
                page = self.client.search_runs([self.experiment], f"tags.`{TAG}key` = '{key}'", max_results=1000,
                                               page_token=token)
                for run in page:
                    tags = run.data.tags
                    run_id = tags.get(f"{TAG}run_id")
                    # Runs logged before phases were tagged are compared runs: their label stays the run id.
                    found[label(tags.get(f"{TAG}phase", TRAINING), run_id) if run_id
                          else tags.get(f"{TAG}level", "")] = run
                token = page.token
                if not token:
                    break
            self._found[key] = found
        return self._found[key]

    def _run(self, folder: Folder, label: str, name: str, tags: dict[str, str]) -> Run:
        """Run `label` of a folder: found, or created (running, with `tags`)."""
        runs = self._runs(folder.key)
        if label not in runs:
            runs[label] = self.client.create_run(self.experiment, start_time=folder.start, tags=tags, run_name=name)
        return runs[label]

    def _update(self, run: Run, params: dict[str, str], tags: dict[str, str], metrics: list[Point] = ()) -> None:
        """Log what `run` lacks: metric points first, then params and tags (nncmp.records last says the run
        is complete, so a logging cut short is finished next time)."""
        from mlflow.entities import Metric, Param, RunTag  # lazy: with mlflow

        if metrics:
            self.client.log_batch(run.info.run_id, metrics=[Metric(k, v, t, s) for k, v, t, s in metrics])
        new_params = [Param(k, v) for k, v in params.items() if k not in run.data.params]
        new_tags = [RunTag(k, v) for k, v in tags.items() if run.data.tags.get(k) != v]
        if new_params or new_tags:
            self.client.log_batch(run.info.run_id, params=new_params, tags=new_tags)
        run.data.params.update({p.key: p.value for p in new_params})
        run.data.tags.update({t.key: t.value for t in new_tags})

    def _status(self, run: Run, status: str, end: int | None) -> None:
        run_id = run.info.run_id
        was = self._state.get(run_id, (run.info.status, run.info.end_time))
        if was[0] == status and (status == "RUNNING" or was[1] == end):
            return
        # On a tracking server MLflow prints a link for every run it ends: hundreds of lines for one comparison.
        with _env(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true"):
            if status == "RUNNING":
                self.client.update_run(run_id, status=status)
            else:
                self.client.set_terminated(run_id, status, end_time=end)
        self._state[run_id] = (status, end)

    def _level(self, folder: Folder, level: str, parent: str | None = None, running: bool = False) -> str:
        """The run of a suite or comparison folder, up to date (its status: running while it trains)."""
        tags = folder.tags(level)
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = self._run(folder, level, folder.name, tags)
        status = "RUNNING" if running else folder.status()
        self._update(run, folder.params(), {**tags, f"{TAG}status": status.lower()})
        self._status(run, status, None if status == "RUNNING" else folder.saved())
        return run.info.run_id

    def parent(self, folder: Folder, running: bool = False) -> str | None:
        """The MLflow run a comparison's runs go under: the comparison's (a suite problem's under the suite's, a
        calibration's problem under the calibration's); None for train's one run, which stands alone. A
        calibration's own run (its folder, above its problems) has no runs under it but its problems."""
        if folder.command == "train":
            return None
        level, above_level = folder.levels()
        if folder.command == CALIBRATE and not folder.problem:
            return self._level(folder, above_level, running=running)
        suite = folder.suite()
        above = None if suite is None else self._level(suite, above_level, running=running)
        return self._level(folder, level, above, running)

    def log_run(self, folder: Folder, parent: str | None, entry: Entry) -> None:
        """One nncmp run (or tuning trial, or calibration's baseline run) as an MLflow run: created, or brought
        up to date."""
        run_id, records, error = entry.run_id, entry.records, entry.error
        tags = folder.run_tags(run_id, records, error, entry)
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = self._run(folder, entry.label, run_id, {k: v for k, v in tags.items() if k != f"{TAG}records"})
        todo: list[Point] = []
        if run.data.tags.get(f"{TAG}records") != tags[f"{TAG}records"]:  # not logged whole yet
            todo = points(records, folder.by_step(run_id), folder.start)
            if run.data.metrics:  # logged in part: only what it lacks
                have = {(k, m.step) for k in run.data.metrics
                        for m in self.client.get_metric_history(run.info.run_id, k)}
                todo = [p for p in todo if (p[0], p[3]) not in have]
        self._update(run, folder.params(run_id, records, entry), tags, todo)
        if not error and f"{TAG}error" in run.data.tags:  # failed before, finished on a resume
            self.client.delete_tag(run.info.run_id, f"{TAG}error")
            del run.data.tags[f"{TAG}error"]
        self._status(run, "FAILED" if error else "FINISHED", folder.end(records))

    def log_entries(self, folder: Folder, parent: str | None, phases: tuple[str, ...] | None = None) -> int:
        """The folder's runs of `phases` (None: all) as it has them now (Folder.entries); how many."""
        entries = folder.entries() if phases is None else folder.entries(phases)
        for entry in entries:
            self.log_run(folder, parent, entry)
        return len(entries)

    def close(self, folder: Folder, parent: str | None) -> int:
        """Every run as the folder has it now (a calibration's: each problem's), then the comparison's and its
        suite's (or calibration's) status; how many runs."""
        if folder.command == CALIBRATE and not folder.problem:
            count = sum(self.close(p, self.parent(p)) for p in folder.problems())
            self.parent(folder)
            return count
        count = self.log_entries(folder, parent)
        if parent is not None:
            self.parent(folder)
        return count

    def export(self, path: Path) -> int:
        """Every run of a compare, train or suite folder; how many runs."""
        folder = Folder.read(path)
        if folder.command == "suite":
            return sum(self.export(folder.path / name) for name in folder.doc.get("problems") or []
                       if store.has_runs(folder.path / name))
        if folder.command not in ("compare", "train", CALIBRATE):
            raise StoreError(f"{path} holds the results of nncmp {folder.command}; only compare, train, suite and "
                             "calibration folders export to MLflow")
        if folder.command != CALIBRATE:
            store.require_results(path)
        return self.close(folder, self.parent(folder))


def connect(uri: str) -> Tracker:
    """The experiment at tracking URI `uri` (created if missing), or SpecError (exit 2) saying why it cannot be
    used: checked before anything trains. Each command connects afresh, so nothing found earlier is trusted."""
    check_installed()
    import logging  # lazy: with mlflow

    from mlflow.tracking import MlflowClient  # lazy: a heavy import (seconds), only with --mlflow

    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    shown = uri if uri != DEFAULT else "default"
    # A new SQLite store announces its tables on stderr, and a server that is down would be retried for
    # minutes: neither helps a command that only needs to know whether the store can be used.
    db_log = logging.getLogger("mlflow.store.db.utils")
    level = db_log.level
    db_log.setLevel(logging.WARNING)
    try:
        with _env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="1", MLFLOW_HTTP_REQUEST_TIMEOUT="20"):
            client = MlflowClient(tracking_uri=None if uri == DEFAULT else uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                experiment = client.get_experiment(client.create_experiment(name))
    except Exception as e:  # any failure means the store cannot be used; its drivers raise their own types
        raise SpecError(f"--mlflow {shown}: cannot use this MLflow tracking store ({_reason(e)})") from None
    finally:
        db_log.setLevel(level)
    if experiment.lifecycle_stage == "deleted":
        raise SpecError(f"--mlflow {shown}: the MLflow experiment {name!r} is deleted; restore it (mlflow "
                        f"experiments restore --experiment-id {experiment.experiment_id}) or set "
                        "MLFLOW_EXPERIMENT_NAME to another")
    return Tracker(client, experiment.experiment_id, name, client.tracking_uri)


def export(path: Path, uri: str) -> tuple[int, Tracker]:
    """`nncmp export DIR --mlflow URI`: every run of a results folder; how many, and where. WriteError (exit 1)
    if the store fails part way (what was logged stays, and exporting again completes it)."""
    from mlflow.exceptions import MlflowException  # lazy: with mlflow

    tracker = connect(uri)
    try:
        return tracker.export(Path(path)), tracker
    except (MlflowException, OSError) as e:
        raise WriteError(f"MLflow ({tracker.uri}): logging {path} failed part way ({_reason(e)}); export again to "
                         "complete it") from None


class _Live:
    """--mlflow while a command writes the folder `path`: the store connected (reached before anything trained,
    gone since maybe), and each step called through it guarded — a failure of MLflow never stops training: it
    is said once, with how to log the runs later, and nothing more is tried."""

    def __init__(self, uri: str | None, path: Path, note: Callable[[str], None]):
        self.tracker: Tracker | None = None
        self.path, self.uri, self.note = path, uri, note
        self.broken: list[str] = []
        if uri:
            try:
                self.tracker = connect(uri)
            except SpecError as e:
                note(f"{e}: the runs are saved: log them with nncmp export {path} --mlflow {uri}")

    def __call__(self, step: Callable[[], Any]) -> Any:
        if self.broken or self.tracker is None:
            return None
        try:
            return step()
        except Exception as e:  # a tracker's failure must never lose training: the runs are on disk
            self.broken.append(_reason(e))
            self.note(f"MLflow ({self.tracker.uri}) failed: {self.broken[0]}; the runs are saved: log them with "
                      f"nncmp export {self.path} --mlflow {self.uri}")
            return None

    def started(self, folder: Folder) -> str | None:
        """The folder's run (and the one above it) running; the MLflow run its runs go under."""
        assert self.tracker is not None
        tracker = self.tracker
        parent = self(lambda: tracker.parent(folder, running=True))
        if not self.broken:
            self.note(f"MLflow: logging to experiment {tracker.name!r} at {tracker.uri}")
        return parent


@contextlib.contextmanager
def tracking(uri: str | None, path: Path, note: Callable[[str], None], also: OnSaved | None = None
             ) -> Iterator[OnSaved | None]:
    """--mlflow around training into the folder `path`: the callback yielded (it calls `also`, another
    on_saved, first) logs each run as it is saved; the tuning's trials, finished by then, are logged first;
    when the block ends, however it ends, the failed runs and the comparison's status are logged as the
    folder has them."""
    guarded = _Live(uri, path, note)
    tracker = guarded.tracker
    if tracker is None:
        yield also
        return
    folder = Folder.read(path)
    parent = guarded.started(folder)
    guarded(lambda: tracker.log_entries(folder, parent, (TUNING,)))
    logged: set[int] = set()

    def on_saved(current: dict[int, Records]) -> None:
        if also is not None:
            also(current)
        for i in sorted(set(current) - logged):
            records = current[i]
            guarded(lambda: tracker.log_run(folder, parent, Entry(str(records[0]["run_id"]), records)))  # noqa: B023
            logged.add(i)

    try:
        yield on_saved
    finally:
        guarded(lambda: tracker.close(folder, parent))


@contextlib.contextmanager
def calibrating(uri: str | None, path: Path, note: Callable[[str], None]) -> Iterator[Callable[[Path], None]]:
    """--mlflow around a calibration into the folder `path` (nncmp suite --calibrate): the callback yielded logs
    a problem's tuning trials and baseline runs once its sub-folder has them; when the block ends, however it
    ends, every problem as its folder has it and the statuses."""
    guarded = _Live(uri, path, note)
    tracker = guarded.tracker
    if tracker is None:
        yield lambda sub: None
        return
    folder = Folder.read(path)
    guarded.started(folder)

    def problem_done(sub: Path) -> None:
        problem = Folder.read(sub)
        guarded(lambda: tracker.log_entries(problem, tracker.parent(problem, running=True)))

    try:
        yield problem_done
    finally:
        guarded(lambda: tracker.close(folder, None))
