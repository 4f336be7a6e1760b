"""bench: the standard benchmark, or per-optimizer cases (bench/cases.py says what is timed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import load_data, pick_device, results_folder, set_threads
from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.results import schema, store

if TYPE_CHECKING:
    import pandas as pd

OnCase = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class StandardRequest:
    n: int = 60_000  # training examples (synthetic, MNIST-shaped)
    n_bs1: int = 10_000  # of them, for the batch-size-1 cases
    repeats: int = 3  # rounds over all cases; each case keeps its fastest
    load: bool = False  # also time the engine cases with one core kept busy (bench/load.py)
    processes: bool = False  # also time a whole 8-run compare process against 8 course processes (bench/processes.py)
    threads: int | None = None
    device: str = "auto"
    out: Path | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.n < 100:
            raise SpecError(f"--n must be >= 100 for the standard benchmark, got {self.n}")
        if not 1 <= self.n_bs1 <= self.n:
            raise SpecError(f"--n-bs1 must be between 1 and --n ({self.n}), got {self.n_bs1}")
        if self.repeats < 1:
            raise SpecError(f"--repeats must be >= 1, got {self.repeats}")


@dataclass(frozen=True)
class CasesRequest:
    grid: Grid  # the optimizers (and batch sizes) to time, one seed each, around a base run
    reference: bool = False  # also time the course-style loop
    threads: int | None = None
    device: str = "auto"
    data_dir: str | None = None
    download: bool = False
    out: Path | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class ModelRequest:
    base: RunSpec  # a user's model (--model net.py:Net), its data, optimizer, batch size and epochs
    runs: int = 8  # stacked together, and one by one
    repeats: int = 2
    threads: int | None = None
    data_dir: str | None = None
    out: Path | None = None
    overwrite: bool = False


@dataclass
class BenchResult:
    folder: Path
    cases: pd.DataFrame  # bench.csv
    figures: pd.DataFrame | None  # the standard benchmark's ratios (figures.csv); None for per-optimizer cases
    standard: dict[str, Any] | None  # everything the standard benchmark measured (bench.json)
    device: str
    threads: int
    dataset: str = "synthetic"


def standard(request: StandardRequest, on_case: OnCase | None = None) -> BenchResult:
    """Every case of the standard benchmark and the ratios between them, into the folder."""
    import math

    import pandas as pd

    from nncmp.bench.cases import run_standard

    device = pick_device(request.device, request.threads)
    set_threads(request.threads)
    fixed = _threads_fixed_by(request.threads, device)
    _new_tally()
    with results_folder(request.out, "bench", overwrite=request.overwrite) as folder:
        def write_config() -> None:  # at the start, and again at the end with the threads the cases ran with
            store.write_config(folder, "bench", {"suite": True, "n": request.n, "n_bs1": request.n_bs1,
                                                 "repeats": request.repeats, "load": request.load,
                                                 "processes": request.processes, "device": device,
                                                 "openmp": _openmp(fixed)})

        write_config()
        result = run_standard(request.n, request.n_bs1, request.repeats, on_case=on_case, device=device,
                           load=request.load, follow=not fixed)
        if request.processes and device == "cpu":  # the children train on the CPU: compare's and the course's
            _processes(result, request.threads, on_case)
        write_config()
        figures = pd.DataFrame([{"figure": k, "value": v, "target": result["targets"].get(k, math.nan),
                                 "met": v >= result["targets"][k] if k in result["targets"] else "—"}
                                for k, v in result["figures"].items()])
        cases = pd.DataFrame(result["cases"])
        store.write_csv(folder / schema.BENCH, cases)
        store.write_csv(folder / schema.FIGURES, figures)
        store.atomic_write_text(folder / schema.BENCH_JSON, json.dumps(result, indent=2) + "\n")
    return BenchResult(folder, cases, figures, result, device, result["threads"])


def _processes(result: dict[str, Any], threads: int | None, on_case: OnCase | None) -> None:
    """The whole-process case (bench/processes.py) into the standard benchmark's result: its figure and target
    beside the others, its times under "processes"."""
    from nncmp.bench.processes import FIGURE, TARGET, bench_processes

    measured = bench_processes(threads=threads)
    if on_case:
        on_case({"case": "processes", **measured, "round": result["repeats"]})
    result["processes"] = measured
    result["figures"][FIGURE] = measured[FIGURE]
    result["targets"] = {**result["targets"], FIGURE: TARGET}


def cases(request: CasesRequest, on_case: OnCase | None = None) -> BenchResult:
    """samples/s, seconds per epoch and peak memory of each optimizer (and batch size) of the grid."""
    import pandas as pd

    from nncmp.bench.cases import run_bench
    from nncmp.results.schema import records_frame

    base = request.grid.base
    device = pick_device(request.device, request.threads)
    data = load_data(base, request.data_dir, request.download)
    threads = set_threads(request.threads)
    fixed = _threads_fixed_by(request.threads, device)
    _new_tally()
    specs = [s.resolved(data.n_train) for s in request.grid.runs()]
    with results_folder(request.out, "bench", overwrite=request.overwrite) as folder:
        def write_config() -> None:  # at the start, and again at the end with the threads the cases ran with
            store.write_config(folder, "bench", {"base": base.to_dict(), "reference": request.reference,
                                                 "device": device, "runs": [s.to_dict() for s in specs],
                                                 "openmp": _openmp(fixed)})

        write_config()
        rows, records = run_bench(specs, data, request.reference, request.data_dir, on_case=on_case, device=device,
                                  follow=not fixed)
        write_config()
        frame = pd.DataFrame(rows)
        store.write_csv(folder / schema.BENCH, frame)
        store.write_csv(folder / schema.METRICS, records_frame(records))
    return BenchResult(folder, frame, None, None, device, threads, data.name)


def _threads_fixed_by(threads: int | None, device: str) -> str:
    """What keeps torch's thread count from following the load between cases, as between compare's groups."""
    from nncmp.config.comparison import Options
    from nncmp.training.backends import threads_fixed_by

    return threads_fixed_by(Options(threads=threads, device=device))


def _openmp(fixed_by: str) -> dict[str, object]:
    """config.json's "openmp": how torch's threads wait and why, and their count (training/openmp.py): what the
    cases ran with (each case counts as a group) once they have run."""
    from nncmp.training.devices import THREADS
    from nncmp.training.openmp import record

    return record(THREADS.get(), fixed_by)


def _new_tally() -> None:
    """A bench's record counts its own cases only (another command may have run in this process before)."""
    from nncmp.training.load import new_tally

    new_tally()


def model_cases(request: ModelRequest) -> BenchResult:
    """A user's model: K runs stacked against one by one, and nncmp's single run against the plain PyTorch
    loop (bench/model.py), into the folder (bench.csv, figures.csv)."""
    import pandas as pd

    from nncmp.bench.model import bench_model
    from nncmp.commands.common import check_models

    base = request.base
    data = load_data(base, request.data_dir)
    check_models([base], data)
    threads = set_threads(request.threads)
    with results_folder(request.out, "bench", overwrite=request.overwrite) as folder:
        store.write_config(folder, "bench", {"base": base.to_dict(), "model": True, "runs": request.runs,
                                             "repeats": request.repeats, "device": "cpu",
                                             "openmp": _openmp(_threads_fixed_by(request.threads, "cpu")
                                                               or "bench --model (torch's own count)")})
        rows, ratios, how = bench_model(base, data, request.runs, request.repeats)
        frame = pd.DataFrame(rows)
        figures = pd.DataFrame([{"figure": k, "value": v} for k, v in ratios.items()])
        store.write_csv(folder / schema.BENCH, frame)
        store.write_csv(folder / schema.FIGURES, figures)
    return BenchResult(folder, frame, figures, {"how": how, **ratios}, "cpu", threads, data.name)
