"""What a results folder holds: its file names, the columns of its tables, and how older folders are read.

Every file name and column list of a results folder is spelled here and nowhere else. A folder written
by an older nncmp is brought up to date here too, once (upgrade_records): columns it lacks are filled in
with the values they had then, taken from its config.json, so every reader (results/store.py reads the
files) sees the current layout. No file I/O here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nncmp.config.run import DEFAULT_HIDDEN, widths_text
from nncmp.registry import hyperparameters as hp
from nncmp.registry.models import BUILT_IN_NORM, HAS

if TYPE_CHECKING:
    import pandas as pd

CONFIG = "config.json"
METRICS = "metrics.csv"  # one row per run × epoch (the records)
RUNS = "runs.csv"  # one row per run: where it stands
SUMMARY = "summary.csv"  # one row per configuration, ranked
SUMMARY_MD = "summary.md"
TUNING = "tuning.csv"  # --lrs auto: one row per tuning run, the chosen rate marked
TUNING_METRICS = "tuning_metrics.csv"  # --lrs auto: the tuning runs' records
TUNING_JSON = "tuning.json"  # --tune, --lrs auto: the reporting checklist (spaces, budget, cost, selection)
BUDGET = "budget.csv"  # --tune: expected best score against the number of trials, per configuration
BUDGET_PNG = "budget.png"
SENSITIVITY_PNG = "sensitivity.png"
LAYERS = "layers.csv"  # inspect, --track-layers: per-layer statistics
WEIGHTS = "weights"  # --track-weights: a folder of one .npz per tracked run
BENCH = "bench.csv"
FIGURES = "figures.csv"
BENCH_JSON = "bench.json"
PATHS = "paths.csv"
PATHS_SUMMARY = "paths_summary.csv"
LANDSCAPE = "landscape.csv"
TRAJECTORIES = "trajectories.csv"
INTERPOLATION = "interpolation.csv"
LANDSCAPE_JSON = "landscape.json"
REPORT_HTML = "report.html"
SUITE_TABLE = "suite.csv"  # suite: one row per optimizer (score, solved, speed-up, time on each problem)
SUITE_MD = "suite.md"
SUITE_TIMES = "times.csv"  # suite: one row per run, its time to target
PROFILES = "profiles.csv"  # suite: each optimizer's performance profile, step by step
PROFILES_PNG = "profiles.png"
SUITE_TOML = "suite.toml"  # suite: the suite as it was read (its targets); calibrate: the calibrated suite
CALIBRATION = "calibration.csv"  # calibrate: one row per baseline run, its best holdout score
TRANSFER = "transfer.csv"  # --widths with --lrs: the best rate per series and width, the slope (results/transfer.py)
TRANSFER_PNG = "transfer.png"
COORD, COORD_PNG = "coord.csv", "coord.png"  # inspect --coord-check: mean |activation| per layer, step and width
LOCK = ".lock"  # the pid of the process writing into the folder
# Every file nncmp writes into a folder (--overwrite removes these, PNG and GIF figures and weights/ only).
RESULT_FILES = (CONFIG, METRICS, RUNS, SUMMARY, SUMMARY_MD, TUNING, TUNING_METRICS, TUNING_JSON, BUDGET, BENCH,
                FIGURES, BENCH_JSON, LAYERS, PATHS, PATHS_SUMMARY, LANDSCAPE, TRAJECTORIES, INTERPOLATION,
                LANDSCAPE_JSON, REPORT_HTML, SUITE_TABLE, SUITE_MD, SUITE_TIMES, PROFILES, SUITE_TOML, CALIBRATION,
                TRANSFER, COORD)

# The run's identity columns (declared by RunSpec's fields) in the order the files have always had them.
RUN_COLUMNS = ["dataset", "model", "optimizer", "init", "act", "norm", "lr", "batch_size", "seed", "schedule",
               "opt_args", "hidden", "dropout", "model_args", "hyper", "width", "param", "base_width"]
EPOCH_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "examples", "seconds", "status",
                 "diverged_step", "lr_end", "step", "val_metric"]
RECORD_COLUMNS = ["run_id", "config", *RUN_COLUMNS, *EPOCH_COLUMNS]
# Written as integers (empty where missing), so a file read back and rewritten is byte-identical.
INTEGER_COLUMNS = ["batch_size", "seed", "epoch", "examples", "diverged_step", "step"]
# Columns added after the first release: a folder written before them is read with their values filled in.
LATER_COLUMNS = ("act", "norm", "diverged_step", "schedule", "opt_args", "lr_end", "hidden", "dropout",
                 "model_args", "step", "hyper", "val_metric", "width", "param", "base_width")

# A configuration's columns in summary.csv: a run's identity without what one comparison never varies.
CONFIG_COLUMNS = ["config", *(c for c in RUN_COLUMNS if c not in ("dataset", "model", "seed"))]
# --lrs auto tunes one rate per value of every grid factor but the rate itself and the seed.
# ("hyper": the hyperparameters a grid or a trial set, which tuning chooses.)
TUNED_PER = [c for c in CONFIG_COLUMNS if c not in ("config", "lr", "hyper")]
# What summaries need of tuning.csv (act and norm too, in folders written since they became tuning keys).
TUNING_COLUMNS = ["optimizer", "init", "batch_size", "lr", "chosen", "at_edge", "seconds"]
RUN_STATUS_COLUMNS = ["run", "run_id", "status", "error"]
# runs.csv's completion record of a finished run: how many rows it has in metrics.csv and a checksum of them
# (verify.checksum), so a resume and report know a run is whole instead of guessing; older runs.csv lack them.
RUN_RECORD_COLUMNS = ["rows", "checksum"]
# runs.csv's costs of a finished run (training/costs.py): parameters, optimizer state bytes (and per parameter),
# peak memory added while training (MiB), mean milliseconds per sampled step (forward+backward, the optimizer
# step, both); empty where not measured (and absent from runs.csv files written before them).
COST_COLUMNS = ["params", "state_bytes", "state_bytes_per_param", "peak_mib", "ms_fwd_bwd", "ms_opt_step",
                "ms_step"]
# A run's outcome (metrics.csv's `status`, on each of its rows). DIVERGED: a loss that was not finite; the run
# stopped there and its numbers are not final values. COLLAPSED: a classification run that finished but whose
# final predictions on the validation set are all one class while the labels there have several (it learned at
# most the majority class): its numbers are final values, but it never counts as reaching a target, and tuning
# never chooses it. runs.csv adds pending, interrupted and failed (runs without records).
OK, DIVERGED, COLLAPSED = "ok", "diverged", "collapsed"
STATUSES = (OK, DIVERGED, COLLAPSED)
# Text columns, read as text even when every value looks like a number (a one-layer mlp's "512").
TEXT_COLUMNS = ("run_id", "config", "act", "norm", "opt_args", "hidden", "model_args", "hyper", "width", "param",
                "base_width")
LAYER_COLUMNS = ["run_id", "epoch", "layer", "statistic", "value"]  # what --track-layers' layers.csv must have

# What a value of each column must be, checked as a file is read back (results/verify.py): INTEGER (a whole number),
# NUMBER (inf and nan too), FLAG (True or False), or one of the words of a tuple; empty is allowed (a missing
# value: NaN is written empty) except in a file's REQUIRED columns. Columns not listed are text.
INTEGER, NUMBER, FLAG = "integer", "number", "flag"
RUN_STATES = (*STATUSES, "failed", "pending", "interrupted")  # runs.csv's statuses
RECORD_KINDS: dict[str, Any] = {
    **dict.fromkeys(INTEGER_COLUMNS, INTEGER), "status": STATUSES,
    **dict.fromkeys(("lr", "dropout", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr_end",
                     "val_metric"), NUMBER)}
RECORD_REQUIRED = ("run_id", "config", "optimizer", "lr", "seed", "epoch", "examples", "seconds", "status")
RUN_KINDS: dict[str, Any] = {"run": INTEGER, "status": RUN_STATES, "rows": INTEGER,
                             **dict.fromkeys(COST_COLUMNS[:2], INTEGER), **dict.fromkeys(COST_COLUMNS[2:], NUMBER)}
RUN_REQUIRED = ("run", "run_id", "status")
TUNING_KINDS: dict[str, Any] = {
    "batch_size": INTEGER, "study": INTEGER, "trial": INTEGER, "kind": ("trial", "default"), "status": RUN_STATES,
    **dict.fromkeys(("lr", "dropout", "default_lr", "score", "budget_score", "tune_val_acc", "tune_val_loss",
                     "seconds", "examples", *hp.columns()), NUMBER),
    **dict.fromkeys(("study_best", "chosen", "at_edge"), FLAG)}
TUNING_REQUIRED = ("optimizer", "kind", "lr", "score", "status", "chosen", "study_best", "at_edge")
BUDGET_KINDS: dict[str, Any] = {"batch_size": INTEGER, "n": INTEGER,
                                **dict.fromkeys(("dropout", "expected_best", "sd", "seconds", "examples"), NUMBER)}
BUDGET_REQUIRED = ("optimizer", "n", "expected_best")


def tuning_hyper_columns(searched: set[str] | None = None) -> list[str]:
    """The hyperparameter columns of tuning.csv, one per number (the hyperparameter table's: betas → beta1,
    beta2), in the table's order; a folder's tuning.csv holds those its spaces `searched` (None: all)."""
    return [c for c in hp.columns() if searched is None or c in searched]


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as the tidy metrics table (columns in RECORD_COLUMNS order)."""
    import pandas as pd

    frame = pd.DataFrame(records, columns=RECORD_COLUMNS)
    return frame.astype({c: "Int64" for c in INTEGER_COLUMNS})


def text_column(column: pd.Series) -> pd.Series:
    """A text column read back from CSV, empty values as '' rather than NaN (which groupby would drop)."""
    column = column.astype(object)
    return column.where(column.notna(), "")


def upgrade_records(frame: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """A metrics table as read from a file, in RECORD_COLUMNS: the columns an older folder lacks filled in
    from its config.json (`config`; {} if it has none), whose activation, normalisation, architecture and
    dropout were then the same for every run. Folders from before architecture and dropout were part of
    the run ids get the ids they would have now, so they resume and merge with newer ones."""
    if not all(c in frame.columns for c in LATER_COLUMNS):
        base = config.get("base") or config.get("spec") or {}
        model = base.get("model", "mlp")
        hidden = tuple(base.get("hidden") or DEFAULT_HIDDEN)
        dropout = float(base.get("dropout") or 0.0)
        has = HAS.get(model, frozenset())
        defaults = {"act": base.get("act", "relu") if "act" in has else "",
                    "norm": BUILT_IN_NORM.get(model) or ("batchnorm" if base.get("batchnorm") else "none"),
                    "diverged_step": None, "schedule": "constant", "opt_args": "",
                    "hidden": widths_text(hidden) if "hidden" in has else "", "dropout": dropout,
                    "model_args": "", "step": None, "hyper": "", "val_metric": None, "width": "", "param": "sp",
                    "base_width": ""}
        if "hidden" not in frame.columns:
            # The id parts of the architecture and dropout come right after the batch size's.
            extra = ("" if hidden == DEFAULT_HIDDEN else f"/hidden={widths_text(hidden)}") + \
                    ("" if dropout == 0 else f"/dropout={dropout:g}")
            if extra:
                frame["config"] = [_insert(c, extra) for c in frame["config"]]
                frame["run_id"] = [_insert(r, extra) for r in frame["run_id"]]
        for column, value in defaults.items():
            if column not in frame.columns:
                frame[column] = value
        if "lr_end" not in frame.columns:  # no schedules then: the rate never changed
            frame["lr_end"] = frame["lr"]
    # Empty text (no --opt-arg; a model without hidden layers) reads back as NaN; it is a value of its own.
    for column in ("opt_args", "hidden", "act", "norm", "model_args", "hyper", "width", "base_width"):
        frame[column] = text_column(frame[column])
    # dropout: a number where the model has it, '' where it does not (a user's model, whose layers are its own
    # code's: folders from before this wrote 0.0 there).
    lacks = ~frame["model"].map(has_dropout).astype(bool)
    if lacks.any():
        frame["dropout"] = frame["dropout"].astype(object).where(~lacks, "")
    return frame[RECORD_COLUMNS]


def has_dropout(model: str) -> bool:
    """Whether the dropout column describes `model`: nncmp's own models with --dropout, not a user's."""
    return "dropout" in HAS.get(model, frozenset())


def _insert(config_id: str, extra: str) -> str:
    """`extra` after the four parts every config id starts with (optimizer/init/lr=…/bs=…)."""
    parts = config_id.split("/")
    return "/".join(parts[:4]) + extra + ("/" + "/".join(parts[4:]) if len(parts) > 4 else "")


def upgrade_tuning(table: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """tuning.csv (or budget.csv) as read: empty text (no --opt-arg, no hidden layers) as ''; dropout '' for
    a `model` without it (None: not known), as the records have it."""
    for column in ("opt_args", "hidden", "act", "norm", "model_args", "width", "base_width"):
        if column in table.columns:
            table[column] = text_column(table[column])
    if "dropout" in table.columns and ((model is not None and not has_dropout(model))
                                       or (len(table) and table["dropout"].isna().all())):
        table["dropout"] = ""
    return table
