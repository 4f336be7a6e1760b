"""Same numbers before and after a restructuring: a fixed set of comparisons run on two trees, their CSVs
compared byte for byte once the time columns are dropped.

    .venv/bin/python tools/same_numbers.py REF            # REF (a commit, a branch) against the work tree
    .venv/bin/python tools/same_numbers.py REF --only 3,5 # some of the cases
    .venv/bin/python tools/same_numbers.py --list         # the cases

REF is checked out into a git worktree under --work (default /tmp/nncmp-same-numbers) and run with this
checkout's .venv (`python -m nncmp` from the tree's root, so each tree runs its own code); the work tree
runs as it is. Each case's results folder holds metrics.csv, runs.csv, summary.csv and, where the case
makes them, tuning.csv, budget.csv, layers.csv and a suite's times.csv and suite.csv: every CSV of either
folder is compared, after dropping the columns that hold wall-clock times (`seconds`, `*_seconds`,
`seconds_to_*`, `time*`), which no two runs share. Every case fixes --threads 1, so the numbers do not
depend on the machine's cores (contributing.md: same spec, machine, thread count and group size →
byte-identical records). Exit 0: every CSV equal; 1: the first differences, file by file.

About four minutes per tree on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T1 = ["--threads", "1", "--quiet", "--no-plot"]
# (name, the nncmp command line) — every engine (fast-sgd, stacked, stacked-func, single), the process
# backend, tuning (grid and sampler), schedules, library optimizers, a user's model, --track-layers, a
# regression dataset and a suite.
CASES: list[tuple[str, list[str]]] = [
    ("course-grid", ["compare", "--opts", "sgd,minibatch,momentum,rmsprop,adam,adagrad,gd", "--inits", "xavier,he",
                     "--seeds", "2", "--epochs", "2", *T1]),
    ("architectures", ["compare", "--opts", "adam,minibatch", "--inits", "he", "--acts", "tanh,relu", "--norms",
                       "none,batchnorm", "--dropouts", "0,0.3", "--seeds", "2", "--epochs", "2", "--dataset",
                       "digits", "--track-layers", *T1]),
    ("cnn", ["compare", "--opts", "adam,sgd", "--inits", "he", "--model", "cnn", "--dataset", "digits", "--epochs",
             "1", "--seeds", "1", *T1]),
    ("user-model", ["compare", "--model", "examples/net1d.py:Net1d", "--dataset", "mnist1d", "--opts",
                    "minibatch,adam", "--inits", "default,he", "--seeds", "2", "--epochs", "2", *T1]),
    ("library", ["compare", "--opts", "lion,muon,prodigy,schedulefreeadamw", "--schedule", "warmup-cosine",
                 "--seeds", "2", "--epochs", "2", "--dataset", "digits", *T1]),
    ("tune", ["compare", "--opts", "sgd,adam,momentum", "--tune", "halton", "--trials", "4", "--studies", "2",
              "--seeds", "2", "--epochs", "2", "--dataset", "digits", *T1]),
    ("lrs-auto", ["compare", "--opts", "sgd,adam", "--lrs", "auto", "--seeds", "2", "--epochs", "2", "--dataset",
                  "digits", *T1]),
    ("processes", ["compare", "--opts", "minibatch,adam,sgd", "--backend", "processes", "--jobs", "2", "--seeds", "2",
                   "--epochs", "2", "--dataset", "digits", *T1]),
    ("hyper", ["compare", "--opts", "momentum,rmsprop,adamw", "--weight-decay", "0.001", "--momentum", "0.8",
               "--batch-sizes", "32,128", "--lrs", "0.01,0.003", "--seeds", "2", "--epochs", "2", "--dataset",
               "digits", *T1]),
    ("regression", ["compare", "--dataset", "toy-regression", "--model", "linear", "--opts", "gd,minibatch,adam",
                    "--inits", "he,xavier", "--seeds", "2", "--epochs", "5", *T1]),
    ("train", ["train", "--opt", "sgd", "--init", "he", "--epochs", "2", "--dataset", "digits",
               "--schedule", "cosine", *T1]),
    ("suite", ["suite", "--opts", "adam,sgd", "--problems", "digits-mlp,deep-tanh", "--seeds", "2", *T1]),
]
TIME_WORDS = ("seconds", "time")


def timeless(path: Path, tree: Path) -> str:
    """A CSV without its wall-clock columns, as text; the tree's path (in a user's model's) as <tree>."""
    rows = list(csv.reader(io.StringIO(path.read_text().replace(str(tree), "<tree>"))))
    if not rows:
        return ""
    keep = [i for i, name in enumerate(rows[0]) if not any(w in name for w in TIME_WORDS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in keep if i < len(row)])
    return out.getvalue()


def run_cases(tree: Path, out: Path, chosen: list[int]) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("OMP_WAIT_POLICY", None)
    for i in chosen:
        name, args = CASES[i]
        folder = out / f"{i:02d}-{name}"
        if folder.exists():
            shutil.rmtree(folder)
        cmd = [sys.executable, "-m", "nncmp", *args, "--out", str(folder)]
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        print(f"  {tree.name}: case {i} {name}: {status}", flush=True)
        if done.returncode != 0:
            print(done.stdout[-2000:] + done.stderr[-2000:])


def compare_folders(a: Path, b: Path, tree: Path) -> list[str]:
    problems = []
    files = sorted({p.relative_to(a) for p in a.rglob("*.csv")} | {p.relative_to(b) for p in b.rglob("*.csv")})
    for rel in files:
        left, right = a / rel, b / rel
        if not left.exists() or not right.exists():
            problems.append(f"{rel}: only in {'the work tree' if right.exists() else 'REF'}")
            continue
        x, y = timeless(left, tree), timeless(right, ROOT)
        if x != y:
            lines = [f"{n}: REF {p!r}\n      now {q!r}" for n, (p, q) in enumerate(zip(x.splitlines(), y.splitlines()))
                     if p != q][:3]
            problems.append(f"{rel}: differs ({len(x.splitlines())} vs {len(y.splitlines())} lines)\n    "
                            + "\n    ".join(lines))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", nargs="?", help="the commit to compare the work tree with")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nncmp-same-numbers"))
    parser.add_argument("--only", help="case numbers, comma-separated")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--reuse-ref", action="store_true", help="keep REF's results from an earlier call")
    args = parser.parse_args()
    if args.list or not args.ref:
        for i, (name, cmd) in enumerate(CASES):
            print(f"{i:2d} {name}: nncmp {' '.join(cmd)}")
        return 0
    chosen = [int(c) for c in args.only.split(",")] if args.only else list(range(len(CASES)))
    args.work.mkdir(parents=True, exist_ok=True)
    tree = args.work / "ref-tree"
    if not args.reuse_ref:
        if tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.ref], cwd=ROOT, check=True,
                       capture_output=True)
        run_cases(tree, args.work / "ref", chosen)
    run_cases(ROOT, args.work / "now", chosen)
    bad = 0
    for i in chosen:
        folder = f"{i:02d}-{CASES[i][0]}"
        problems = compare_folders(args.work / "ref" / folder, args.work / "now" / folder, tree)
        print(f"case {i} {CASES[i][0]}: " + ("same numbers" if not problems else "DIFFERENT"))
        for p in problems:
            print("  " + p)
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
