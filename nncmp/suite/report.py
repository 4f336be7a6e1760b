"""How a suite's verdict is shown: the suite table (terminal, markdown, JSON), profiles.png and report.html.

Here rather than in output/, which may not import suite/ (the layer rule); it builds on output's pieces."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.output.text import markdown as md_table
from nncmp.suite.costs import number_text, state_text
from nncmp.suite.times import column

if TYPE_CHECKING:
    from rich.table import Table

    from nncmp.suite.problems import Suite
    from nncmp.suite.verdict import Verdict

# Each --by measure (config/arguments.py MEASURES) in words, for the caption and the figure's axis.
UNITS = {"steps": "optimizer steps", "examples": "training examples", "seconds": "seconds of training",
         "step-time": "seconds of optimizer steps (steps × the run's measured time per step)"}


def time_text(t: float, by: str) -> str:
    """A time to target as the table shows it: 12.8k examples, 450 steps, 3.1 s; a miss as 'miss'."""
    if not math.isfinite(t):
        return "miss"
    if by in ("seconds", "step-time"):
        return f"{t:.3g} s"
    if t >= 1e6:
        return f"{t / 1e6:.3g}M"
    if t >= 1e4:
        return f"{t / 1e3:.3g}k"
    return f"{t:.0f}"


def _speedup(r: dict[str, Any]) -> str:
    if not math.isfinite(r["speedup"]):
        return "—"
    low, high = r["speedup_low"], r["speedup_high"]
    band = f" [{low:.2f}, {high:.2f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{r['speedup']:.2f}×{band}"


def rows(v: Verdict, suite: Suite) -> tuple[list[str], list[list[str]]]:
    names = [p.name for p in suite.problems]
    headers = ["optimizer", "score", "solved", f"speed-up vs {v.reference} [95% CI]", "state B/param",
               f"time/step vs {v.reference}", "peak MiB (max)"] + [
        f"{p.name} ({p.shown_target()})" for p in suite.problems]
    out = []
    for r in v.table.to_dict("records"):
        out.append([str(r["optimizer"]), f"{r['score']:.3f}", f"{r['solved']}/{r['problems']}", _speedup(r),
                    state_text(r), number_text(r.get("ms_step_ratio", math.nan), "×"),
                    number_text(r.get("peak_mib_max", math.nan))]
                   + [time_text(r[f"{column(v.by)}:{n}"], v.by) for n in names])
    return headers, out


def caption(v: Verdict, suite: Suite) -> str:
    against = f"{v.reference}'s time" if v.ratio_to == "reference" else "the fastest optimizer's time on that problem"
    stepped = any(p.step_budget for p in suite.problems)
    when = "after an epoch, or every eval_every steps on a budget in steps" if stepped else "after an epoch"
    text = (f"Time to target: the first evaluation ({when}) at or past the problem's target, in "
            f"{UNITS[v.by]}, median over seeds; miss = the median seed did not reach it within the problem's "
            f"{'budget' if stepped else 'epochs'}. "
            f"score: the area under the performance profile over τ in [1, 4], normalised (AlgoPerf): each problem "
            f"adds (4 − r)/3n, r = the time over {against}, 0 for a miss or r > 4; 1 = fastest on every problem. "
            f"solved: problems whose target the median seed reached. speed-up: geometric mean over problems of "
            f"{v.reference}'s time over this one's, a miss counted as the budget + 1; 95% bootstrap interval over "
            "seeds. Costs, from each problem's runs.csv (a problem's figure: the mean over its runs; — = not "
            "measured): state B/param, the optimizer state's bytes per parameter, mean over problems (the smallest "
            "and largest problem's in brackets where they differ by more than 1%); "
            f"time/step vs {v.reference}, the geometric mean over problems of the measured time per optimizer step "
            f"(ms_step) over {v.reference}'s; peak MiB (max), the largest over problems of the runs' mean peak memory "
            "added while training (on a CPU the process's peak resident memory over its level at the start: "
            "approximate, near 0 where earlier runs had already raised it; a stack's shared among its runs).")
    if v.unreached:
        text += f" No optimizer reached the target of: {', '.join(v.unreached)} (those problems count for no one)."
    if suite.calibration:
        c = suite.calibration
        # A problem calibrated later (its own date in [calibration.problems.NAME]) is named: one date for the
        # whole suite would be false for it.
        later = sorted({(str(d), name) for name, pc in c.get("problems", {}).items()
                        if name in {p.name for p in suite.problems}
                        and (d := pc.get("date")) and str(d) != str(c.get("date", ""))})
        by_date: dict[str, list[str]] = {}
        for d, name in later:
            by_date.setdefault(d, []).append(name)
        dated = "".join(f" ({', '.join(names)}: {d})" for d, names in by_date.items())
        text += (f" Targets calibrated {c.get('date', '')}{dated} with nncmp {c.get('nncmp', '?')} on "
                 f"{c.get('machine', '?')}"
                 f" from tuned {', '.join(c.get('baselines', []))} ({c.get('seeds', '?')} seeds, slack "
                 f"{c.get('slack', '?')}).")
    return text


def table(v: Verdict, suite: Suite) -> Table:
    from nncmp.output.terminal import rich_table

    headers, body = rows(v, suite)
    return rich_table(f"Suite {suite.name}: {len(suite.problems)} problems, time to target in {v.by}", headers,
                      body, caption(v, suite))


def markdown(v: Verdict, suite: Suite) -> str:
    headers, body = rows(v, suite)
    said = "".join(f"- {line}\n" for line in v.sentences)
    return md_table(headers, body) + "\n" + caption(v, suite) + "\n" + (f"\n{said}" if said else "")


def to_json(v: Verdict, suite: Suite, folder: Path) -> str:
    def clean(x: Any) -> Any:
        return None if isinstance(x, float) and not math.isfinite(x) else x

    doc = {"folder": str(folder), "suite": suite.name, "by": v.by, "reference": v.reference, "ratio_to": v.ratio_to,
           "problems": [{"name": p.name, "target": p.target, "metric": p.metric,
                         "epochs": None if p.step_budget else p.spec.epochs, "steps": p.spec.steps,
                         "eval_every": p.spec.eval_every, "budget": p.budget_text()} for p in suite.problems],
           "unreached": v.unreached, "sentences": v.sentences,
           "table": [{k: clean(x) for k, x in r.items()} for r in v.table.to_dict("records")],
           "profiles": v.profiles.to_dict("records")}
    return json.dumps(doc, indent=2) + "\n"


def profiles_figure(v: Verdict, suite: Suite, path: Path) -> None:
    """profiles.png: ρ(τ) of each optimizer as a step curve over τ in [1, 4]."""
    from nncmp.output import figure, style

    fig, ax = figure.new((9, 4.5))
    n = len(suite.problems)
    scores = dict(zip(v.table["optimizer"], v.table["score"]))
    styles = ["-", "--", "-.", ":"]
    groups = list(v.profiles.groupby("optimizer", sort=False))
    colours = style.colours(str(opt) for opt, _ in groups)  # each optimizer's colour in every nncmp figure
    for k, (opt, g) in enumerate(groups):
        g = g.sort_values("tau")
        # Equal profiles lie on each other: the earlier ones are drawn wider, and the styles differ, so
        # every curve shows at its true height (no offsets: the y values are the fractions themselves).
        width = 1.5 + 2.5 * (len(groups) - 1 - k) / max(1, len(groups) - 1)
        ax.step(g["tau"], g["rho"], where="post", label=f"{opt} (score {scores.get(opt, float('nan')):.3f})",
                linewidth=width, linestyle=styles[k % len(styles)], color=colours[str(opt)], alpha=0.85)
    ax.set_yticks([i / n for i in range(n + 1)], [f"{i}/{n}" for i in range(n + 1)])
    ax.set_xlim(1, 4)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(f"τ: time to target ({UNITS[v.by]}) within τ × "
                  + (f"{v.reference}'s" if v.ratio_to == "reference" else "the fastest's"))
    ax.set_ylabel(f"ρ(τ): fraction of the {n} problems")
    ax.set_title(f"Performance profiles, suite {suite.name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)  # outside: curves stay visible
    fig.tight_layout()
    figure.save(fig, path, 110)


def html(folder: Path, v: Verdict, suite: Suite) -> str:
    """The suite's report.html: the table, the profiles, and a link to each problem's folder."""
    import html as h

    from nncmp.output import html as page
    from nncmp.results import schema

    headers, body = rows(v, suite)
    parts = [f"<p>{h.escape(suite.description)}</p>" if suite.description else "",
             page.table(headers, body, caption(v, suite)),
             "".join(f"<p>{h.escape(line)}</p>" for line in v.sentences)]
    if (folder / schema.PROFILES_PNG).is_file():
        parts.append("<h2>Performance profiles</h2>" + page.image(folder / schema.PROFILES_PNG, "performance profiles"))
    items = []
    for p in suite.problems:
        report = folder / p.name / schema.REPORT_HTML
        link = f'<a href="{h.escape(p.name)}/{schema.REPORT_HTML}">report</a>' if report.is_file() else \
            f"folder {h.escape(p.name)}/"
        items.append(f"<li><b>{h.escape(p.name)}</b> ({h.escape(p.shown_target())}, {h.escape(p.budget_text())}) "
                     f"{h.escape(p.description)} — {link}</li>")
    parts.append("<h2>Problems</h2><ul>" + "".join(items) + "</ul>")
    title = f"nncmp suite: {folder.name}"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{h.escape(title)}</title><style>{page.STYLE}</style></head><body>"
            f"<h1>{h.escape(title)}</h1>" + "".join(parts) + f"<script>{page.SCRIPT}</script></body></html>\n")
