"""What a suite is: problems (dataset + model + budget + target), read from a TOML file or a built-in one.

A suite file (the built-in ones are nncmp/suite/suites/*.toml, in the same format):

    [suite]
    name = "mine"
    description = "..."

    [problems.digits-mlp]          # one table per problem; its name is the sub-folder of the results
    dataset = "digits"             # any --dataset, or your data.npz / data.csv
    model = "mlp"                  # any --model, or your "file.py:Net"
    hidden = [64, 32]              # the run's other settings, named as RunSpec's fields
    epochs = 10                    # the budget: the epochs every optimizer gets
    batch_size = 32
    target = 0.95                  # val accuracy to reach (regression: val loss to get below)
    description = "..."

    [problems.modadd-transformer]  # a budget in optimizer steps, and a dataset's and a model's arguments
    dataset = "modadd"
    data_args = { p = 31, train_fraction = 0.7 }
    model = "transformer"
    model_args = { n_layer = 1, d_model = 64 }
    steps = 1500                   # the budget: optimizer steps (instead of epochs) ...
    eval_every = 50                # ... evaluated every 50 steps (time to target is counted from these)
    baseline_settings = { adamw = { weight_decay = 1.0 } }  # --calibrate's baselines: settings besides the rate

    [calibration]                  # written by --calibrate: how the targets were set, where, with what
    ...

A problem's settings are RunSpec fields, so every check of a run applies when the suite is read, and a
problem is one compare: the grid is its settings × the optimizers × the seeds. Its budget is `epochs`, or
`steps` (with `eval_every`) when it has them. `baseline_settings` is read by --calibrate only: hyperparameters
of a calibration baseline besides its tuned rate, for a problem whose target only a setting away from the
baseline's default reaches (grokking needs a strong weight decay); the suite's own runs never read it.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry.closest import hint
from nncmp.results import schema

BUILTIN = ("default", "large")
METRICS = ("val_acc", "val_loss")  # what a target is on: accuracy to reach, loss to get below
# RunSpec fields a problem may not set: the suite's grid sets them (the optimizer and all its settings).
GRID_SET = {"optimizer", "seed", "opt_args", *hp.optimizer_settings()}
PROBLEM_KEYS = {"target", "metric", "description", "baseline_settings"}
# A problem's name is its sub-folder, beside the suite folder's own files: it may be none of them (nor one
# that --overwrite clears: figures, weights/), and short enough for any file system with room to spare.
RESERVED = {n.casefold() for n in (*schema.RESULT_FILES, schema.PROFILES_PNG, schema.WEIGHTS)}
NAME_LIMIT = 100


@dataclass(frozen=True)
class Problem:
    """One workload: a run's settings without its optimizer (the budget is its epochs) and a target."""

    name: str
    spec: RunSpec  # dataset, model and every setting; optimizer and seed are the suite's
    target: float | None = None  # None: not calibrated yet
    metric: str = "val_acc"
    description: str = ""
    # --calibrate's baselines only: optimizer → its settings besides the rate, sorted (e.g. adamw's weight_decay)
    baseline_settings: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    @property
    def lower_is_better(self) -> bool:
        return self.metric == "val_loss"

    @property
    def step_budget(self) -> bool:
        """Whether the budget is optimizer steps (`steps`), evaluated every `eval_every`; else it is epochs."""
        return self.spec.steps is not None

    def budget_text(self) -> str:
        """The budget as users read it: '3 epochs', or '1500 steps' for a step budget."""
        if self.step_budget:
            return f"{self.spec.steps} steps"
        return f"{self.spec.epochs} epoch{'s' if self.spec.epochs != 1 else ''}"

    def baseline_spec(self, optimizer: str) -> RunSpec:
        """The problem's run for a calibration baseline: its settings, the optimizer and its baseline_settings."""
        spec = replace(self.spec, optimizer=optimizer)  # the optimizer's canonical name, as the settings are keyed
        own = dict(dict(self.baseline_settings).get(spec.optimizer, ()))
        return replace(spec, **own) if own else spec

    def reached(self, value: float) -> bool:
        """Whether a validation score meets the target."""
        if self.target is None or not math.isfinite(value):
            return False
        return value <= self.target if self.lower_is_better else value >= self.target

    def shown_target(self) -> str:
        if self.target is None:
            return "no target"
        return f"loss ≤ {self.target:.4g}" if self.lower_is_better else f"acc ≥ {self.target:.4g}"


@dataclass(frozen=True)
class Suite:
    name: str
    problems: tuple[Problem, ...]
    description: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)  # how the targets were set
    path: Path | None = None  # the file it was read from
    builtin: bool = False

    def problem(self, name: str) -> Problem:
        for p in self.problems:
            if p.name == name:
                return p
        raise SpecError(f"suite {self.name} has no problem {name!r}; its problems: "
                        + ", ".join(p.name for p in self.problems))

    def only(self, names: list[str] | None) -> Suite:
        """The suite cut to the named problems (--problems), in the suite's order."""
        if not names:
            return self
        listed_once(names)
        keep = {self.problem(n).name for n in names}
        return replace(self, problems=tuple(p for p in self.problems if p.name in keep))

    def uncalibrated(self) -> list[str]:
        return [p.name for p in self.problems if p.target is None]


def listed_once(names: typing.Sequence[str]) -> None:
    """--problems names each problem once (as --opts does each optimizer)."""
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise SpecError(f"--problems lists {', '.join(twice)} more than once")


def builtin_path(name: str) -> Path:
    return Path(str(resources.files("nncmp.suite") / "suites" / f"{name}.toml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """A built-in suite by name, or a suite file; SpecError naming the file and the problem for bad input."""
    text = str(name_or_path)
    if text in BUILTIN:
        return _parse(builtin_path(text), builtin=True)
    path = Path(text)
    if path.suffix != ".toml" and not path.exists():
        raise SpecError(f"unknown suite {text!r}{hint(text, BUILTIN)}: give a built-in one ({', '.join(BUILTIN)}) or "
                        "a suite file (.toml)")
    if not path.is_file():
        raise SpecError(f"suite file {path} does not exist")
    return _parse(path)


def parse_file(path: Path, builtin: bool = False, relative_to: Path | None = None) -> Suite:
    """The suite in `path`; its relative paths (users' files, extends) read against `relative_to` (default:
    the file's folder; a suite folder's copy: the folder of the file it was copied from)."""
    return _parse(path, builtin, relative_to)


def _parse(path: Path, builtin: bool = False, relative_to: Path | None = None, chain: tuple[Path, ...] = ()) -> Suite:
    """`chain`: the files that extend this one, so that a cycle of `extends` is refused, not recursed into."""
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read it ({e})") from None
    head = doc.get("suite", {})
    if not isinstance(head, dict):
        raise SpecError(f"{path}: [suite] must be a table")
    problems = doc.get("problems")
    if not isinstance(problems, dict) or not problems:
        raise SpecError(f"{path}: no problems; add one as a table, e.g. [problems.digits-mlp] with dataset = "
                        "\"digits\"")
    unknown = set(doc) - {"suite", "problems", "calibration"}
    if unknown:
        raise SpecError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; a suite file has [suite], "
                        "[problems.NAME] and [calibration]")
    base = relative_to or path.parent
    calibration = dict(doc.get("calibration", {}))
    if "extends" in head:  # another suite's problems first; a table of the same name here overrides its keys
        parent = _parent(path, head["extends"], base, chain)
        own = problems
        problems = {p.name: _raw(p) for p in parent.problems}
        for name, table in own.items():
            problems[name] = {**problems.get(name, {}), **table} if isinstance(table, dict) else table
        calibration = {**parent.calibration, **calibration,
                       "problems": {**parent.calibration.get("problems", {}), **calibration.get("problems", {})}}
    parsed = tuple(_problem(path, name, table, base) for name, table in problems.items())
    folders: dict[str, str] = {}
    for name in problems:  # a file system that ignores case would give two problems one folder
        if folders.setdefault(name.casefold(), name) != name:
            raise SpecError(f"{path}: problems {folders[name.casefold()]} and {name} differ only in case; each "
                            "problem's name is a folder name, and some file systems take them for one")
    return Suite(str(head.get("name", path.stem)), parsed, str(head.get("description", "")), calibration, path,
                 builtin)


def _parent(path: Path, extends: Any, base: Path, chain: tuple[Path, ...]) -> Suite:
    """The suite `extends` names: a built-in one, or a file beside this one that is not already extending it."""
    if not isinstance(extends, str) or not extends:
        raise SpecError(f"{path}: extends must name a built-in suite ({', '.join(BUILTIN)}) or a suite file, got "
                        f"{extends!r}")
    builtin = extends in BUILTIN
    parent = builtin_path(extends) if builtin else base / extends
    chain = (*chain, path.resolve())
    if parent.resolve() in chain:
        cycle = " → ".join(p.name for p in chain[chain.index(parent.resolve()):])
        raise SpecError(f"{path}: extends {extends}, which extends it again ({cycle} → {parent.name}); a suite can "
                        "extend only one that does not come back to it")
    return _parse(parent, builtin, chain=chain)


def _raw(p: Problem) -> dict[str, Any]:
    """A parsed problem as the table it came from (its settings that differ from RunSpec's defaults)."""
    spec, default = p.spec, RunSpec()
    table: dict[str, Any] = {f.name: getattr(spec, f.name) for f in fields(RunSpec)
                             if f.name in ("dataset", "model") or (f.name not in GRID_SET and
                                                                   getattr(spec, f.name) != getattr(default, f.name))}
    for key, value in table.items():  # as TOML gives them: lists and tables, checked again as any problem's
        if isinstance(value, tuple):
            table[key] = dict(value) if key in ("model_args", "data_args") else list(value)
    table.update(metric=p.metric, description=p.description)
    if p.baseline_settings:
        table["baseline_settings"] = {o: {k: list(v) if isinstance(v, tuple) else v for k, v in s}
                                      for o, s in p.baseline_settings}
    if p.target is not None:
        table["target"] = p.target
    return table


def _problem(path: Path, name: str, table: Any, base: Path) -> Problem:
    where = f"{path}: problem {name}"
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table of settings")
    _check_name(path, name)
    known = {f.name for f in fields(RunSpec)} - GRID_SET
    settings = {k: v for k, v in table.items() if k not in PROBLEM_KEYS}
    wrong = sorted(set(settings) - known)
    if wrong:
        set_by_suite = [k for k in wrong if k in GRID_SET]
        why = (f"{', '.join(set_by_suite)} {'is' if len(set_by_suite) == 1 else 'are'} the suite's to set "
               "(--opts, --seeds, --lrs)") if set_by_suite else \
            f"known settings: {', '.join(sorted(known | PROBLEM_KEYS))}"
        raise SpecError(f"{where}: unknown setting(s) {', '.join(wrong)}; {why}")
    if "dataset" not in settings:
        raise SpecError(f"{where}: needs a dataset (e.g. dataset = \"digits\")")
    _check_types(where, settings)
    for key in ("dataset", "model"):  # a user's file is found beside the suite file
        if isinstance(settings.get(key), str):
            settings[key] = _beside(settings[key], base)
    if isinstance(settings.get("hidden"), list):
        settings["hidden"] = tuple(settings["hidden"])
    for key, what in (("model_args", "model"), ("data_args", "dataset")):  # a TOML table: { d_model = 64 }
        if key in settings and not isinstance(settings[key], dict):
            raise SpecError(f"{where}: {key} must be a table of the {what}'s arguments, e.g. {key} = "
                            f"{{ {'d_model = 64' if key == 'model_args' else 'p = 31'} }}, got {settings[key]!r}")
        if key in settings:
            settings[key] = tuple(sorted(settings[key].items()))
    if "steps" in settings and "epochs" in settings:
        raise SpecError(f"{where}: give its budget as epochs or as steps, not both")
    metric = table.get("metric", "val_acc")
    if metric not in METRICS:
        raise SpecError(f"{where}: metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not isinstance(table.get("description", ""), str):
        raise SpecError(f"{where}: description must be text, got {table['description']!r}")
    target = table.get("target")
    if target is not None and (not isinstance(target, int | float) or isinstance(target, bool)
                               or not math.isfinite(target)):
        raise SpecError(f"{where}: target must be a number, got {target!r}")
    if target is not None and metric == "val_acc" and not 0 < target <= 1:
        raise SpecError(f"{where}: target {target:g} is not a val accuracy in (0, 1]")
    try:
        spec = RunSpec(**settings)
    except (SpecError, TypeError, ValueError) as e:
        raise SpecError(f"{where}: {e}") from None
    baselines = _baseline_settings(where, spec, table.get("baseline_settings", {}))
    return Problem(name, spec, None if target is None else float(target), metric, str(table.get("description", "")),
                   baselines)


def _check_name(path: Path, name: str) -> None:
    where = f"{path}: problem {name!r}"
    if not name:
        raise SpecError(f"{path}: a problem has an empty name ([problems.\"\"]); its name is its results' folder")
    if len(name) > NAME_LIMIT:
        raise SpecError(f"{path}: problem {name[:20]!r}… has a name of {len(name)} characters; its name is its "
                        f"results' folder, at most {NAME_LIMIT}")
    if not name.isprintable() or "/" in name or "\\" in name or name.startswith("."):
        raise SpecError(f"{where}: its name is its results' folder: it cannot hold '/', '\\' or control "
                        "characters, or start with '.'")
    if name.casefold() in RESERVED or Path(name).suffix.lower() in (".png", ".gif"):
        raise SpecError(f"{where}: its name is its results' folder, beside the suite's own files ({schema.CONFIG}, "
                        f"{schema.SUITE_TIMES}, {schema.SUITE_TABLE}, figures, …); name it otherwise")


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # to Python, true is the number 1


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _wanted(hint_: Any) -> tuple[str, typing.Callable[[Any], bool]]:
    """What a TOML value of a RunSpec field of type `hint_` must be (as words) and the test of it; TOML gives
    int, float, bool, str, lists and tables, so a value of the wrong kind is known before any check of it."""
    args = [a for a in typing.get_args(hint_) if a is not type(None)]
    if typing.get_origin(hint_) in (typing.Union, types.UnionType) and len(args) == 1:  # X | None: None is "left out"
        hint_ = args[0]
    simple = {bool: ("true or false", lambda v: isinstance(v, bool)), int: ("a whole number", _whole),
              float: ("a number", _number), str: ("text", lambda v: isinstance(v, str))}
    if hint_ in simple:
        return simple[hint_]
    items = typing.get_args(hint_)
    if typing.get_origin(hint_) is tuple and items and typing.get_origin(items[0]) is tuple:  # key-value pairs
        return "a table", lambda v: isinstance(v, dict)
    if typing.get_origin(hint_) is tuple and items[-1] is Ellipsis:
        what, ok = simple[items[0]]
        return f"a list of {'whole numbers' if items[0] is int else what}", \
            lambda v: isinstance(v, list) and all(ok(x) for x in v)
    if typing.get_origin(hint_) is tuple:
        return f"a list of {len(items)} numbers", lambda v: isinstance(v, list) and len(v) == len(items) and all(
            _number(x) for x in v)
    return "a value", lambda v: True


def _check_types(where: str, settings: dict[str, Any]) -> None:
    """Each setting of the kind its RunSpec field holds (epochs = "two" is refused here, by name, and not by a
    comparison deep in a check)."""
    hints = typing.get_type_hints(RunSpec)
    for key, value in settings.items():
        if key in ("model_args", "data_args"):  # said with an example where they are read
            continue
        what, ok = _wanted(hints[key])
        if not ok(value):
            raise SpecError(f"{where}: {key} must be {what}, got {value!r}")


def _baseline_settings(where: str, spec: RunSpec, given: Any) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """baseline_settings = { adamw = { weight_decay = 1.0 } }, checked as the baseline's runs would be."""
    if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
        raise SpecError(f"{where}: baseline_settings must be a table of tables, one per baseline optimizer, e.g. "
                        f"baseline_settings = {{ adamw = {{ weight_decay = 1.0 }} }}, got {given!r}")
    allowed = set(hp.optimizer_settings()) - {"lr"}
    out = []
    for optimizer, settings in given.items():
        wrong = sorted(set(settings) - allowed)
        if wrong:
            why = "--calibrate tunes the rate" if wrong == ["lr"] else \
                f"an optimizer's settings are {', '.join(sorted(allowed))}"
            raise SpecError(f"{where}: baseline_settings.{optimizer}: {', '.join(wrong)} cannot be set here ({why})")
        _check_types(f"{where}: baseline_settings.{optimizer}", settings)
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        try:
            name = replace(spec, optimizer=optimizer, **values).optimizer
        except (SpecError, TypeError, ValueError) as e:
            raise SpecError(f"{where}: baseline_settings.{optimizer}: {e}") from None
        out.append((name, tuple(sorted(values.items()))))
    return tuple(sorted(out))


def _beside(ref: str, base: Path) -> str:
    """A relative path of a user's file (data.npz, net.py:Net) read against the suite file's folder."""
    file, sep, rest = ref.partition(":") if ".py:" in ref else (ref, "", "")
    if file.endswith((".py", ".npz", ".csv")) and not Path(file).is_absolute() and (base / file).exists():
        return str((base / file).resolve()) + sep + rest
    return ref


def write_targets(path: Path, targets: dict[str, float], calibration: dict[str, Any]) -> None:
    """Write calibrated targets into a suite file, keeping its comments and layout (tomlkit round-trips it)."""
    import tomlkit

    doc = tomlkit.parse(path.read_text())
    for name, value in targets.items():
        if name not in doc["problems"]:  # inherited (extends): its target set here overrides the parent's
            doc["problems"][name] = tomlkit.table()
        doc["problems"][name]["target"] = float(f"{value:.4g}")
    table = tomlkit.table()
    for key, value in calibration.items():
        table[key] = value
    doc["calibration"] = table
    from nncmp.results.store import atomic_write_text

    atomic_write_text(path, tomlkit.dumps(doc))
