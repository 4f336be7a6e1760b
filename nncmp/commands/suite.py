"""suite: every optimizer on every problem of a suite, and one verdict over them.

    suite file → checks (every problem's runs, before anything trains) → one compare per problem, into a
    sub-folder of the suite's folder (an ordinary compare folder) → times to target (times.csv) → the
    verdict: performance profiles, score, speed-up (suite.csv, profiles.csv, profiles.png, report.html)

and `--calibrate`: the targets, from tuned baselines on the holdout split (suite/calibrate.py), written
into the suite file. The suite's folder keeps its own config.json (what was asked, which problems are
finished) and suite.toml (the suite as it was read, targets included), so a resume judges against the
same targets even if the suite file has changed since.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import (
    check_models,
    check_runs,
    check_tuned,
    load_data,
    pick_device,
    results_folder,
    set_threads,
)
from nncmp.commands.compare import compare
from nncmp.config.comparison import DEFAULT_TARGET, CompareConfig
from nncmp.config.grid import Grid
from nncmp.config.request import DEFAULT_SEEDS, CalibrateRequest, CompareRequest, SuiteRequest
from nncmp.config.tuning import Tuning
from nncmp.errors import Interrupted, SpecError, StoreError
from nncmp.results import schema, store
from nncmp.suite.problems import Problem, Suite, listed_once, load_suite
from nncmp.suite.verdict import Verdict
from nncmp.training.progress import Reporter

if TYPE_CHECKING:
    import pandas as pd

    from nncmp.suite.calibrate import Calibrated

SAVED = ("opts", "problems", "seeds", "auto", "tuning")  # what a resume must keep: they decide the runs


@dataclass
class SuiteResult:
    folder: Path
    suite: Suite
    verdict: Verdict
    times: pd.DataFrame  # one row per run: its time to target (times.csv)
    failed: dict[str, dict[str, str]] = field(default_factory=dict)  # problem → run id → error
    files: list[str] = field(default_factory=list)


def run_suite(request: SuiteRequest, reporter: Reporter = Reporter()) -> SuiteResult:
    """Run (or continue) the suite into its folder and return its verdict."""
    listed_once(request.problems)
    saved = _saved(request)
    if saved is not None:
        request = _continue(request, saved)
    suite = _suite(request, saved)
    if not request.opts:
        raise SpecError("--opts: name the optimizers to compare, e.g. --opts sgd,adam")
    seeds = request.seeds or DEFAULT_SEEDS
    configs = {p.name: _config(p, request, seeds) for p in suite.problems}
    opts = list(next(iter(configs.values())).grid.dims["optimizer"])  # resolved names (aliases, case)
    reference = request.reference or opts[0]
    if reference not in opts:
        raise SpecError(f"--reference {reference} is not one of --opts ({', '.join(opts)})")
    _check(suite, configs, request)
    _check_folders(request, suite)
    if request.options.mlflow:  # the store reached before the suite's folder is written
        from nncmp.output.mlflow_export import connect  # lazy: it imports mlflow, a heavy import

        connect(request.options.mlflow)
    with results_folder(request.out, "suite", resume=request.resume, overwrite=request.overwrite) as folder:
        if request.overwrite:
            _clear_problems(folder)
        doc = _doc(request, suite, opts, seeds, saved)
        _write(folder, doc, suite)
        failed: dict[str, dict[str, str]] = {}
        for i, p in enumerate(suite.problems, 1):
            sub = folder / p.name
            if p.name in doc["finished"]:
                damage = _damage(sub)
                if not damage:
                    continue
                # A finished problem's files damaged since (a copy, a disk): its compare resume retrains them.
                doc["finished"].remove(p.name)
                reporter.note(f"problem {p.name}, finished before: {damage}; its damaged runs train again")
            reporter.note(f"problem {i} of {len(suite.problems)}: {p.name} ({p.shown_target()}, "
                          f"{p.budget_text()})")
            try:
                result = compare(CompareRequest(configs[p.name], out=sub, resume=True, download=request.download),
                                 reporter)
            except Interrupted as stop:
                stop.folder = folder
                stop.phase = f"the suite's problem {p.name}"
                raise
            if result.failed:
                failed[p.name] = result.failed
            else:
                doc["finished"].append(p.name)
                _write(folder, doc, suite)
        return _judge(folder, suite, opts, request, reference, failed)


def _damage(sub: Path) -> str:
    """What is wrong with a finished problem's results ("": nothing), as results/checked.py finds it."""
    from nncmp.results import checked

    try:
        found: list[str] = []
        checked.metrics(sub, found)
    except (StoreError, OSError) as e:
        return str(e).splitlines()[0]
    return found[0] if found else ""


def _judge(folder: Path, suite: Suite, opts: list[str], request: SuiteRequest, reference: str,
           failed: dict[str, dict[str, str]]) -> SuiteResult:
    import pandas as pd

    from nncmp.suite.times import TIME_COLUMNS, run_times
    from nncmp.suite.verdict import verdict

    frames = [run_times(p, folder / p.name, store.read_metrics(folder / p.name)) for p in suite.problems
              if store.has_runs(folder / p.name)]
    times = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TIME_COLUMNS)
    times = times[times["optimizer"].isin(opts)]
    v = verdict(times, [p.name for p in suite.problems], opts, request.by, reference, request.ratio_to)
    store.write_csv(folder / schema.SUITE_TIMES, times)
    store.write_csv(folder / schema.SUITE_TABLE, v.table)
    store.write_csv(folder / schema.PROFILES, v.profiles)
    from nncmp.suite import report as shown

    store.atomic_write_text(folder / schema.SUITE_MD, shown.markdown(v, suite))
    files = [schema.CONFIG, schema.SUITE_TABLE, schema.SUITE_TIMES, schema.PROFILES, schema.SUITE_MD]
    if request.options.plot:
        shown.profiles_figure(v, suite, folder / schema.PROFILES_PNG)
        files.append(schema.PROFILES_PNG)
    if request.options.html:
        store.atomic_write_text(folder / schema.REPORT_HTML, shown.html(folder, v, suite))
        files.append(schema.REPORT_HTML)
    files.append(f"a folder per problem ({len(suite.problems)})")
    return SuiteResult(folder, suite, v, times, failed, files)


def _config(p: Problem, request: SuiteRequest, seeds: int) -> CompareConfig:
    try:
        grid = Grid(base=p.spec, dims={"optimizer": tuple(request.opts)}, seeds=seeds)
        target = p.target if p.metric == "val_acc" and p.target is not None else DEFAULT_TARGET
        # Tuned, the suite judges each optimizer at its tuned settings only: no runs at the defaults.
        return CompareConfig(grid=grid, auto=request.auto, target=target, options=request.options,
                             tuning=request.tuning, defaults=False)
    except SpecError as e:
        raise SpecError(f"problem {p.name}: {e}") from None


def _check(suite: Suite, configs: dict[str, CompareConfig], request: SuiteRequest, targets: bool = True) -> None:
    """Every problem's runs, on its data, before anything trains: a mistake in the fifth problem is known
    before the first one trains for minutes. `targets`: every problem must have one (not so to calibrate)."""
    missing = suite.uncalibrated() if targets else []
    if missing:
        where = suite.name if suite.builtin else str(suite.path)
        raise SpecError(f"problem(s) {', '.join(missing)} of suite {suite.name} have no target; set one (target = "
                        f"...) or let nncmp calibrate them: nncmp suite {where} --calibrate")
    for p in suite.problems:
        config = configs[p.name]
        try:
            data = load_data(p.spec, config.options.data_dir, request.download)
            if (data.task == "regression") != p.lower_is_better:
                want = "val_loss" if data.task == "regression" else "val_acc"
                raise SpecError(f"its data is {data.task}: its target must be on {want} (metric = \"{want}\")")
            specs = [s.resolved(data.n_train) for s in config.grid.runs()]
            check_runs(specs, data.n_train, request.auto or request.tuning is not None)
            if request.auto or request.tuning is not None:  # the tuning split can score (calibration's too)
                check_tuned(specs, data, request.tuning is None, defaults=False)
            if request.tuning is not None:
                from nncmp.tuning.search import check_tuning

                check_tuning(specs, request.tuning)
            check_models(specs, data)
        except SpecError as e:
            raise SpecError(f"problem {p.name}: {e}") from None


def _check_folders(request: SuiteRequest, suite: Suite) -> None:
    """The folder is one a suite may write into, and each problem's sub-folder already there (a resume) is a
    comparison's or empty: what compare would refuse halfway through is refused before the suite writes."""
    out = request.out
    if out is None or not (request.resume or request.overwrite):  # else a folder that is there is refused
        return
    if store.is_started(out):
        store.check_kind(Path(out), "suite", request.resume)
    for p in suite.problems:
        sub = Path(out) / p.name
        if not sub.exists():
            continue
        kind = store.read_config(sub).get("command") if store.is_started(sub) else None  # corrupt: says so
        if not sub.is_dir() or kind not in ("compare", None) or (kind is None and store.has_content(sub)):
            what = "a file" if not sub.is_dir() else f"an nncmp {kind}" if kind else "files that are not nncmp's"
            raise StoreError(f"{sub}: problem {p.name}'s folder holds {what}, not its comparison; nothing was changed")


def _saved(request: SuiteRequest) -> dict[str, Any] | None:
    if not (request.resume and request.out is not None and store.is_started(request.out)):
        return None
    doc = store.read_config(request.out)
    if doc.get("command") != "suite":
        raise StoreError(f"--resume: {request.out} holds an nncmp {doc.get('command', 'compare')}, not a suite; "
                         "nothing was changed")
    return doc


def _continue(request: SuiteRequest, saved: dict[str, Any]) -> SuiteRequest:
    """The request with what the suite was started with where the command line left it open; StoreError if
    the command line asks for other runs."""
    tuning = Tuning.from_json(saved["tuning"]) if saved.get("tuning") else None
    was = {"opts": tuple(saved["opts"]), "problems": tuple(saved["problems"]), "seeds": saved["seeds"],
           "auto": saved["auto"], "tuning": tuning}
    asked = {"opts": request.opts, "problems": request.problems, "seeds": request.seeds, "auto": request.auto,
             "tuning": request.tuning}
    flags = {"opts": "--opts", "problems": "--problems", "seeds": "--seeds", "auto": "--lrs auto", "tuning": "--tune"}
    tuned_given = request.auto or request.tuning is not None
    for key in SAVED:
        value = asked[key]
        open_ = value in ((), None) or (key in ("auto", "tuning") and not tuned_given)
        if open_:
            continue
        if key == "opts" and value != was["opts"]:
            from nncmp.registry.optimizers import resolve

            value = tuple(resolve(o) for o in value)
        if value != was[key]:
            raise StoreError(f"--resume: {request.out} was run with {flags[key]} {_show(was[key])}, this command "
                             f"has {_show(value)}; give the same, or only --resume {request.out}")
    return replace(request, **was)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "(all)"
    if isinstance(value, Tuning):
        return f"{value.sampler}, {value.trials} trials × {value.studies} studies"
    return "(none)" if value is None else str(value)


def _suite(request: SuiteRequest, saved: dict[str, Any] | None) -> Suite:
    """The suite as asked; on a resume, the copy in the folder (its targets as they were when it started)."""
    if saved is not None:
        from nncmp.suite.problems import parse_file

        builtin = bool(saved["suite"].get("builtin"))
        source = None if builtin else Path(saved["suite"]["source"]).parent
        suite = parse_file(Path(request.out) / schema.SUITE_TOML, builtin=builtin, relative_to=source)
        suite = replace(suite, name=saved["suite"]["name"])
    else:
        suite = load_suite(request.suite)
    return suite.only(list(request.problems))


def _doc(request: SuiteRequest, suite: Suite, opts: list[str], seeds: int, saved: dict[str, Any] | None
         ) -> dict[str, Any]:
    doc = {"suite": {"name": suite.name, "source": str(Path(suite.path).resolve()) if suite.path and not suite.builtin
                     else suite.name,
                     "builtin": suite.builtin},
           "opts": opts, "problems": [p.name for p in suite.problems], "seeds": seeds, "auto": request.auto,
           "tuning": request.tuning.to_json() if request.tuning else None, "by": request.by,
           "reference": request.reference, "ratio_to": request.ratio_to, "options": asdict(request.options),
           "finished": list((saved or {}).get("finished", []))}
    if saved is not None:  # the suite it was started from, not the folder's copy it resumed from
        doc["suite"], doc["created"] = saved["suite"], saved.get("created")
    else:  # rewritten as problems finish: created stays when the suite began
        from datetime import datetime

        doc["created"] = datetime.now().isoformat(timespec="seconds")
    return json.loads(json.dumps(doc))


def _write(folder: Path, doc: dict[str, Any], suite: Suite) -> None:
    store.write_config(folder, "suite", doc)
    target = folder / schema.SUITE_TOML
    if suite.path is not None and not target.exists():
        store.atomic_write_text(target, Path(suite.path).read_text())


def _clear_problems(folder: Path) -> None:
    """--overwrite of a suite folder: its problems' compare folders go too (they would be resumed)."""
    import shutil

    for sub in folder.iterdir():
        if sub.is_dir() and store.is_started(sub) and store.read_config(sub).get("command") == "compare":
            shutil.rmtree(sub)


# --- calibrate -------------------------------------------------------------------------------------------


@dataclass
class CalibrateResult:
    folder: Path
    targets: dict[str, float]
    table: pd.DataFrame  # one row per baseline run (calibration.csv)
    written: Path  # the suite file that now holds the targets
    files: list[str] = field(default_factory=list)


def calibrate(request: CalibrateRequest, reporter: Reporter = Reporter()) -> CalibrateResult:
    """Set every problem's target from tuned baselines and write the targets into the suite file (a built-in
    suite: into a copy in the results folder)."""
    import pandas as pd

    from nncmp.output.mlflow_export import calibrating, connect  # mlflow itself only once connect is called
    from nncmp.suite import calibrate as rule
    from nncmp.suite.problems import write_targets

    if not 0 < request.slack <= 1:
        raise SpecError(f"--slack must be in (0, 1], got {request.slack:g}")
    if request.seeds < 1:
        raise SpecError(f"--seeds must be >= 1, got {request.seeds}")
    suite = load_suite(request.suite).only(list(request.problems))
    baselines = request.baselines or rule.BASELINES
    _calibrated_before(request, suite, tuple(baselines))
    configs = {p.name: _config(p, SuiteRequest(opts=tuple(baselines), auto=True, options=request.options),
                               request.seeds)
               for p in suite.problems}
    _check(suite, configs, SuiteRequest(opts=tuple(baselines), auto=True, options=request.options,
                                        download=request.download), targets=False)
    if request.options.mlflow:  # the store reached before the calibration's folder is written
        connect(request.options.mlflow)
    options = replace(request.options, device=pick_device(request.options.device, request.options.threads,
                                                          request.options.deterministic, reporter.note))
    set_threads(options.threads)
    results: list[Calibrated] = []
    with results_folder(request.out, "calibrate", resume=request.resume, overwrite=request.overwrite) as folder:
        store.write_config(folder, "calibrate", {"suite": request.suite, "problems": [p.name for p in suite.problems],
                                                 "baselines": list(baselines), "seeds": request.seeds,
                                                 "slack": request.slack, "options": asdict(request.options)})
        with calibrating(request.options.mlflow, folder, reporter.note) as problem_done:  # --mlflow, or nothing
            for i, p in enumerate(suite.problems, 1):
                reporter.note(f"calibrating {i} of {len(suite.problems)}: {p.name}")
                sub = folder / p.name
                sub.mkdir(exist_ok=True)
                data = load_data(p.spec, request.options.data_dir, request.download)
                try:
                    results.append(rule.calibrate(p, data, sub, reporter, options, tuple(baselines),
                                                  request.seeds, request.slack, resume=request.resume))
                except Interrupted as stop:
                    stop.folder = folder
                    raise
                problem_done(sub)
            table = pd.DataFrame([row for c in results for row in c.rows])
            store.write_csv(folder / schema.CALIBRATION, table)
        targets = {c.problem: c.target for c in results}
        record = rule.record(results, tuple(baselines), request.seeds, request.slack)
        source = Path(suite.path) if suite.path else None
        written = folder / schema.SUITE_TOML
        if source is not None:
            store.atomic_write_text(written, source.read_text())
        write_targets(written, targets, record)
        if not suite.builtin and source is not None:
            write_targets(source, targets, record)
            written = source
    return CalibrateResult(folder, targets, table, written,
                           [schema.CONFIG, schema.CALIBRATION, schema.SUITE_TOML, "a folder per problem"])


def _calibrated_before(request: CalibrateRequest, suite: Suite, baselines: tuple[str, ...]) -> None:
    """--calibrate --resume DIR continues only a calibration of the same suite, problems, baselines, seeds and
    slack: it would replace DIR's config.json and suite.toml, so any other folder is refused before a byte is
    written (a suite's folder could no longer be resumed)."""
    out = request.out
    if not (request.resume and out is not None and store.is_started(out)):
        return
    doc = store.read_config(out)
    kind = doc.get("command")
    if kind != "calibrate":
        how = {"suite": f"nncmp suite --resume {out} continues it; nncmp suite {Path(out) / schema.SUITE_TOML} "
                        "--calibrate calibrates its suite into a new folder",
               "compare": f"nncmp resume {out} continues it", "train": f"nncmp resume {out} continues it"}
        raise StoreError(f"--calibrate --resume: {out} holds an nncmp {kind}, not a calibration; nothing was "
                         f"changed" + (f" ({how[kind]})" if kind in how else ""))
    was = {"suite": doc.get("suite"), "--problems": doc.get("problems"), "--baselines": doc.get("baselines"),
           "--seeds": doc.get("seeds"), "--slack": doc.get("slack")}
    asked = {"suite": request.suite, "--problems": [p.name for p in suite.problems], "--baselines": list(baselines),
             "--seeds": request.seeds, "--slack": request.slack}
    same_file = suite.path is not None and not suite.builtin and Path(str(was["suite"])).resolve() == \
        Path(suite.path).resolve()
    for key, value in asked.items():
        if value != was[key] and not (key == "suite" and same_file):
            raise StoreError(f"--resume: {out} calibrated {'the suite ' if key == 'suite' else 'with ' + key + ' '}"
                             f"{_listed(was[key])}, this command has {_listed(value)}; give the same to continue it")


def _listed(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
