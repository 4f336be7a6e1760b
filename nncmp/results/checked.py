"""A results folder's tables read back checked (verify.py finds what is wrong), and what each reader keeps.

Whatever the file, a damaged row is never taken as a result: a line cut short, a row with too few or too many
values, or a value that is not what its column holds is named with its file and line. What is kept:

- metrics.csv: whole runs only. A run with one damaged row, or that is not whole (its epochs, its completion
  record in runs.csv), is left out entirely. `report` shows the other runs with a warning naming the lines (each
  run's records stand alone: the table's n says how many seeds are left); every other reader refuses (a summary,
  export or verdict made of part of the runs would pass for the whole); a resume trains the left-out runs again.
- runs.csv: where each run stands, and its completion record; the lines that are damaged are named, and the runs
  whose record is lost there are checked by their rows alone (report) or trained again (resume).
- tuning.csv (and budget.csv, tuning.json beside it): all or nothing. Which trial was chosen, and what each budget
  buys, depend on every row, so a damaged or inconsistent table is refused; a resume rebuilds the three from the
  trials' records in tuning_metrics.csv, training only the trials missing there.
- tuning_metrics.csv: as metrics.csv on a resume (whole trials only; the others train again).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.budget import rounds
from nncmp.config.run import RunSpec
from nncmp.errors import StoreError
from nncmp.results import schema, verify

if TYPE_CHECKING:
    import pandas as pd

SHOWN = 3  # problems named one by one; the rest counted


def read(path: Path, kinds: dict[str, Any], required: tuple[str, ...] = (), columns: list[str] | tuple[str, ...] = ()
         ) -> verify.Checked:
    """A results file checked; StoreError if it is missing, not text, not CSV at all, or lacks `columns`."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except OSError as e:
        raise StoreError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise StoreError(f"{path}: not a readable CSV (not UTF-8 text)") from None
    checked = verify.check(text, kinds, required)
    if not checked.header and not checked.cut_header:
        raise StoreError(f"{path}: not a readable CSV ({checked.problems[0].what})")
    missing = [c for c in columns if c not in checked.header]
    if checked.header and missing:
        raise StoreError(f"{path}: not an nncmp file (missing columns: {', '.join(missing)})")
    return checked


def frame(checked: verify.Checked, columns: list[str], text: tuple[str, ...] = (), **options: Any) -> pd.DataFrame:
    """The kept rows as a table (the columns alone for a file cut inside its header); `options`: pandas'."""
    import pandas as pd

    if checked.cut_header:
        return pd.DataFrame(columns=columns)
    return pd.read_csv(io.StringIO(checked.text()), dtype={c: str for c in text} or None, **options)


def said(path: Path, problems: list[verify.Problem], shown: int = SHOWN) -> list[str]:
    """One line per problem (`shown` of them; the last says how many more)."""
    lines = [f"{path} line {p.line}: {p.what}" + (f" (run {p.run})" if p.run else "") for p in problems[:shown]]
    if len(problems) > shown:
        lines[-1] += f"; and {len(problems) - shown} more problem(s) in {Path(path).name}"
    return lines


def dropped(path: Path, found: verify.Checked, what: str = "run") -> list[str]:
    """A resume's lines on a metrics file's damage: where, and that the runs (trials) it spoils train again."""
    lines = said(path, found.problems)
    if lines:
        lines[-1] += (f"; no {what} can be read from it: every {what} trains again" if found.cut_header else
                      f"; {len(found.left_out)} {what}(s) dropped from it, to train again")
    return lines


def refusal(lines: list[str], remedy: str) -> StoreError:
    return StoreError("; ".join(lines) + f"; {remedy}")


def _config(folder: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads((Path(folder) / schema.CONFIG).read_text())
        return doc if isinstance(doc, dict) else {}
    return {}


def rounds_of(folder: Path) -> int | None:
    """The evaluations after epoch 0 each run of the folder's comparison makes (None: no config.json says)."""
    base = _config(folder).get("base")
    if not isinstance(base, dict):
        return None
    try:
        return rounds(RunSpec(**base))
    except (TypeError, ValueError):  # a config.json from another version: the runs are checked without it
        return None


def records(path: Path, every: int | None = None, recorded: dict[str, verify.Record] | None = None
            ) -> tuple[pd.DataFrame, verify.Checked]:
    """A metrics file's whole runs, in the current layout (older folders' included), and what was left out.
    `every`: the rounds each run makes (None: not known); `recorded`: runs.csv's completion records."""
    path = Path(path)
    base = [c for c in schema.RECORD_COLUMNS if c not in schema.LATER_COLUMNS]
    checked = read(path, schema.RECORD_KINDS, schema.RECORD_REQUIRED, base)
    if checked.header != schema.RECORD_COLUMNS:
        recorded = None  # an older layout: written before runs.csv recorded runs
    verify.check_runs(checked, every, recorded)
    table = frame(checked, schema.RECORD_COLUMNS, schema.TEXT_COLUMNS)
    old = not all(c in table.columns for c in schema.LATER_COLUMNS)
    return schema.upgrade_records(table, _config(path.parent) if old else {}), checked


def whole_runs(path: Path, every: int | None, note: Callable[[str], None], what: str = "run"
               ) -> dict[str, list[dict[str, Any]]]:
    """A resume's records of a metrics file (tuning_metrics.csv) by run id: its whole runs (of `every` rounds),
    the damaged ones said to `note`, to train again ({}: no file)."""
    if not Path(path).exists():
        return {}
    table, found = records(path, every)
    for line in dropped(path, found, what):
        note(line)
    return {run_id: rows.to_dict("records") for run_id, rows in table.groupby("run_id", sort=False)}


def run_records(folder: Path) -> tuple[dict[str, verify.Record] | None, list[str]]:
    """runs.csv's completion records of the finished runs (None: no runs.csv, or one from before them), and its
    problems as lines."""
    path = Path(folder) / schema.RUNS
    if not path.is_file():
        return None, []
    try:
        checked = read(path, schema.RUN_KINDS, schema.RUN_REQUIRED, schema.RUN_STATUS_COLUMNS)
    except StoreError as e:
        return None, [str(e)]
    lines = said(path, checked.problems)
    if not all(c in checked.header for c in schema.RUN_RECORD_COLUMNS):
        return None, lines
    col = {name: i for i, name in enumerate(checked.header)}
    out = {}
    for row in checked.rows:
        run_id, status, rows, digest = (row.fields[col[c]] for c in ("run_id", "status", "rows", "checksum"))
        if status in schema.STATUSES and rows and digest:
            out[run_id] = (int(float(rows)), digest)
    return out, lines


def written(path: Path) -> dict[str, verify.Record]:
    """Each run's completion record in a metrics file as it is on disk ({}: no file yet)."""
    try:
        return verify.records_of(Path(path).read_bytes().decode())
    except FileNotFoundError:
        return {}


def metrics(folder: Path, warnings: list[str] | None = None) -> pd.DataFrame:
    """metrics.csv's whole runs, checked against runs.csv and the comparison's epochs. Without `warnings` any
    damage is refused (StoreError); with it, the damaged runs are left out and said there (report)."""
    folder = Path(folder)
    path = folder / schema.METRICS
    recorded, runs_said = run_records(folder)
    table, checked = records(path, rounds_of(folder), recorded)
    lines = said(path, checked.problems)
    lost = [run for run in recorded or {} if run not in checked.records and run not in checked.left_out]
    if lost and checked.header in (schema.RECORD_COLUMNS, []):  # rows cut off after a whole run, or deleted
        lines.append(f"{path}: {len(lost)} run(s) that runs.csv records as finished have no rows (e.g. {lost[0]})")
    remedy = f"nncmp resume {folder} trains the damaged runs again"
    if lines and (warnings is None or table.empty):
        raise refusal(lines, ("no run in it is whole; " if table.empty else "") + remedy)
    if warnings is not None:
        if lines:
            runs = len(checked.left_out) + len(lost)
            lines[-1] += f"; {runs} run(s) missing from this report ({remedy})"
        warnings += lines + [f"{line}; its runs are checked by their rows alone" for line in runs_said]
    return table


def tuning(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """tuning.csv as read, and what is wrong with it as lines: damaged rows, a configuration without exactly one
    chosen trial, or a number of trials other than tuning.json records (without it: than the other
    configurations have)."""
    path = Path(path)
    checked = read(path, schema.TUNING_KINDS, schema.TUNING_REQUIRED, schema.TUNING_COLUMNS)
    lines = said(path, checked.problems)
    table = schema.upgrade_tuning(frame(checked, schema.TUNING_COLUMNS, schema.TEXT_COLUMNS),
                                  (_config(path.parent).get("base") or {}).get("model"))
    if checked.cut_header or table.empty:
        return table, lines or [f"{path}: " + ("not a readable CSV (empty)" if checked.cut_header else "no trials")]
    keys = [k for k in schema.TUNED_PER if k in table.columns]
    groups = table.groupby(keys, sort=False, dropna=False)
    for key, g in groups:
        if int(g["chosen"].astype(bool).sum()) != 1:
            shown = " ".join(f"{k}={v}" for k, v in zip(keys, key) if str(v) != "")
            lines.append(f"{path}: {int(g['chosen'].astype(bool).sum())} trials chosen for {shown}, not one")
    counts = groups.size()
    expected = _trials_recorded(path.parent)
    if "kind" in table.columns and expected is not None:
        trials = int((table["kind"] == "trial").sum())
        if (trials, len(counts)) != expected:
            lines.append(f"{path}: {trials} trials of {len(counts)} configuration(s), where tuning.json records "
                         f"{expected[0]} trials of {expected[1]}")
    elif counts.nunique() > 1:
        lines.append(f"{path}: its configurations have {', '.join(map(str, sorted(set(counts))))} trials, not the "
                     "same number")
    return table, lines


def _trials_recorded(folder: Path) -> tuple[int, int] | None:
    """(trials, configurations) that tuning.json records (None: none readable)."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        doc = json.loads((Path(folder) / schema.TUNING_JSON).read_text())
        configurations = doc["configurations"]
        return sum(int(c["trials"]) for c in configurations), len(configurations)
    return None


def tuning_json_problem(folder: Path) -> str | None:
    """What is wrong with tuning.json, for a resume to rebuild it (None: it reads)."""
    path = Path(folder) / schema.TUNING_JSON
    if _trials_recorded(folder) is None:
        return f"{path}: missing or not the reporting checklist nncmp writes"
    return None


def budget(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """budget.csv as read (its key columns as tuning.csv's), and its damaged rows as lines."""
    path = Path(path)
    checked = read(path, schema.BUDGET_KINDS, schema.BUDGET_REQUIRED, ("optimizer", "n", "expected_best"))
    table = frame(checked, ["optimizer", "n", "expected_best"], schema.TEXT_COLUMNS, keep_default_na=False,
                  na_values=[""])
    lines = said(path, checked.problems)
    return schema.upgrade_tuning(table, (_config(path.parent).get("base") or {}).get("model")), lines


def finished_tuning(folder: Path, configs: dict[str, dict[str, Any]], budget_csv: bool = True
                    ) -> tuple[pd.DataFrame | None, list[str]]:
    """A finished tuning's table, and what is wrong with it or the files made from it (tuning.json, budget.csv
    when `budget_csv`), as lines — a chosen trial lacking for one of `configs` (config id → its spec's columns)
    included. A resume reuses the table only without problems; else it makes the three again from the trials."""
    path = Path(folder) / schema.TUNING
    try:
        table, problems = tuning(path)
    except StoreError as e:
        table, problems = None, [str(e)]
    if table is not None and not problems:
        keys = [k for k in schema.TUNED_PER if k in table.columns]
        chosen = {tuple(int(r[k]) if k == "batch_size" else r[k] for k in keys)
                  for r in table[table["chosen"].astype(bool)].to_dict("records")}
        lacking = [c for c, columns in configs.items() if tuple(columns[k] for k in keys) not in chosen]
        problems += [f"{path}: no trial chosen for {lacking[0]}"] if lacking else []
    if table is None or "kind" in table.columns:  # written with tuning.json (older --lrs auto folders have none)
        problems += [p for p in [tuning_json_problem(folder)] if p]
    if budget_csv:
        try:
            problems += budget(Path(folder) / schema.BUDGET)[1]
        except StoreError as e:
            problems.append(str(e))
    return table, problems
