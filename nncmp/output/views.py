"""The terminal views of the other commands' results: train's last lines, inspect's layers, the paths,
a landscape, the optimizer list, and report of any results folder (terminal.py formats the summaries
these build on)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.table import Table
from rich.text import Text

from nncmp.output.fit import Fitted, plain
from nncmp.output.terminal import epoch_line, markdown, num, render, simple_table

if TYPE_CHECKING:
    import pandas as pd


class HasMetrics(Protocol):
    metrics: pd.DataFrame


class WalkedFunction(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def minima(self) -> tuple[tuple[float, float], ...]: ...

    @property
    def min_loss(self) -> float: ...


class PathsShown(Protocol):
    summary: pd.DataFrame
    start: tuple[float, float]
    auto: bool

    @property
    def fn(self) -> WalkedFunction: ...


class LandscapeShown(Protocol):
    trajectories: pd.DataFrame
    interpolation: pd.DataFrame
    labels: dict[str, tuple[str, str]]
    seconds: float
    resolution: int
    points: int


def layer_table(init: str, stats: list[dict[str, Any]], act: str, caption: str) -> Table:
    """nncmp inspect: one row per layer of one init's network."""
    unit_stat = "dead" if any(r["dead"] is not None for r in stats) else (
        "saturated" if any(r["saturated"] is not None for r in stats) else None)
    headers = ["layer", "units", "act mean", "act std", *([unit_stat] if unit_stat else []), "grad out std",
               "grad W std", "weight std"]
    table = Table(title=plain(f"{init} ({act})" if act else init, "table.title"),
                  caption=plain(caption, "table.caption"), caption_justify="left")
    for h in headers:
        table.add_column(h, justify="right")
    for r in stats:
        cells = [f"{r['layer']}{'' if r['kind'] == 'hidden' else ' (out)'}", str(r["units"]),
                 f"{r['act_mean']:.3g}", f"{r['act_std']:.3g}"]
        if unit_stat:
            cells.append("" if r[unit_stat] is None else f"{r[unit_stat]:.1%}")
        cells += [f"{r['grad_out_std']:.3g}", f"{r['grad_w_std']:.3g}", f"{r['weight_std']:.3g}"]
        table.add_row(*cells)
    return table


def show_train(result: HasMetrics, console: Console, quiet: bool) -> None:
    """nncmp train's last lines: with --quiet its final epoch; a divergence and what to try."""
    import pandas as pd

    if not len(result.metrics):
        return
    last = {k: (None if pd.isna(v) else v) for k, v in result.metrics.iloc[-1].to_dict().items()}
    last["epoch"] = int(last["epoch"])
    if quiet:
        console.print(epoch_line(last, last["schedule"] != "constant"))
    if last["status"] == "diverged":
        step = last["diverged_step"]
        console.print(f"diverged at epoch {last['epoch']}" + (f", step {int(step)}" if step else "")
                      + ": the loss is not finite (try a smaller --lr)")


def _change(first: float, last: float) -> str:
    """A spread from the first to the last hidden layer, and the factor between them where there is one."""
    factor = f" (×{last / first:.3g})" if first else ""
    return f"{first:.3g} → {last:.3g}{factor}"


def inspect_lines(per_init: dict[str, list[dict[str, Any]]]) -> list[str]:
    """nncmp inspect: per init, how the activation and gradient spreads change from the first hidden layer
    to the last; and where every hidden layer's activations are all equal and so are its gradients (the zeros
    init), that its units cannot come apart: the symmetry problem."""
    lines = []
    for init, stats in per_init.items():
        last = -2 if len(stats) > 1 else -1
        hidden = [r for r in stats if r["kind"] == "hidden"]
        line = (f"{init}: activation std {_change(stats[0]['act_std'], stats[last]['act_std'])} and gradient std "
                f"{_change(stats[0]['grad_out_std'], stats[last]['grad_out_std'])} from the first to the last "
                "hidden layer")
        if hidden and all(r["act_std"] == 0 and r["grad_out_std"] == 0 and r["grad_w_std"] == 0 for r in hidden):
            # A std of 0 over the batch and the units: every unit computes the same value, and its output, its
            # bias and its weights get the same gradient as every other unit's of its layer.
            line += (": every unit of a hidden layer outputs the same value and gets the same gradient, so a "
                     "training step moves them alike and they stay copies of one another (the symmetry problem)")
        lines.append(line)
    return lines


def optimizer_table(rows: list[dict[str, Any]]) -> Table:
    """nncmp optimizers: one row per optimizer."""
    from nncmp.registry.optimizers import format_value

    table = Table(title=plain(f"Optimizers ({len(rows)})", "table.title"), caption_justify="left",
                  caption=plain(
        "Bare names resolve built-in → torch.optim → pytorch-optimizer; torch:NAME or pytorch-optimizer:NAME "
        "picks a library. Set a hyperparameter with --opt-arg KEY=VALUE (--momentum, --betas, --alpha, --eps and "
        "--weight-decay have options of their own). handling: see the docs, Optimizers. state B/param: the "
        "optimizer's state in bytes per parameter after one step on a tiny MLP (212 parameters; step counters "
        "included).", "table.caption"))
    for column in ("name", "source", "lr", "hyperparameters (defaults)", "handling", "state B/param", "runs here"):
        table.add_column(column, justify="right" if column in ("lr", "state B/param") else "left", overflow="fold")
    for r in rows:
        hyper = " ".join(f"{k}={format_value(v)}" for k, v in r["hyperparameters"].items())
        state = r.get("state_bytes_per_param")
        table.add_row(*(Text(c) for c in (r["name"], r["source"], f"{r['lr']:g}", hyper, ", ".join(r["handling"]),
                                            "—" if state is None else f"{state:.3g}",
                                            "yes" if r["available"] else f"no: {r['why_not']}")))
    return table


def paths_table(result: PathsShown, steps: int, tol: float) -> Table:
    """nncmp paths: where each walk got."""
    import pandas as pd

    fn, start = result.fn, result.start
    shown = [{"optimizer": r["optimizer"], "lr": f"{r['lr']:g}" + (" (tuned)" if r["tuned"] else ""),
              "final loss": f"{r['final_loss']:.4g}", "distance to minimum": f"{r['distance']:.4g}",
              f"steps to within {tol:g}": "never" if r["steps_to_tol"] is None or pd.isna(r["steps_to_tol"])
              else str(int(r["steps_to_tol"])), "status": r["status"]} for r in result.summary.to_dict("records")]
    caption = (f"{fn.name} from ({start[0]:g}, {start[1]:g}), {steps} steps; minimum loss {fn.min_loss:g} at "
               + " and ".join(f"({a:g}, {b:g})" for a, b in fn.minima)
               + (". lr tuned per optimizer: the lowest final loss of 13 rates." if result.auto else "."))
    return simple_table(f"Paths on {fn.name}", shown, caption=caption)


def landscape_table(result: LandscapeShown) -> Table:
    """nncmp landscape: where each tracked run ended on its plane, how far off it, and its line's barrier."""
    rows = []
    trajectories, interpolation = result.trajectories, result.interpolation
    for run_id, g in trajectories.groupby("run_id", sort=False):
        last = g.iloc[-1]
        line = interpolation[interpolation["run_id"] == run_id].set_index("alpha")["loss"]
        inside = line[(line.index >= 0) & (line.index <= 1)]
        rows.append({"configuration": last["config"], "end (a, b)": f"({last['a']:.3g}, {last['b']:.3g})",
                     "final loss": f"{last['loss']:.4g}",
                     "off the plane": f"{last['distance'] / max(last['travelled'], 1e-12):.0%} of its travel",
                     "barrier on the line": f"{inside.max() - max(inside.iloc[0], inside.iloc[-1]):.3g}"})
    axes = "; ".join(f"{name}: {a}, {b}" for name, (a, b) in result.labels.items())
    caption = (f"{axes}. {result.resolution}×{result.resolution} grid per panel on {result.points} training "
               f"examples in {result.seconds:.1f}s. off the plane: the final weights' distance from the plane as a "
               "share of their distance from the start; barrier: the highest loss on the straight line from the "
               "initial to the final weights above the higher of its two ends (0: no bump).")
    return simple_table("Landscape", rows, caption=caption)


TITLES = {"bench.csv": "Speed per case", "figures.csv": "Figures", "layers.csv": "Layers at initialisation",
          "paths_summary.csv": "Paths"}


def render_folder(result: Any, fmt: str, by: str | None, wide: bool = False) -> list[Fitted | Table | str]:
    """nncmp report of any folder: a comparison's summary (or its pivot; fitted to the terminal, every column
    with `wide`), and whatever else the folder holds — a bench's cases, inspect's layers, the paths' summary, a
    landscape — in `fmt`."""
    out: list[Fitted | Table | str] = []
    if result.summary is not None:
        out.append(render(result.summary, result.metric, result.target, fmt, by, result.folder, wide))
    shown = {k: v for k, v in result.tables.items() if k in TITLES}
    if fmt == "json":
        if result.summary is None:
            doc = {"results_dir": str(result.folder), "kind": result.kind,
                   "tables": {k: json.loads(v.to_json(orient="records", double_precision=15))
                              for k, v in shown.items()}}
            out.append(json.dumps(doc, indent=2) + "\n")
        return out
    if fmt == "table" and getattr(result, "transfer", None) is not None:
        out.append(transfer_text(result.transfer, result.metric))
    for name, frame in shown.items():
        rows = frame.to_dict("records")
        if fmt == "table":
            out.append(simple_table(f"{TITLES[name]} ({result.kind})", rows))
        elif fmt == "csv":
            out.append(frame.to_csv(index=False))
        elif fmt == "markdown":
            out.append(markdown(list(frame.columns), [[num(v) for v in r.values()] for r in rows]))
    if result.landscape is not None and fmt == "table" and "trajectories.csv" in result.tables:
        from types import SimpleNamespace

        doc = result.landscape
        shown_landscape = SimpleNamespace(
            trajectories=result.tables["trajectories.csv"], interpolation=result.tables["interpolation.csv"],
            labels={p["panel"]: tuple(p["axes"]) for p in doc["panels"]}, resolution=doc["resolution"],
            points=doc["points"], seconds=doc["seconds"])
        out.append(landscape_table(shown_landscape))
    return out



def transfer_text(table: pd.DataFrame, metric: str) -> str:
    """The learning-rate transfer across width, a line per series (results/transfer.py), as plain text."""
    from nncmp.results.transfer import verdicts

    axis = table["axis"].iloc[0] if "axis" in table.columns and len(table) else "width"
    lines = [f"learning-rate transfer across {axis} ({metric}; transfer.csv, transfer.png):", *verdicts(table)]
    return "\n  ".join(lines) + "\n"
