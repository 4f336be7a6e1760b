"""What a results folder says about its runs, as MLflow is given it (output/mlflow_export.py logs it): the
params, metric points, tags and statuses of a comparison, a suite and each run. Plain Python, no mlflow:
the live log (--mlflow) and `nncmp export` read a folder through here, so both log the same.

    runs     a comparison's runs (metrics.csv; the failed ones from runs.csv), its tuning trials
             (tuning_metrics.csv, numbered by tuning.csv), a calibration's trials and baseline runs (each
             problem's sub-folder: tuning_metrics.csv, calibration_metrics.csv)
    params   a run's resolved RunSpec (config.json's runs) as metrics.csv labels it (a trial's or baseline run's:
             its records' columns, and a trial's hyperparameters as tuning.csv has them); a comparison's grid,
             target, tuning and data; a suite's optimizers, problems and seeds; a calibration's baselines
    metrics  train_loss, train_acc, val_loss, val_acc (val_metric with --metric-fn), lr (the rate at the
             record's end) and examples, at step = the epoch, or the optimizer step on a --steps budget;
             timestamp = the comparison's start + the run's training seconds (MLflow's relative time axis
             is training time, and the same record logged twice is the same point)
    tags     nncmp.level (suite, comparison, run; calibration, problem), nncmp.key (what recognises the
             comparison: its folder's name, command and creation time, so a moved folder is the same one and
             --overwrite a new one), nncmp.folder, nncmp.command, nncmp.created; a run's nncmp.run_id,
             nncmp.config, nncmp.status, nncmp.phase (training, tuning, calibration: a trial and the run it
             chose share a run id, so the phase is part of what finds a run again); a trial's nncmp.kind
             (trial, or default: the one-shot at the defaults), nncmp.study, nncmp.trial
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nncmp.config.fields import declared
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError, StoreError
from nncmp.output.tensorboard import SCALARS
from nncmp.results import schema, store

Records = list[dict[str, Any]]
Point = tuple[str, float, int, int]  # an MLflow metric value: key, value, timestamp (ms), step

TAG = "nncmp."  # nncmp's own tags
METRICS = (*SCALARS, "val_metric")  # logged under their own names; lr (from lr_end) and examples too
FAILED = "failed"
# A comparison's MLflow status from its runs' states in runs.csv: the first that applies, else FINISHED.
STATUS_ORDER = (("failed", "FAILED"), ("interrupted", "KILLED"), ("pending", "RUNNING"))
SUITE_ORDER = ("FAILED", "KILLED", "RUNNING")  # a suite's from its problems'
TRAINING, TUNING, CALIBRATION = "training", "tuning", "calibration"  # a run's phase (nncmp.phase)
CALIBRATE = "calibrate"  # the command whose folder holds a calibration (nncmp suite --calibrate)
# suite/calibrate.py's CALIBRATION_METRICS (output does not import suite): a problem's baseline runs
CALIBRATION_METRICS = "calibration_metrics.csv"


def label(phase: str, run_id: str) -> str:
    """What finds a run again among its comparison's: a compared run by its id (as before phases were tagged),
    a trial or baseline run by its phase too."""
    return run_id if phase == TRAINING else f"{phase}:{run_id}"


@dataclass(frozen=True)
class Entry:
    """One nncmp run as MLflow is given it: a compared run, a failed one (`error`, no records), a tuning trial or a
    calibration's baseline run (`phase`), with what only a trial has (its numbers as `tags`, its hyperparameters
    as `params`)."""

    run_id: str
    records: Records
    phase: str = TRAINING
    error: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return label(self.phase, self.run_id)


def _by_run(path: Path) -> dict[str, Records]:
    """A metrics file's records by run id, each run's in epoch order; {} without the file."""
    if not path.is_file():
        return {}
    frame = store.read_records(path).sort_values(["run_id", "epoch"], kind="stable")
    return {str(k): rows.to_dict("records") for k, rows in frame.groupby("run_id", sort=False)}


def _trial_numbers(path: Path) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """run id → (tags, params) of its trials from tuning.csv: kind, study and number (several, comma-separated,
    where studies tried the same run) and the searched hyperparameters; {} where tuning.csv is not written yet,
    unreadable, or older than its run_id column (the trials are then logged without their numbers)."""
    try:
        table = store.read_csv(path, None, ("run_id", "kind")) if path.is_file() else None
    except StoreError:
        table = None
    if table is None or "run_id" not in table.columns:
        return {}
    hyper = [c for c in schema.tuning_hyper_columns() if c in table.columns]
    out: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for run_id, rows in table.groupby("run_id", sort=False):
        tags = {f"{TAG}{k}": ",".join(dict.fromkeys(text(v) for v in rows[k])) for k in ("kind", "study", "trial")
                if k in rows.columns}
        first = rows.iloc[0]
        out[str(run_id)] = tags, {c: text(first[c]) for c in hyper if number(first[c]) is not None}
    return out


def text(value: Any) -> str:
    """A param's value: numbers exact (repr), lists comma-separated, key-value pairs `k=v;k=v`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, list | tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return ";".join(f"{k}={text(v)}" for k, v in value)
        return ",".join(text(v) for v in value)
    return str(value)


def flat(prefix: str, doc: dict[str, Any]) -> dict[str, str]:
    """A config.json section as params `prefix.key` (nested sections `prefix.key.key`), those with a value."""
    out = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out.update(flat(f"{prefix}.{k}", v))
        elif v is not None and text(v) != "":
            out[f"{prefix}.{k}"] = text(v)
    return out


def _blank(value: Any) -> bool:
    """No value: None, empty text or list, or NaN (a column metrics.csv leaves empty)."""
    return value is None or text(value) == "" or (isinstance(value, float) and math.isnan(value))


def number(value: Any) -> float | None:
    """A record's value as a float; None where the record has none (an empty cell, a regression's accuracy)."""
    if isinstance(value, str):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):  # None, pandas' NA
        return None
    return None if math.isnan(value) else value


def ms(when: datetime | float) -> int:
    """A time (a datetime, or seconds since the epoch) in MLflow's milliseconds."""
    return int(round((when.timestamp() if isinstance(when, datetime) else when) * 1000))


def run_params(spec: dict[str, Any]) -> dict[str, str]:
    """A run's configuration: the fields of its resolved RunSpec that have a value, as metrics.csv labels
    them — a field its model does not have (a user's model's widths) left out, and the normalisation the
    model has (norm) instead of the --batchnorm switch."""
    try:
        columns = RunSpec(**spec).columns()
    except (SpecError, TypeError, ValueError):  # written by another nncmp version: the fields as they are
        columns = {}
    decl = declared(RunSpec)
    blanked = {name for name, d in decl.items() if d.column in columns and _blank(columns[d.column])}
    params = {name: text(value) for name, value in spec.items()
              if not _blank(value) and name not in blanked and name != "batchnorm"}
    if columns.get("norm"):
        params["norm"] = columns["norm"]
    return params


def record_params(records: Records) -> dict[str, str]:
    """A run's configuration as its records' identity columns say it (those with a value)."""
    first = records[0] if records else {}
    return {c: text(first[c]) for c in schema.RUN_COLUMNS if c != "hyper" and c in first
            and (bool(first[c]) if isinstance(first[c], str) else number(first[c]) is not None)}


def points(records: Records, by_step: bool, start: int) -> list[Point]:
    """Every value of a run's records as metric points, in record order."""
    out = []
    for r in records:
        step = int(r["step"]) if by_step and number(r.get("step")) is not None else int(r["epoch"])
        stamp = start + ms(number(r.get("seconds")) or 0.0)
        values = {**{k: r.get(k) for k in METRICS}, "lr": r.get("lr_end"), "examples": r.get("examples")}
        out += [(k, v, stamp, step) for k, v in ((k, number(v)) for k, v in values.items()) if v is not None]
    return out


@dataclass
class Folder:
    """A compare, train or suite folder as MLflow sees it; read once per command."""

    path: Path  # resolved
    doc: dict[str, Any]  # config.json
    specs: dict[str, dict[str, Any]]  # run id → its resolved spec (config.json's runs)

    @classmethod
    def read(cls, path: Path) -> Folder:
        path = Path(path)
        if not store.is_started(path) and store.command_of(path.parent) == CALIBRATE:
            # A calibration's problem: its sub-folder has no config.json, its calibration's says what it is.
            return cls(path.resolve(), {**store.read_config(path.parent), "problem": path.name}, {})
        doc = store.read_config(path)
        specs = {}
        for spec in doc.get("runs") or []:
            try:
                specs[RunSpec(**spec).run_id] = spec
            except (SpecError, TypeError, ValueError):
                continue  # its params then come from its records' columns
        return cls(Path(path).resolve(), doc, specs)

    @property
    def command(self) -> str:
        return str(self.doc.get("command", "compare"))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def problem(self) -> bool:
        """A calibration's problem (a sub-folder of a calibrate folder)."""
        return "problem" in self.doc and self.command == CALIBRATE

    @property
    def key(self) -> str:
        """What recognises this comparison (or suite, calibration, calibration's problem) in MLflow, wherever the
        folder is now."""
        said = f"{self.command}\n{self.name}\n{self.doc.get('created', '')}" + ("\nproblem" if self.problem else "")
        return hashlib.sha256(said.encode()).hexdigest()[:20]

    @property
    def start(self) -> int:
        """When it was created (config.json); every run's and metric's time counts from here."""
        try:
            return ms(datetime.fromisoformat(self.doc["created"]))
        except (KeyError, TypeError, ValueError):
            return self.saved()

    def saved(self) -> int:
        """When its runs were last saved (runs.csv, else config.json; a suite's: its problems'): a finished
        comparison's end."""
        problems = [self.path / p for p in self.doc.get("problems") or [] if store.is_started(self.path / p)]
        if self.command == "suite" and problems:
            return max(Folder.read(p).saved() for p in problems)
        for name in (schema.RUNS, schema.CALIBRATION, CALIBRATION_METRICS, schema.TUNING_METRICS, schema.CONFIG):
            if (self.path / name).is_file():
                return ms((self.path / name).stat().st_mtime)
        return ms(datetime.now())

    def suite(self) -> Folder | None:
        """The suite folder this problem's comparison is part of (or the calibration this problem is), if it is."""
        if self.problem:
            return Folder.read(self.path.parent)
        return Folder.read(self.path.parent) if store.command_of(self.path.parent) == "suite" else None

    def levels(self) -> tuple[str, str]:
        """The MLflow levels of this folder's run and of the one above it."""
        return ("problem", CALIBRATION) if self.command == CALIBRATE else ("comparison", "suite")

    def problems(self) -> list[Folder]:
        """A calibration's problems that have started (their sub-folders)."""
        return [Folder.read(self.path / p) for p in self.doc.get("problems") or [] if (self.path / p).is_dir()]

    def entries(self, phases: tuple[str, ...] = (TRAINING, TUNING, CALIBRATION)) -> list[Entry]:
        """Every run of the folder as it is now, of the phases asked: its compared runs with records (any not
        logged yet: a run that finished before --mlflow was given) and those that failed (they have none), its
        tuning trials, a calibration problem's baseline runs."""
        out = []
        if TRAINING in phases and store.has_runs(self.path):
            metrics = store.read_metrics(self.path).sort_values(["run_id", "epoch"], kind="stable")
            out += [Entry(str(k), rows.to_dict("records")) for k, rows in metrics.groupby("run_id", sort=False)]
            out += [Entry(run_id, [], error=error) for run_id, error in self.errors().items()]
        if TUNING in phases:
            numbers = _trial_numbers(self.path / schema.TUNING)
            out += [Entry(k, records, TUNING, "", *numbers.get(k, ({}, {})))
                    for k, records in _by_run(self.path / schema.TUNING_METRICS).items()]
        if CALIBRATION in phases:
            out += [Entry(k, records, CALIBRATION) for k, records in _by_run(self.path / CALIBRATION_METRICS).items()]
        return out

    def _runs(self) -> list[tuple[str, str, str]]:
        """(run id, state, error) of each run in runs.csv; state: ok, diverged, collapsed, failed, pending,
        interrupted."""
        if not (self.path / schema.RUNS).is_file():
            return []
        runs = store.read_csv(self.path / schema.RUNS, schema.RUN_STATUS_COLUMNS, ("run_id", "status", "error"))
        return list(zip(runs["run_id"], runs["status"].fillna(""), runs["error"].fillna("")))

    def errors(self) -> dict[str, str]:
        """run id → error, of the runs that failed on every attempt (they have no records)."""
        return {run_id: error for run_id, state, error in self._runs() if state == FAILED}

    def status(self) -> str:
        """A comparison's MLflow status (RUNNING before its first run is saved), or a suite's from its
        problems' (a problem not started yet is RUNNING)."""
        if self.command == "suite":
            states = {Folder.read(self.path / p).status() if store.is_started(self.path / p) else "RUNNING"
                      for p in self.doc.get("problems") or []}
            return next((s for s in SUITE_ORDER if s in states), "FINISHED")
        if self.command == CALIBRATE:  # calibration.csv is written once every problem has its target
            top = self.path.parent if self.problem else self.path
            return "FINISHED" if (top / schema.CALIBRATION).is_file() else "RUNNING"
        states = {state for _, state, _ in self._runs()} or {"pending"}
        return next((mlflow for nncmp, mlflow in STATUS_ORDER if nncmp in states), "FINISHED")

    def params(self, run_id: str | None = None, records: Records = (), entry: Entry | None = None) -> dict[str, str]:
        """A run's params (`run_id`; a trial's or baseline run's: `entry`), or the comparison's, suite's or
        calibration's own."""
        doc = self.doc
        if entry is not None and entry.phase != TRAINING:  # trained on the holdout split: no spec in config.json
            first = entry.records[0] if entry.records else {}
            hyper = {"hyper": text(first["hyper"])} if not _blank(first.get("hyper")) else {}
            return {**record_params(entry.records), **hyper, **entry.params}
        if run_id is not None and run_id in self.specs:
            return run_params(self.specs[run_id])
        if run_id is not None:  # an older folder, without its resolved runs: its records' identity columns
            return record_params(records)
        if self.command == CALIBRATE:
            params = {k: text(doc[k]) for k in ("suite", "baselines", "seeds", "slack") if doc.get(k) is not None}
            return {**params, **({"problem": self.name} if self.problem else {"problems": text(doc.get("problems"))})}
        if self.command == "suite":
            params = {k: text(doc[k]) for k in ("opts", "problems", "seeds", "auto", "by", "reference", "ratio_to")
                      if doc.get(k) is not None}
            return {**params, "suite": text((doc.get("suite") or {}).get("name", ""))}
        params = {k: text(doc[k]) for k in ("target", "metric", "baseline") if doc.get(k) is not None}
        return {**flat("grid", doc.get("grid") or {}), **params, **flat("tuning", doc.get("tuning") or {}),
                **flat("data", doc.get("data") or {})}

    def by_step(self, run_id: str) -> bool:
        """Whether the run's records count optimizer steps (a --steps budget) rather than epochs."""
        spec = self.specs.get(run_id) or self.doc.get("base") or self.doc.get("spec") or {}
        return spec.get("steps") is not None

    def tags(self, level: str) -> dict[str, str]:
        """What every MLflow run of this folder carries; `level`: suite, comparison, calibration, problem or run."""
        tags = {f"{TAG}level": level, f"{TAG}key": self.key, f"{TAG}folder": str(self.path),
                f"{TAG}command": self.command, f"{TAG}created": str(self.doc.get("created", "")),
                "mlflow.source.name": f"nncmp {self.command}", "mlflow.source.type": "LOCAL"}
        if level in ("comparison", "problem") and self.suite() is not None:
            tags[f"{TAG}problem"] = self.name
        if self.command == CALIBRATE:  # a calibration and its problems: none of it is a compared run
            tags[f"{TAG}phase"] = CALIBRATION
        elif level != "run":
            tags[f"{TAG}runs"] = str(len(self.doc.get("runs") or []))
        return tags

    def run_tags(self, run_id: str, records: Records, error: str = "", entry: Entry | None = None) -> dict[str, str]:
        """A run's tags: the folder's, its ids, phase and state, and (last logged) how many records it has."""
        last = records[-1] if records else {}
        tags = {**self.tags("run"), f"{TAG}run_id": run_id, f"{TAG}config": run_id.rsplit("/seed=", 1)[0],
                f"{TAG}phase": entry.phase if entry is not None else TRAINING,
                f"{TAG}status": FAILED if error else str(last.get("status") or "ok"), **(entry.tags if entry else {})}
        if error:
            tags[f"{TAG}error"] = error[:5000]  # MLflow's limit on a tag's value is 8000 characters
        if number(last.get("diverged_step")) is not None:
            tags[f"{TAG}diverged_step"] = str(int(last["diverged_step"]))
        return {**tags, f"{TAG}records": str(len(records))}

    def end(self, records: Records) -> int:
        """When a run ended, on the time axis of its metrics."""
        return self.start + ms(number(records[-1].get("seconds")) or 0.0) if records else self.start
