"""Checking a results CSV before anything trusts it: a line cut short (a file truncated by a copy, a disk or a
hand that failed: nncmp's own writes are atomic), a row with too few or too many values, a value that is not what
its column holds (schema's *_KINDS), and in a metrics file a run whose rows are not whole — not together, epochs
not 0, 1, 2, …, its status changing, ending before its last round without diverging, or not matching its
completion record in runs.csv (its row count and checksum).

Pure: a file's text in; its intact rows, what is wrong (with the line) and each intact run's record out.
results/store.py reads the files and decides, per file and command, whether to refuse or to leave out.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nncmp.results.schema import DIVERGED, FLAG, INTEGER, NUMBER

Record = tuple[int, str]  # a run's completion record: (its rows, their checksum)
CUT_HEADER = "cut short in its header line"


@dataclass(frozen=True)
class Problem:
    line: int  # where in the file (1: the header)
    what: str
    run: str | None = None  # the run (metrics files) whose rows it spoils


@dataclass
class Row:
    line: int  # the line it starts on
    fields: list[str]
    text: str  # as written, with its newline: what a checksum covers


@dataclass
class Checked:
    """A results file as checked: its header, the rows kept, and what was wrong with the others."""

    header: list[str]
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # metrics files: run id → its rows left out
    records: dict[str, Record] = field(default_factory=dict)  # metrics files: each intact run's record
    cut_header: bool = False  # the file ends inside its header line: nothing in it can be read

    def text(self) -> str:
        """The kept rows as a CSV file (to read with pandas)."""
        return ",".join(_quoted(h) for h in self.header) + "\n" + "".join(r.text for r in self.rows)


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c in name for c in ',"\n') else name


def _lines(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def split(text: str) -> tuple[list[str] | None, list[Row], Problem | None]:
    """The header (None: the file ends inside it), every row as written, and the problem of a last line cut short
    (the file does not end with a newline, so its last row lost something: its row is not among the rows)."""
    lines = list(_lines(text))
    reader = csv.reader(iter(lines), strict=True)
    rows: list[Row] = []
    header = None
    cut = None
    done = 0  # lines consumed
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            # A broken quote or a NUL byte: the rest of the file cannot be split into rows reliably, and the run
            # before may have lost rows there.
            run = rows[-1].fields[0] if rows and rows[-1].fields and header[:1] == ["run_id"] else None
            return header, rows, Problem(done + 1, f"not readable as CSV from here ({e})", run)
        start, done = done + 1, reader.line_num
        chunk = "".join(lines[start - 1:done])
        if header is None:
            if not chunk.endswith("\n"):
                return None, [], Problem(1, CUT_HEADER)
            header = fields
            continue
        row = Row(start, fields, chunk)
        if not chunk.endswith("\n"):
            cut = row
            break
        rows.append(row)
    if cut is not None:
        run = _run_of(cut, rows) if header[:1] == ["run_id"] else None
        return header, rows, Problem(cut.line, "cut short (the file ends in this line)", run)
    return header, rows, None


def _run_of(cut: Row, rows: list[Row]) -> str | None:
    """The run a cut line belonged to: its first value if it got past it, else the run before if the cut value
    is the start of that run's id (its next row)."""
    if len(cut.fields) > 1:
        return cut.fields[0]
    if rows and cut.fields and rows[-1].fields and rows[-1].fields[0].startswith(cut.fields[0]):
        return rows[-1].fields[0]
    return None


def check(text: str, kinds: dict[str, Any], required: tuple[str, ...] = ()) -> Checked:
    """Every row of a results file whose values fit their columns; the others as problems."""
    header, rows, cut = split(text)
    if header is None:  # empty, or cut inside its header: no row can be read (or the header is not CSV)
        return Checked([], problems=[cut] if cut else [], cut_header=cut is None or cut.what == CUT_HEADER)
    out = Checked(header, problems=[cut] if cut else [])
    where = {name: i for i, name in enumerate(header)}
    runs = header[:1] == ["run_id"]  # a metrics file: a damaged row spoils its run
    checks = [(where[c], c, kind, c in required) for c, kind in kinds.items() if c in where]
    checks += [(where[c], c, None, True) for c in required if c in where and c not in kinds]
    for row in rows:
        problem = _bad(row, len(header), checks)
        if problem:
            out.problems.append(Problem(row.line, problem, row.fields[0] if runs and row.fields else None))
        else:
            out.rows.append(row)
    return out


def _bad(row: Row, width: int, checks: list[tuple[int, str, Any, bool]]) -> str | None:
    if len(row.fields) != width:
        return f"{len(row.fields)} values where the header names {width}"
    for i, column, kind, required in checks:
        value = row.fields[i]
        if value == "":
            if required:
                return f"no {column}"
            continue
        if kind in (INTEGER, NUMBER):
            try:
                number = float(value)
            except ValueError:
                return f"{column} is {value!r}, not a number"
            if kind == INTEGER and not (math.isfinite(number) and number == int(number)):
                return f"{column} is {value!r}, not a whole number"
        elif kind == FLAG and value not in ("True", "False"):
            return f"{column} is {value!r}, not True or False"
        elif isinstance(kind, tuple) and value not in kind:
            return f"{column} is {value!r}, not one of {', '.join(kind)}"
    return None


def checksum(rows: list[Row]) -> str:
    """A run's rows as written, hashed (16 hex digits of SHA-256): any change to them changes it."""
    digest = hashlib.sha256()
    for r in rows:
        digest.update(r.text.encode())
    return digest.hexdigest()[:16]


def records_of(text: str) -> dict[str, Record]:
    """Each run's completion record in the text of a metrics file as written (rows grouped by their run id)."""
    if '"' not in text and "\r" not in text:  # one row per line (nothing quoted): the same records, 3× faster
        lines = text.split("\n")[1:-1]  # the header; the last line is empty, or cut short (not a row)
        by_run: dict[str, list[str]] = {}
        for line in lines:
            by_run.setdefault(line[:line.find(",")], []).append(line)
        return {run: (len(mine), checksum([Row(0, [], line + "\n") for line in mine])) for run, mine in by_run.items()}
    _, rows, _ = split(text)
    return {run: (len(mine), checksum(mine)) for run, mine in _by_run(rows).items()}


def _by_run(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r.fields[0], []).append(r)
    return out


def check_runs(checked: Checked, rounds: int | None = None, records: dict[str, Record] | None = None) -> Checked:
    """A checked metrics file with every run that is not whole left out (all of its rows), said in `problems`.

    A run is whole when none of its rows is damaged, they are together, its epochs run 0, 1, 2, … with one status,
    and — by its completion record in runs.csv (`records`, for files in the current layout) when it has one, else
    by `rounds` (the evaluations after epoch 0 a run makes; None: not known) — it has every row: it reached its
    last round, or stopped where its loss stopped being finite (diverged)."""
    col = {name: i for i, name in enumerate(checked.header)}
    spoilt = {p.run: p for p in checked.problems if p.run is not None}
    groups = _by_run(checked.rows)
    kept: list[Row] = []
    for run, rows in groups.items():
        problem = spoilt.get(run) or _whole(run, rows, col, rounds, (records or {}).get(run))
        if problem is None:
            kept += rows
            checked.records[run] = (len(rows), checksum(rows))
            continue
        checked.left_out[run] = len(rows)
        if run not in spoilt:
            checked.problems.append(problem)
    for run in spoilt:
        checked.left_out.setdefault(run, 0)
    checked.problems.sort(key=lambda p: p.line)
    checked.rows = kept
    return checked


def _whole(run: str, rows: list[Row], col: dict[str, int], rounds: int | None, record: Record | None
           ) -> Problem | None:
    first = rows[0].line
    if any(b.line != a.line + a.text.count("\n") for a, b in zip(rows, rows[1:])):
        return Problem(first, "its rows are not together in the file", run)
    value = lambda r, c: r.fields[col[c]] if c in col else ""  # noqa: E731
    epochs = [value(r, "epoch") for r in rows]
    if [float(e) for e in epochs] != list(range(len(rows))):
        return Problem(first, f"its epochs are {', '.join(epochs)}, not 0, 1, 2, …", run)
    for c in ("status", "config", "seed"):
        if len({value(r, c) for r in rows}) > 1:
            return Problem(first, f"its {c} changes between its rows", run)
    if "config" in col and "seed" in col and run != f"{value(rows[0], 'config')}/seed={value(rows[0], 'seed')}":
        return Problem(first, "its run id is not its config and seed", run)
    last = rows[-1]
    if record is not None:
        if record[0] != len(rows):
            return Problem(first, f"it has {len(rows)} rows where runs.csv records {record[0]}", run)
        if record[1] != checksum(rows):
            return Problem(first, "its rows are not as written (their checksum is not the one runs.csv records)",
                           run)
        return None
    if rounds is None or len(rows) == rounds + 1:
        return None
    losses = [value(last, c) for c in ("train_loss", "val_loss")]
    if value(last, "status") == DIVERGED and any(v == "" or not math.isfinite(float(v)) for v in losses):
        return None
    return Problem(last.line, f"it ends at epoch {len(rows) - 1} of {rounds}", run)
