"""bench's whole-process case (issue 31): one `nncmp compare` process training 8 runs against eight processes of
the course's loop, one after another — what a student does to compare 8 configurations with the course's script,
started once per configuration. Everything a user waits for is timed on both sides: Python and torch starting,
the data loaded, the training. nncmp's process does more besides (it evaluates every run on the training and
validation sets each epoch, and writes its results folder); the course processes only train, so the ratio leans
the course's way.

The course processes read the data as the course does (torchvision's MNIST files, ToTensor + Normalize per
example, a DataLoader), from files written once before they start; each is a fresh `python -m
nncmp.bench.processes` process running bench/cases.py's reference loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nncmp.bench.cases import GRID_INITS, GRID_SEEDS, bench_reference, course_dataset
from nncmp.config.run import RunSpec

DATASET = "mnist5k"  # real images (4,000 to train on), in the package: no download, and a course-sized task
OPTIMIZER = "adam"  # at its default batch size, 64
EPOCHS = 3  # a few epochs: long enough that start-up is not the whole of either side, short enough for the bench
FIGURE, TARGET = "compare_vs_course_processes", 6.0  # issue 31's target for the whole-process ratio


def _environment(threads: int | None) -> dict[str, str]:
    """The children's environment: this process's (the OpenMP policy it chose goes with it), and --threads as
    OMP_NUM_THREADS for both sides alike."""
    return {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}


def bench_processes(epochs: int = EPOCHS, threads: int | None = None, seeds: int = GRID_SEEDS) -> dict[str, Any]:
    """Wall seconds of one `nncmp compare` of 8 runs (adam, GRID_INITS × `seeds` seeds, DATASET, `epochs`) and of
    the same 8 runs as eight course-loop processes one after another; and their ratio (above 1: nncmp faster)."""
    from nncmp.registry.datasets import load

    runs = [(init, seed) for init in GRID_INITS for seed in range(seeds)]
    env = _environment(threads)
    with tempfile.TemporaryDirectory(prefix="nncmp-processes-") as tmp:
        root = Path(tmp) / "course"
        course_dataset(load(DATASET), None, root)  # the MNIST files the course processes read, written once
        command = [sys.executable, "-m", "nncmp", "compare", "--dataset", DATASET, "--opts", OPTIMIZER,
                   "--inits", ",".join(GRID_INITS), "--seeds", str(seeds), "--epochs", str(epochs),
                   "--out", str(Path(tmp) / "compare"), "--quiet", "--no-plot",
                   *(["--threads", str(threads)] if threads else [])]
        start = time.perf_counter()
        _run(command, env)
        compare = time.perf_counter() - start
        start = time.perf_counter()
        for init, seed in runs:
            _run([sys.executable, "-m", "nncmp.bench.processes", str(root), init, str(seed), str(epochs)], env)
        course = time.perf_counter() - start
    return {"runs": len(runs), "epochs": epochs, "dataset": DATASET, "compare seconds": compare,
            "course processes seconds": course, FIGURE: course / compare}


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # a case that failed has no time: say why rather than report a ratio
        raise RuntimeError(f"{' '.join(command[1:4])} … exited {done.returncode}: {done.stderr.strip()[-2000:]}")


def course_process(root: Path, init: str, seed: int, epochs: int) -> None:
    """One configuration as the course trains it, in this process: the MNIST files at `root` read by
    torchvision, the course's loop (bench_reference) over them."""
    import torch
    import torchvision.datasets as tvd
    from torchvision import transforms

    from nncmp.registry.data import Data

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = tvd.MNIST(root=str(root), train=True, download=False, transform=transform)
    # What building the model needs to know of the data (its shape, its classes), without nncmp's own loading
    # (about a second a process, which the course's script does not spend): the images come from `dataset`.
    empty = torch.empty(0, 1, 28, 28)
    shape = Data(DATASET, "classification", (1, 28, 28), 10, empty, torch.empty(0, dtype=torch.long), empty,
                 torch.empty(0, dtype=torch.long))
    spec = RunSpec(dataset=DATASET, optimizer=OPTIMIZER, init=init, seed=seed, epochs=epochs)
    bench_reference(spec, shape, dataset)


if __name__ == "__main__":
    course_process(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
