"""What `train`, `compare` and `resume` do once their options are parsed: the steps between a checked
spec or CompareConfig and the files and tables a user gets.

train:    one run on the engine the plan gives it → metrics.csv, summary.csv, plots.
compare:  config.json → [tuning (--lrs auto)] → every unfinished run of the grid, saved group by group
          (training.py) → summary.csv, the table, plots. resume is compare on a folder's own config.

Each returns the command's exit code: 0, or 130/143 after Ctrl-C/SIGTERM (whatever finished is saved
and said, with how to resume). Failures raise errors.NncmpError, which the CLI shows as one line.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from nncmp.results import store
from nncmp.spec.config import CompareConfig
from nncmp.registry.datasets import Data
from nncmp.errors import Interrupted, RunsFailed, SomeRunsFailed, WriteError
from nncmp.training.probes import Tracking
from nncmp.spec.run import RunSpec
from nncmp.results.stats import DEFAULT_TARGET


def train(folder: Path, spec: RunSpec, data: Data, quiet: bool, plot: bool, tracking: Tracking = Tracking(),
          device: str = "cpu", tensorboard: Path | None = None) -> int:
    """One run into `folder`, one line per epoch (unless quiet), trained on `device`."""
    from nncmp.training.devices import describe, on_device

    from nncmp.training import recorder
    from nncmp.results import stats
    from nncmp.training.execute import train_one
    from nncmp.output.terminal import epoch_header, epoch_line, make_console
    from nncmp.training.signals import exit_code, termination_as_interrupt

    console = make_console()
    resolved = spec.resolved(data.n_train)
    scheduled = spec.schedule != "constant"
    store.write_config(folder, "train", {"spec": resolved.to_dict(), "target": DEFAULT_TARGET, "device": device})
    if not quiet:
        console.print(f"{resolved.run_id} on {spec.dataset} ({data.n_train} train / {len(data.x_val)} val), "
                      f"device {describe(device)}")
        console.print(epoch_header(scheduled))
    tracker = None
    if tracking:
        from nncmp.training.probes import Probes

        tracker = Probes(data, tracking)
    try:
        with termination_as_interrupt():
            records = train_one(spec, on_device(data, device), probe=tracker,
                                on_epoch=None if quiet else lambda r: console.print(epoch_line(r, scheduled)))
    except KeyboardInterrupt as e:
        console.print(f"interrupted before the run finished; nothing to save beyond {folder / 'config.json'}")
        return exit_code(e)
    except Exception as e:  # the optimizer raised: one line, exit 1
        from nncmp.training.execute import failure

        raise SomeRunsFailed(f"{resolved.run_id} failed: {failure(e)}") from None
    metrics = recorder.records_frame(records)
    try:
        store.write_csv(folder / "metrics.csv", metrics)
    except OSError as e:
        raise WriteError(f"cannot write {folder / 'metrics.csv'}: {e.strerror or e}") from None
    summary = stats.summarize(metrics, DEFAULT_TARGET)
    store.write_csv(folder / "summary.csv", summary)
    if tracker and tracker.layers:
        from nncmp.training.runner import write_layers

        write_layers(folder / "layers.csv", [resolved.run_id], tracker.rows)
    if tracker and tracker.weights:
        tracker.weights.save(folder, [resolved.run_id])
    if tensorboard is not None:
        from nncmp.output.tensorboard import write_run

        write_run(tensorboard, records)
    if plot:
        from nncmp.output.plots import write_plots

        write_plots(metrics, summary, folder)
    if quiet:
        console.print(epoch_line(records[-1], scheduled))
    if records[-1]["status"] == "diverged":
        step = records[-1]["diverged_step"]
        console.print(f"diverged at epoch {records[-1]['epoch']}" + (f", step {step}" if step else "")
                      + ": the loss is not finite (try a smaller --lr)")
    console.print(f"results: {folder}")
    return 0


def check_baseline(specs: list[RunSpec], baseline: str | None, n_train: int) -> None:
    """BaselineError now, before training, if --baseline names no configuration of these runs or several."""
    if baseline is not None:
        from nncmp.results.stats import find_config

        find_config([s.resolved(n_train).config_id for s in specs], baseline)


def compare(folder: Path, config: CompareConfig, data: Data, quiet: bool, json_out: bool, verbose: bool,
            saved: dict[str, Any] | None = None) -> int:
    """Tune (with --lrs auto), train every unfinished run, then summarise. `saved`: the config.json of the
    folder being resumed (None for a new comparison)."""
    from nncmp.training import runner as training
    from nncmp.output.terminal import make_console

    # With --json, stdout carries the JSON document only; anything else goes to stderr.
    console = make_console(stderr=json_out)
    quiet = quiet or json_out
    specs = config.grid.runs()
    extra: dict[str, Any] = {}
    if saved is not None:
        extra = {"created": saved.get("created"),
                 "resumed": [*saved.get("resumed", []), datetime.now().isoformat(timespec="seconds")]}
    options = config.options
    _write_config(folder, config, specs, data, extra)
    if not quiet:
        from nncmp.training.devices import describe

        console.print(f"device: {describe(options.device)}")
    try:
        if config.auto:
            specs = training.tune_rates(specs, data, folder, console, quiet, options, verbose, resume=saved is not None)
            _write_config(folder, config, specs, data, extra)
            check_baseline(specs, config.baseline, data.n_train)
        training.run_grid(specs, data, folder, console, quiet, options, verbose, resume=saved is not None)
    except Interrupted as stop:
        return _interrupted(stop, folder, config, console)
    except RunsFailed as failure:
        if (folder / "metrics.csv").exists():
            render(folder, config.target, config.metric, config.baseline, None, "table", options.plot, options.x,
                   console, write=True)
        first = next(iter(failure.failed.items()))
        raise SomeRunsFailed(f"{len(failure.failed)} run(s) failed on every attempt (their errors are in "
                             f"{folder / 'runs.csv'}), e.g. {first[0]}: {first[1]}; the other runs finished and "
                             f"are saved: nncmp resume {folder} tries the failed ones again") from None
    render(folder, config.target, config.metric, config.baseline, None, "json" if json_out else "table",
           options.plot, options.x, make_console(), write=True)
    if options.html:  # one self-contained page beside the CSVs and PNGs
        from nncmp.output.html import build

        store.atomic_write_text(folder / "report.html", build(folder, config.target, config.metric,
                                                              config.baseline, (), options.x))
    if not json_out:
        console.print(f"results: {folder}  ({len(specs)} runs: config.json, metrics.csv, summary.csv"
                      + (", tuning.csv" if config.auto else "") + (", PNG plots" if options.plot else "")
                      + (", report.html" if options.html else "") + ")")
    return 0


def _write_config(folder: Path, config: CompareConfig, specs: list[RunSpec], data: Data,
                  extra: dict[str, Any]) -> None:
    store.write_config(folder, "compare", {**config.to_json(), **extra,
                                           "runs": [s.resolved(data.n_train).to_dict() for s in specs]})


def _interrupted(stop: Interrupted, folder: Path, config: CompareConfig, console: Any) -> int:
    """Say what was saved and how to go on; the exit code. Interrupts are ignored from the moment of the
    interruption (signals.ignore_interrupts) until these last writes are done."""
    from nncmp.training.signals import restore_interrupts

    try:
        if stop.phase == "tuning":
            console.print(f"interrupted while tuning learning rates ({stop.finished} of {stop.total} tuning runs "
                          f"finished, saved in {folder / 'tuning_metrics.csv'})")
        else:
            if stop.finished:
                render(folder, config.target, config.metric, config.baseline, None, "table", False,
                       config.options.x, console, write=True)
            console.print(f"interrupted: {stop.finished} of {stop.total} runs finished and saved in {folder} "
                          "(runs.csv lists each run's state)")
        console.print(f"resume with: nncmp resume {folder}")
    finally:
        restore_interrupts()
    return stop.code


def render(folder: Path, target: float | None, metric: str | None, baseline: str | None, by: str | None,
           fmt: str, plot: bool, x: str, console: Any, write: bool = False) -> None:
    """Summarise a results folder from its files and print it in `fmt`. compare and report both come
    here, so report reproduces compare's summary.csv byte for byte."""
    from nncmp.output import terminal as report
    from nncmp.results import stats

    metrics, summary, metric = stats.summarize_folder(folder, target, metric, baseline)
    if write:
        store.write_csv(folder / "summary.csv", summary)
    if plot:
        from nncmp.output.plots import write_plots

        write_plots(metrics, summary, folder, x)
    output = report.render(summary, metric, target, fmt, by, folder)
    if isinstance(output, str):
        console.file.write(output)
    else:
        console.print(output)
