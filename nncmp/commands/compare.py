"""compare and resume: a CompareConfig in, a folder of results and their summary out.

    config.json → [tune the rates (--lrs auto)] → every unfinished run, saved group by group (training/)
    → summary.csv, plots, [report.html] → CompareResult

resume is compare on a folder's own config.json. Bad input raises SpecError (and the other NncmpErrors)
before anything trains; Ctrl-C or SIGTERM raises Interrupted once everything finished is saved and
summarised; runs that fail on every attempt are in the result's `failed`, the others finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import (
    bfloat16_note,
    check_backend,
    check_code,
    check_gpu_jobs,
    check_models,
    check_runs,
    check_tuned,
    code_records,
    load_data,
    pick_device,
    results_folder,
    set_threads,
)
from nncmp.config.comparison import CompareConfig, check_same_runs
from nncmp.config.request import CompareRequest
from nncmp.config.run import RunSpec
from nncmp.errors import Interrupted, RunsFailed, UserCodeStopped, WriteError
from nncmp.registry.user import how_stopped
from nncmp.results import schema, store
from nncmp.results.summary import summarize_folder, write_transfer
from nncmp.training.progress import Reporter
from nncmp.training.signals import exit_code, ignore_interrupts, termination_as_interrupt

if TYPE_CHECKING:
    import pandas as pd

    from nncmp.config.comparison import Options
    from nncmp.registry.datasets import Data
    from nncmp.training.runner import OnSaved


@dataclass
class CompareResult:
    """A finished (or partly failed) comparison: its folder and its tables."""

    folder: Path
    metrics: pd.DataFrame  # one row per run × epoch (metrics.csv)
    summary: pd.DataFrame  # one row per configuration, ranked (summary.csv)
    metric: str  # what the summary is ranked by
    target: float
    runs: int  # how many runs the comparison has
    failed: dict[str, str] = field(default_factory=dict)  # run id → error, for runs that failed every attempt
    files: list[str] = field(default_factory=list)  # what was written, for the last line
    transfer: pd.DataFrame | None = None  # transfer.csv: a sweep over --widths and --lrs (results/transfer.py)


def compare(request: CompareRequest, reporter: Reporter = Reporter()) -> CompareResult:
    """Train every run of the comparison that is not finished yet into the results folder, then summarise."""
    # Ctrl-C raises errors.Signalled throughout: a KeyboardInterrupt of a user's model or loader is then its own.
    with termination_as_interrupt():
        try:
            return _compare(request, reporter)
        except SystemExit as e:  # nncmp never exits here: a user's code where no finer guard caught it
            raise UserCodeStopped(f"a user's code {how_stopped(e)}, which nncmp takes as that code's error") \
                from None


def _compare(request: CompareRequest, reporter: Reporter) -> CompareResult:
    config = request.config
    options = config.options
    if options.tensorboard:
        from nncmp.output.tensorboard import check_installed

        check_installed()
    if options.mlflow:  # the store reached and its experiment made before anything trains
        from nncmp.output.mlflow_export import connect  # lazy: it imports mlflow, a heavy import

        connect(options.mlflow)
    device = pick_device(options.device, options.threads, options.deterministic, reporter.note)
    check_gpu_jobs(options.backend, options.jobs, device, request.share_gpu, reporter.note)
    config = replace(config, options=replace(options, device=device))
    saved = None
    check_backend(config.grid.base, options.backend)
    if request.resume and request.out is not None and store.is_started(request.out):
        saved_config, saved = store.read_compare(request.out)
        check_same_runs(request.out, saved_config, config)
        check_code(saved, request.allow_changed_code, reporter.note)
    elif request.resume:
        reporter.note(f"{request.out} holds no comparison yet: starting it there")
    base = config.grid.base
    data = load_data(base, options.data_dir, request.download)
    if saved is not None:
        check_old_scaling(request.out, saved, data)
    set_threads(options.threads)
    specs = [s.resolved(data.n_train) for s in config.grid.runs()]
    check_runs(specs, data.n_train, config.auto or config.tuning is not None, config.baseline)
    if config.auto or config.tuning is not None:  # before the folder is made: nothing written for bad input
        check_tuned(specs, data, config.tuning is None, config.baseline, config.defaults)
    if config.tuning is not None:
        from nncmp.tuning.search import check_tuning

        check_tuning(specs, config.tuning)
    check_models(specs, data, options.track_weights, reporter.note)
    slow = bfloat16_note(specs, options.device)
    if slow:
        reporter.note(slow)
    with results_folder(request.out, request.command, resume=request.resume,
                        overwrite=request.overwrite) as folder:
        stage = Stage("training", specs)
        try:
            return _run(folder, config, specs, data, saved, request.command, reporter, stage)
        except KeyboardInterrupt as e:  # where no finer handler is: config.json, between the phases
            ignore_interrupts()
            raise stage.interrupted(folder, config, e) from None
        except (OSError, WriteError) as e:  # disk full, folder gone: which file, and what is saved
            raise stage.cannot_write(folder, config, e) from None


def check_old_scaling(folder: Path | None, saved: dict[str, Any], data: Any) -> None:
    """StoreError if a folder made before --standardize (config.json's data has no "standardize") would now train
    its remaining runs on data scaled otherwise than its finished ones: that version standardised a CSV's features
    only, never an npz's or Python's, nor regression targets; an old folder reads as auto, which does."""
    from nncmp.errors import StoreError

    scaling = data.scaling
    if "standardize" in (saved.get("data") or {}) or not (scaling.target_mean or scaling.features):
        return
    if scaling.target_mean or not str(saved["base"].get("dataset", "")).endswith(".csv"):
        raise StoreError(f"--resume: {folder} was made before --standardize, when {data.name}'s "
                         f"{'targets' if scaling.target_mean else 'features'} were used as given; --standardize auto "
                         "would scale them for the remaining runs, unlike the finished ones: run the comparison "
                         "again (--standardize off uses the data as that version did)")


@dataclass
class Stage:
    """Where _run is, so that an interruption or a failed write anywhere says what is saved: `phase` (tuning,
    training, summarising) and the runs of the comparison (the tuned ones, once the tuning chose them)."""

    phase: str
    specs: list[RunSpec]

    def interrupted(self, folder: Path, config: CompareConfig, e: BaseException) -> BaseException:
        from nncmp.training.runner import saved_runs

        if not store.is_started(folder):  # no config.json yet: nothing to resume, as before the folder existed
            return e
        if self.phase == "tuning":  # between rounds of trials: every trial so far is in tuning_metrics.csv
            path = folder / schema.TUNING_METRICS
            trials = store.read_records(path)["run_id"].nunique() if path.is_file() else 0
            stop = Interrupted("tuning", trials, 0, exit_code(e))
        else:
            n = saved_runs(folder, self.specs, config.options)
            stop = Interrupted("summarising" if n == len(self.specs) else "training", n, len(self.specs), exit_code(e))
        stop.folder, stop.tuned = folder, tuned_names(config, self.specs)
        return stop

    def cannot_write(self, folder: Path, config: CompareConfig, e: OSError | WriteError) -> WriteError:
        from nncmp.training.runner import saved_runs

        if isinstance(e, OSError):
            e = WriteError(f"cannot write {e.filename or folder}: {e.strerror or e}; the results saved before are "
                           "intact")
        if not store.is_started(folder):
            return WriteError(f"{e}; nothing was saved: run the command again once there is space")
        n = saved_runs(folder, self.specs, config.options)
        return WriteError(f"{e}; {n} of {len(self.specs)} runs saved in {folder}; once there is space, resume with: "
                          f"nncmp resume {folder} (it writes what is missing)")


def tuned_names(config: CompareConfig, specs: list[RunSpec]) -> str:
    """What the tuning tunes, as an interruption says it: learning rates (--lrs auto), or --tune's hyperparameters."""
    if config.tuning is None:
        return "learning rates"
    from nncmp.config.space import space_for

    names = {p.target: None for s in specs for p in space_for(s.optimizer, s.schedule, config.tuning.space).values()}
    return ", ".join(names)


def resume(folder: Path, reporter: Reporter = Reporter(), **overrides: Any) -> CompareResult:
    """Finish an interrupted comparison with the options it was started with (`overrides`: backend, jobs,
    address, threads, device, which change how it runs, never what it computes)."""
    config, doc = store.read_compare(folder)
    options = config.options
    backend = overrides.get("backend") or options.backend
    options = replace(options, backend=backend, jobs=overrides.get("jobs") or options.jobs,
                      address=overrides.get("address") or (options.address if backend == "ray" else None),
                      threads=overrides.get("threads"), device=overrides.get("device") or options.device)
    command = doc.get("command", "compare")
    return compare(CompareRequest(replace(config, options=options), out=Path(folder), resume=True, command=command,
                                  allow_changed_code=bool(overrides.get("allow_changed_code"))), reporter)


def _run(folder: Path, config: CompareConfig, specs: list[RunSpec], data: Data, saved: dict[str, Any] | None,
         command: str, reporter: Reporter, stage: Stage) -> CompareResult:
    options = config.options
    extra: dict[str, Any] = {}
    if saved is not None:
        extra = {"created": saved.get("created"),
                 "resumed": [*saved.get("resumed", []), datetime.now().isoformat(timespec="seconds")]}
    from nncmp.training import load

    load.new_tally()  # config.json's openmp record counts this comparison's groups only
    _write_config(folder, command, config, specs, data, extra)
    # config.json is written again after tuning and after the runs: it keeps when the comparison started
    extra.setdefault("created", store.read_config(folder).get("created"))
    from nncmp.training.devices import THREADS, describe

    reporter.note(f"device: {describe(options.device)}")
    if reporter.detailed:
        from nncmp.training.backends import threads_fixed_by
        from nncmp.training.openmp import line

        reporter.detail(line(THREADS.get(), threads_fixed_by(options)))
    try:
        if config.auto or config.tuning is not None:
            stage.phase = "tuning"
            from nncmp.tuning.lr import tune_rates
            from nncmp.tuning.search import tune

            if config.tuning is not None:
                specs = tune(specs, data, folder, reporter, options, config.tuning, resume=saved is not None,
                             defaults=config.defaults)
            else:
                specs = tune_rates(specs, data, folder, reporter, options, resume=saved is not None,
                                   defaults=config.defaults)
            stage.phase, stage.specs = "training", specs
            _write_config(folder, command, config, specs, data, extra)
            from nncmp.commands.common import check_baseline

            # Checked before the tuning already (check_tuned), as far as anything can be before it chose: here
            # only a --tune baseline naming a tuned configuration can still be refused.
            check_baseline(specs, config.baseline)
        from nncmp.output.mlflow_export import tracking  # lazy: as every output module in the command layer
        from nncmp.training.runner import run_grid  # here: it imports torch, and suite's checks come first

        with tracking(options.mlflow, folder, reporter.note, also=_tensorboard(options)) as on_saved:
            run_grid(specs, data, folder, reporter, options, resume=saved is not None, on_saved=on_saved)
        _write_config(folder, command, config, specs, data, extra)  # the thread counts the groups ran with
    except Interrupted as stop:
        stop.folder, stop.tuned = folder, tuned_names(config, specs)
        if stop.phase == "training" and stop.finished:
            _, stop.summary, stop.metric, _ = _summarize(folder, config, plot=False)
            stop.target = config.target
        raise
    except RunsFailed as failure:
        result = _result(folder, config, len(specs))
        result.failed = failure.failed
        return result
    stage.phase = "summarising"
    try:
        with termination_as_interrupt():
            result = _result(folder, config, len(specs))
            if options.html:  # one self-contained page beside the CSVs and PNGs
                from nncmp.output.html import build

                store.atomic_write_text(folder / schema.REPORT_HTML, build(folder, config.target, config.metric,
                                                                           config.baseline, (), options.x))
    except KeyboardInterrupt as e:  # every run is saved; what was cut short is summary and figures
        ignore_interrupts()
        stop = Interrupted("summarising", len(specs), len(specs), exit_code(e))
        stop.folder = folder
        raise stop from None
    tuned = config.auto or config.tuning is not None
    result.files = [schema.CONFIG, schema.METRICS, schema.SUMMARY] + ([schema.TUNING] if tuned else []) \
        + ([schema.TRANSFER] if result.transfer is not None else []) \
        + (["PNG plots"] if options.plot else []) + ([schema.REPORT_HTML] if options.html else [])
    return result


def _summarize(folder: Path, config: CompareConfig,
               plot: bool) -> tuple[pd.DataFrame, pd.DataFrame, str, pd.DataFrame | None]:
    """summary.csv (and the plots) from the folder's files, as report makes them."""
    metrics, summary, metric = summarize_folder(folder, config.target, config.metric, config.baseline)
    store.write_csv(folder / schema.SUMMARY, summary)
    transfer = write_transfer(folder, metrics, metric)
    if plot:
        from nncmp.output.plots import write_plots

        # A step budget's curves are by step: its evaluations are not epochs.
        x = "steps" if config.grid.base.steps and config.options.x == "epochs" else config.options.x
        write_plots(metrics, summary, folder, x, transfer, metric)
        from nncmp.output.tuning_plots import write_figures

        write_figures(folder)  # --tune: budget.png, sensitivity.png
    return metrics, summary, metric, transfer


def _result(folder: Path, config: CompareConfig, runs: int) -> CompareResult:
    if not store.has_runs(folder):  # every run failed
        import pandas as pd

        return CompareResult(folder, pd.DataFrame(columns=schema.RECORD_COLUMNS), pd.DataFrame(),
                             config.metric or "final_val_acc", config.target, runs)
    metrics, summary, metric, transfer = _summarize(folder, config, config.options.plot)
    return CompareResult(folder, metrics, summary, metric, config.target, runs, transfer=transfer)


def _write_config(folder: Path, command: str, config: CompareConfig, specs: list[RunSpec], data: Data,
                  extra: dict[str, Any]) -> None:
    from nncmp.registry.losses import criterion, describe

    first = specs[0]
    facts = describe(data, criterion(data, first.loss, first.label_smoothing, first.metric_fn))
    doc = {**config.to_json(), **extra, **code_records(first), "data": facts, "runs": [s.to_dict() for s in specs]}
    if command == "train":  # what folders of train have always recorded: the run itself
        doc = {**doc, "spec": specs[0].to_dict(), "device": config.options.device}
    from nncmp.training.backends import threads_fixed_by
    from nncmp.training.devices import THREADS
    from nncmp.training.openmp import record

    doc["openmp"] = record(THREADS.get(), threads_fixed_by(config.options))  # how torch's threads wait, and why
    store.write_config(folder, command, doc)


def _tensorboard(options: Options) -> OnSaved | None:
    """--tensorboard LOGDIR: each run written there as it finishes, so TensorBoard shows progress live."""
    if not options.tensorboard:
        return None
    from nncmp.output.tensorboard import write_run

    written: set[int] = set()

    def write(current: dict[int, list[dict[str, Any]]]) -> None:
        for i in sorted(set(current) - written):
            write_run(Path(options.tensorboard), current[i])
            written.add(i)

    return write
