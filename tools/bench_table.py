"""The Markdown tables docs/performance.md shows, from a results folder of `nncmp bench` (its bench.json), so the
page's figures are the bench's, not retyped:

    .venv/bin/nncmp bench --load --out /tmp/bench
    .venv/bin/python tools/bench_table.py /tmp/bench        # paste between the page's bench-table markers

Prints the case table (seconds, rates, threads and wait policy of each case's fastest round), the cases with a
core kept busy (if measured with --load) and the figures against the targets of issue #4 (bench.json's) and of
issue 31 (the idle targets, below). The prose around the tables (the machine, the date) is the writer's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Issue 31's targets on an idle machine (the bench itself carries issue #4's).
ISSUE_31 = {"speedup_vs_reference_bs64": 6.0, "speedup_vs_reference_bs1": 8.0, "grid_vs_reference_bs64": 12.0,
            "compare_vs_course_processes": 6.0}
PROCESSES = "compare_vs_course_processes"


def _number(value: float, digits: int = 2) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.{digits}f}"


def _target(value: float, target: float | None) -> str:
    if target is None:
        return "—"
    return f"≥ {target:g}: {'met' if value >= target else 'missed'}"


def tables(doc: dict) -> str:
    lines = ["| case | batch | models | examples | seconds | samples/s | GFLOP/s | of ceiling | peak RSS MB | threads "
             "| wait policy |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for c in doc["cases"]:
        lines.append(f"| `{c['case']}` ({c['what']}) | {c['batch']} | {c['models']} | {c['examples']:,} | "
                     f"{c['seconds']:.2f} | {c['samples/s']:,.0f} | {c['GFLOP/s']:.1f} | {c['ceiling fraction']:.2f} | "
                     f"{c['peak RSS MB']:,.0f} | {c['threads']} | {c['wait policy']} |")
    if doc.get("under_load"):
        lines += ["", "| case | seconds | threads | wait policy |", "|---|--:|--:|---|"]
        lines += [f"| `{c['case']}` ({c['what']}) | {c['seconds']:.2f} | {c['threads']} | {c['wait policy']} |"
                  for c in doc["under_load"]]
    lines += ["", "| figure | measured | target (issue #4) | target (issue 31, idle) |", "|---|--:|--:|--:|"]
    for name, value in doc["figures"].items():
        issue_4 = None if name == PROCESSES else doc["targets"].get(name)  # the processes figure is issue 31's own
        lines.append(f"| `{name}` | {_number(value)} | {_target(value, issue_4)} | "
                     f"{_target(value, ISSUE_31.get(name))} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], "\nusage: bench_table.py FOLDER", file=sys.stderr)
        return 2
    path = Path(argv[0]) / "bench.json"
    if not path.is_file():
        print(f"bench_table.py: {path} is missing: give the folder `nncmp bench --out` wrote", file=sys.stderr)
        return 2
    print(tables(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
