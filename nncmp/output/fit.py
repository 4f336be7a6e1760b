"""Tables that fit the terminal: whole columns left out by priority, never a number or a name cut short.

Given a table too wide for the console, Rich narrows every column and cuts what no longer fits with '…'
(`0.93… ± 0.00…`, `xav…`). A results table must not: a Fitted table chooses its columns when it is printed,
for the width it is printed at. It keeps the columns that say what a row is and the one it is ranked by;
it leaves out the others in the order the caller gives (moving a column whose every cell is the same into
the caption, where nothing is lost), and lets headers (then text cells, then as a last resort every cell)
wrap at spaces. The caption says what was left out and how to see everything. With `wide` it shows every
column at its natural width and leaves the lines as long as they are (the caller prints them uncropped).

Rich has no "drop a column" rule, hence the choice here; the widths handed to Rich are computed with its
own measure of a string's width (rich.cells.cell_len), and every cell is Text, so no bracket in a value or
caption ('[min–max]', a user's '[x]') is ever read as Rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

WIDE_HINT = "--wide shows every column"


def plain(text: str | None, style: str = "") -> Text | None:
    """Text shown as it is: a str given to Rich is read as markup, and '[min–max]' would vanish."""
    return None if text is None else Text(text, style=style)


@dataclass(eq=False)  # a column is itself: equal headers and cells do not make two columns one
class Column:
    header: str
    cells: list[str]
    justify: str = "right"
    drop: int | None = None  # the order it is left out in when the table is too wide (lowest first); None: never
    wrap: bool = False  # text whose cells may wrap at spaces before any column must; numbers stay on one line
    # Shorter cells and header, used when leaving out every column that may go is not enough; the legend says
    # what they stand for in the caption.
    short: list[str] | None = None
    short_header: str | None = None
    legend: str = ""

    @property
    def has_short(self) -> bool:
        return self.short is not None or self.short_header is not None

    def shortened(self) -> Column:
        if not self.has_short:
            return self
        return replace(self, cells=self.short or self.cells, header=self.short_header or self.header, short=None,
                       short_header=None)


def _words(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


@dataclass
class _Measure:
    whole: int  # every cell on one line, the header wrapped at spaces
    words: int  # text cells wrapped at spaces too
    every: int  # every cell wrapped at spaces
    natural: int  # nothing wrapped

    @classmethod
    def of(cls, column: Column) -> _Measure:
        head = _words(column.header)
        whole = max([cell_len(c) for c in column.cells] + [head, 1])
        every = max([_words(c) for c in column.cells] + [head, 1])
        return cls(whole, every if column.wrap else whole, every, max(whole, cell_len(column.header)))


# Rich's default box draws a border before every column and after the last; its default padding is one space
# either side of each cell.
def _room(width: int, columns: int) -> int:
    return width - 3 * columns - 1


LEVELS = ("whole", "words", "every")  # cells whole; text cells wrapped at spaces; every cell wrapped at spaces


def widths(columns: Sequence[Column], width: int, loosest: str = "every") -> list[int] | None:
    """Content widths of `columns` within `width` characters, cells whole if they can be (else text cells,
    else every cell, wrapped at spaces: no looser than `loosest`); the space left widens the columns whose
    headers wrap, the least short first. None: not even that fits."""
    measures = [_Measure.of(c) for c in columns]
    level = level_of(measures, width, loosest)
    if level is None:
        return None
    got = [getattr(m, level) for m in measures]
    spare = _room(width, len(columns)) - sum(got)
    for goal in ("whole", "natural"):
        want = [getattr(m, goal) for m in measures]
        for i in sorted(range(len(got)), key=lambda i: want[i] - got[i]):
            more = min(spare, max(0, want[i] - got[i]))
            got[i] += more
            spare -= more
    return got


def level_of(measures: Sequence[_Measure], width: int, loosest: str = "every") -> str | None:
    """The tightest level (LEVELS) at which columns of these measures fit `width`, up to `loosest`."""
    room = _room(width, len(measures))
    return next((level for level in LEVELS[:LEVELS.index(loosest) + 1]
                 if sum(getattr(m, level) for m in measures) <= room), None)


def choose(columns: Sequence[Column], width: int) -> tuple[list[Column], list[Column], bool]:
    """The columns shown at `width`, those left out, and whether the short cells are used. Columns are left
    out in `drop` order until the rest fits with whole cells; if leaving out all that may go is not enough,
    again with the short cells; then with text cells wrapped, then every cell. Then the most important of
    those left out are taken back where they fit without wrapping anything more."""
    def level(cols: list[Column], loosest: str) -> int | None:
        got = level_of([_Measure.of(c) for c in cols], width, loosest)
        return None if got is None else LEVELS.index(got)

    for loosest in LEVELS:
        for short in (False, True):
            every = [c.shortened() if short else c for c in columns]
            order = sorted((c for c in every if c.drop is not None), key=lambda c: c.drop or 0)
            shown, left = list(every), []
            for column in order:
                if level(shown, loosest) is not None:
                    break
                shown.remove(column)
                left.append(column)
            reached = level(shown, loosest)
            if reached is None:
                continue
            for column in reversed(list(left)):
                trial = [c for c in every if c in shown or c is column]
                got = level(trial, loosest)
                if got is not None and got <= reached:
                    shown = trial
                    left.remove(column)
            return shown, left, short and any(c.has_short for c in columns)
    # Not even one word a line fits (a terminal of a few columns): what must stay, folded by Rich.
    return [c.shortened() for c in columns if c.drop is None], [c for c in columns if c.drop is not None], True


@dataclass
class Fitted:
    """A Rich renderable: the table as it fits the console it is printed on (see the module's docstring)."""

    title: str
    columns: list[Column]
    caption: str = ""
    wide: bool = False
    hint: str = WIDE_HINT  # how to see what was left out
    title_justify: str = "center"
    footer: str = ""  # lines after the caption and its notes

    def table(self, width: int | None) -> Table:
        """The Rich Table at `width` columns (None: every column, at its natural width)."""
        if width is None or self.wide:
            shown, left, sizes, legends = self.columns, [], [None] * len(self.columns), []
        else:
            shown, left, short = choose(self.columns, width)
            got = widths(shown, width)
            sizes = list(got) if got is not None else [None] * len(shown)
            legends = [c.legend for c in self.columns if short and c.has_short and c.legend]
        caption = " ".join([self.caption, *legends, *_notes(left, width, self.hint)]).strip()
        caption = "\n".join(part for part in (caption, self.footer) if part)
        table = Table(title=plain(self.title, "table.title"), title_justify=self.title_justify,
                      caption=plain(caption, "table.caption") if caption else None, caption_justify="left")
        for column, size in zip(shown, sizes):
            # fold, not '…': should a word be longer than its column after all, it breaks but stays whole.
            table.add_column(plain(column.header), justify=column.justify, width=size,
                             overflow="fold")
        for i in range(max((len(c.cells) for c in self.columns), default=0)):
            table.add_row(*(Text(c.cells[i]) for c in shown))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.wide:
            yield self.table(options.max_width)
            return
        table = self.table(None)
        caption, table.caption = table.caption, None
        natural = sum(_Measure.of(c).natural for c in self.columns) + 3 * len(self.columns) + 1
        yield from console.render(table, options.update_width(max(natural, options.max_width)))
        if caption:  # the caption at the console's width, however wide the table
            yield caption


def _notes(left: list[Column], width: int | None, hint: str) -> list[str]:
    same = [c for c in left if len(set(c.cells)) <= 1]
    gone = [c for c in left if c not in same]
    notes = []
    if same:
        notes.append("The same in every row: " + "; ".join(f"{c.header} {c.cells[0] if c.cells else ''}".strip()
                                                           for c in same) + ".")
    if gone:
        notes.append(f"Left out to fit {width} columns ({hint}): " + "; ".join(c.header for c in gone) + ".")
    return notes
