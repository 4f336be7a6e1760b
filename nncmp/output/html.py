"""`nncmp report DIR --format html`: one self-contained HTML file for any results folder.

No external scripts, styles, fonts or images: figures are inlined as PNG data URIs, the style is inline,
and a few lines of inline script sort the tables by a clicked column (the page reads fine without it).
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output import terminal as report
from nncmp.results import schema, store
from nncmp.results.summary import summarize_folder

if TYPE_CHECKING:
    import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; cursor: pointer; } td:nth-child(-n+3) { text-align: left; }
caption { caption-side: bottom; text-align: left; font-size: 0.85em; color: #555; padding-top: 0.4em;
          white-space: normal; max-width: 100em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.scroll { overflow-x: auto; } .failed { color: #a00; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""

# Sort a table by a clicked header: numbers by value (the leading number of "0.93 ± 0.01"), text otherwise.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute("data-order") !== "up";
      function key(row) { var t = row.cells[col].textContent.trim(), n = parseFloat(t);
                          return isNaN(n) ? t : n; }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
      rows.forEach(function (r) { body.appendChild(r); });
      th.setAttribute("data-order", up ? "up" : "down");
    });
  });
});
document.body.setAttribute("data-sortable", "ready");
"""


def table(headers: list[str], rows: list[list[Any]], caption: str = "", css: str = "sortable",
          inline: bool = False) -> str:
    """An escaped HTML table. `inline`: its few styles on the elements, for a page without the report's
    stylesheet (a notebook cell)."""
    style = INLINE if inline else {}
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption and not inline else ""
    # A caption inside a table is as wide as the table and would scroll out of sight with it: inline, it
    # is a paragraph under the table that wraps to the cell's width.
    under = f"<div{style['under']}>{html.escape(caption)}</div>" if caption and inline else ""
    # Wide tables scroll sideways inside the page instead of widening it.
    return (f'<div class="scroll"{style.get("div", "")}><table class="{css}"{style.get("table", "")}>{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{under}")


# STYLE's rules that matter in a notebook, as attributes: the table scrolls instead of wrapping its cells
# (white-space is inherited by every cell), the caption wraps under it.
INLINE = {"div": ' style="overflow-x: auto; max-width: 100%"', "table": ' style="white-space: nowrap"',
          "under": ' style="font-size: 0.9em; margin-top: 0.3em"'}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def frame_table(frame: pd.DataFrame, caption: str = "", limit: int = 500) -> str:
    rows = frame.head(limit).to_dict("records")
    note = f" (first {limit} of {len(frame)} rows)" if len(frame) > limit else ""
    return table(list(frame.columns), [list(r.values()) for r in rows], caption + note)


def summary_table(summary: pd.DataFrame, metric: str, target: float | None, title: str = "Summary") -> str:
    """The ranked summary as the terminal prints it (its columns, cell texts and caption, from
    output/terminal.py), as an HTML fragment for a notebook cell: Comparison._repr_html_."""
    headers, rows = report.summary_rows(summary, metric, target)
    return (f"<div><strong>{html.escape(title)}</strong></div>"
            + table(headers, rows, report.summary_caption(summary, metric, target), css="nncmp-summary", inline=True))


def image(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def build(folder: Path, target: float | None = None, metric: str | None = None, baseline: str | None = None,
          by: tuple[str, ...] = (), x: str = "epochs") -> str:
    """The report of any nncmp results folder: what its files hold, as one HTML page."""
    folder = Path(folder)
    config = store.read_config(folder) if (folder / schema.CONFIG).is_file() else {}
    command = config.get("command", "compare")
    parts: list[str] = []
    shown: set[str] = set()
    if (folder / schema.METRICS).is_file() and command in ("compare", "train"):
        parts += _runs(folder, config, target, metric, baseline, by, x)
    for name, title in ((schema.PATHS_SUMMARY, "Paths"), (schema.BENCH, "Benchmark cases"),
                        (schema.FIGURES, "Benchmark figures")):
        if (folder / name).is_file():
            parts.append(f"<h2>{title}</h2>" + frame_table(store.read_csv(folder / name)))
    if command == "inspect" and (folder / schema.LAYERS).is_file():
        layers = store.read_csv(folder / schema.LAYERS)
        wide = layers.pivot_table(index=["init", "layer"], columns="statistic", values="value", sort=False)
        parts.append("<h2>Layers at initialisation</h2>" + frame_table(wide.reset_index()))
    figures = [p for p in sorted(folder.glob("*.png")) if p.name not in shown and not p.name.startswith("curves_")
               and p.name not in ("final_val_acc.png", "final_val_loss.png", "layers_tracks.png")]
    if figures:
        parts.append("<h2>Figures</h2>" + "".join(image(p, p.stem.replace("_", " ")) for p in figures))
    if (folder / schema.LANDSCAPE_JSON).is_file():
        parts.append("<h2>Landscape</h2><pre>" + html.escape((folder / schema.LANDSCAPE_JSON).read_text()) + "</pre>")
    parts.append(_about(config))
    title = f"nncmp {command}: {folder.name}"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>" + "".join(parts)
            + f"<script>{SCRIPT}</script></body></html>\n")


def _runs(folder: Path, config: dict[str, Any], target: float | None, metric: str | None, baseline: str | None,
          by: tuple[str, ...], x: str) -> list[str]:
    """compare and train folders: the ranked summary, pivots, figures, tuning, layers, run status."""
    from nncmp.output.plots import curves, final_bars, layer_tracks

    metrics, summary, metric = summarize_folder(folder, target, metric, baseline)
    headers, rows = report.summary_rows(summary, metric, target)
    parts = ["<h2>Summary</h2>" + table(headers, rows, report.summary_caption(summary, metric, target))]
    for factor in by:
        wide = report.pivot(summary, factor, metric)
        headers, rows = report.pivot_rows(wide, list(dict.fromkeys(summary[factor])))
        parts.append(f"<h2>{html.escape(metric)} by {html.escape(factor)}</h2>" + table(headers, rows))
    with tempfile.TemporaryDirectory(prefix="nncmp-html-") as tmp:
        figures = [Path(tmp) / f"curves_{x}.png"]
        curves(metrics, summary, figures[0], x)
        if len(summary) > 1:
            figures.append(Path(tmp) / f"{metric}.png")
            final_bars(summary, metric if f"{metric}_mean" in summary.columns else "final_val_acc", figures[-1])
        if (folder / schema.LAYERS).is_file():
            frame = store.read_csv(folder / schema.LAYERS)
            if "epoch" in frame.columns and not frame.empty:
                figures.append(Path(tmp) / "layers_tracks.png")
                layer_tracks(frame, figures[-1])
        parts.append("<h2>Curves and final values</h2>" + "".join(image(p, p.stem.replace("_", " "))
                                                                   for p in figures))
    if (folder / schema.TRANSFER).is_file():  # --widths with --lrs
        from nncmp.results.transfer import verdicts

        table_ = store.read_csv(folder / schema.TRANSFER, text=("series", "opt_args", "hyper", "model_args"))
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in verdicts(table_))
        axis = html.escape(str(table_["axis"].iloc[0])) if "axis" in table_.columns and len(table_) else "width"
        caption = ("One row per series and width (or depth): the rate whose mean over seeds is best, the range of "
                   "each seed's own best, the slope of log2(best rate) against log2(width or depth) and the ratio of "
                   "the best rates at the smallest and largest sizes. The figure is transfer.png below.")
        parts.append(f"<h2>Learning-rate transfer across {axis} ({html.escape(metric)})</h2><ul>{lines}</ul>"
                     + frame_table(table_, caption))
    from nncmp.output import tuning as tuned

    budgets = tuned.rows(folder)
    if budgets is not None:  # --tune: what each budget buys, the checklist, the figures
        headers, rows, caption = budgets
        doc = json.loads((folder / schema.TUNING_JSON).read_text())
        checklist = "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in tuned.checklist_lines(doc)) + "</ul>"
        with tempfile.TemporaryDirectory(prefix="nncmp-html-") as tmp:
            from nncmp.output.tuning_plots import write_figures

            names = write_figures(folder, Path(tmp))
            figures = "".join(image(Path(tmp) / n, Path(n).stem) for n in names)
        parts.append("<h2>Tuning: what each budget buys</h2>" + table(headers, rows, caption)
                     + "<h3>Reporting checklist</h3>" + checklist + figures)
    if (folder / schema.TUNING).is_file():
        tuning = store.read_tuning(folder / schema.TUNING)
        title = "Trials" if budgets is not None else "Learning-rate tuning"
        parts.append(f"<h2>{title}</h2>" + frame_table(
            tuning, "One row per trial (kind default: the optimizer's defaults, once, outside the budget); "
                    "study_best: the best trial of its study; chosen: the configuration reported as tuned; "
                    "at_edge: its rate at the edge of the searched range."))
    if (folder / schema.RUNS).is_file():
        runs = store.read_csv(folder / schema.RUNS)
        bad = runs[runs["status"] != "ok"]
        note = "every run finished ok" if bad.empty else f"{len(bad)} of {len(runs)} runs did not finish ok"
        parts.append(f"<h2>Run status</h2><p>{note}.</p>"
                     + ("" if bad.empty else frame_table(bad.fillna(""))))
    return parts


def _about(config: dict[str, Any]) -> str:
    """What was run and on what: the environment and the whole config.json."""
    env = dict(config.get("environment") or {})
    options = config.get("options") or {}
    env["device"] = config.get("device") or options.get("device") or "cpu"
    rows = [[k, v] for k, v in env.items()]
    return ("<h2>Environment</h2>" + table(["", ""], rows, css="plain")
            + "<h2>Configuration</h2><details><summary>config.json</summary><pre>"
            + html.escape(json.dumps(config, indent=2, default=str)) + "</pre></details>")
