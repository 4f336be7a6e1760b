"""Speed: the standard benchmark (matmul ceiling, single runs, 8-run grids, the course-style loop) and
per-optimizer cases.

nncmp is timed through the paths compare uses (execute.train_one for one run, execute.train_together for a
grid); their `seconds` exclude evaluation. The reference is the loop the course writes: a torchvision
dataset with per-sample transforms behind a DataLoader.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.run import RunSpec
from nncmp.errors import DataError
from nncmp.registry import hyperparameters as hp
from nncmp.registry.datasets import TORCHVISION, Data, torchvision_dataset, write_mnist_files
from nncmp.registry.models import HAS
from nncmp.results.schema import DIVERGED
from nncmp.tuning.study import first_trials

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset
    from torchvision.datasets import CIFAR10, MNIST

    from nncmp.bench.load import Case
    from nncmp.training.recorder import Record


@dataclass
class Memory:
    """A block's memory, in MB: the process's peak resident memory during it (torch's libraries included, ~0.9
    GB), and how far it rose above the block's start (what the case itself needed; nan where the kernel's peak
    mark cannot be reset)."""

    peak: float = math.nan
    rise: float = math.nan


@contextlib.contextmanager
def peak_memory() -> Iterator[Memory]:
    """Memory during the block, measured as runs.csv's peak is (training/costs.py: one reset of the kernel's peak
    mark for both), with the peak since the process started where the mark is not there to read (not Linux)."""
    from nncmp.training.costs import MIB, PeakMemory, peak_rss_bytes

    memory, measured = PeakMemory(), Memory()
    yield measured
    rise, peak = memory.increase(), peak_rss_bytes()
    measured.rise = math.nan if rise is None else rise / MIB
    measured.peak = peak / MIB if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_engine(spec: RunSpec, data: Data, device: str = "cpu") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One (resolved) run through the engine compare would give it, timed."""
    from nncmp.training.execute import train_one

    with peak_memory() as memory:
        records = train_one(spec, data, device=device)
    last = records[-1]
    seconds = max(last["seconds"], 1e-9)
    epochs = last["epoch"]
    row = {
        "optimizer": spec.optimizer, "batch_size": last["batch_size"], "epochs": epochs,
        "examples": last["examples"], "s/epoch": seconds / max(epochs, 1),
        "samples/s": last["examples"] / seconds, "peak MB": memory.peak, "peak rise MB": memory.rise,
        "status": last["status"],
    }
    return row, records


def course_dataset(data: Data, data_dir: Path | None, workdir: Path) -> MNIST | CIFAR10:
    """The training set as the course loads it: a torchvision dataset with ToTensor + Normalize per sample."""
    import torch
    import torchvision.datasets as tvd
    from torchvision import transforms

    if data.task != "classification" or len(data.shape) != 3:
        raise DataError(f"--reference needs an image dataset; {data.name} has examples of shape {data.shape}")
    channels = data.shape[0]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)])
    if data.name in TORCHVISION:
        from nncmp.registry.datasets import default_data_dir

        root = Path(data_dir) if data_dir else default_data_dir()
        return torchvision_dataset(data.name, root, True, False, transform)
    if channels != 1:
        raise DataError(f"--reference supports single-channel data here, got {channels} channels")

    # Write the in-memory images back as MNIST files so the reference reads them exactly as the course does.
    def to_uint8(x: torch.Tensor) -> torch.Tensor:
        return ((x * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)[:, 0]

    write_mnist_files(workdir, "MNIST", to_uint8(data.x_train), data.y_train, train=True)
    write_mnist_files(workdir, "MNIST", to_uint8(data.x_val), data.y_val, train=False)
    return tvd.MNIST(root=str(workdir), train=True, download=False, transform=transform)


def bench_reference(spec: RunSpec, data: Data, dataset: Dataset[Any], device: str = "cpu") -> dict[str, Any]:
    """Time the course's loop (DataLoader over per-sample transforms) on the same model and batch size.

    Its model is built and initialised as the single-run engine builds it, so only the loop differs. On a
    GPU it runs the course's way: each batch moved with .to(device)."""
    import torch
    from torch.utils.data import DataLoader

    from nncmp.training.devices import on_device, synchronize

    data = on_device(data, device)
    from nncmp.training.engines.single import criterion_of, make_model
    from nncmp.training.stepping import build_for

    spec = spec.resolved(len(dataset))
    model = make_model(spec, data, device)
    optimizer = build_for(spec, model.parameters())
    loss_fn = criterion_of(spec, data).mean
    loader = DataLoader(dataset, batch_size=spec.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(spec.seed))
    model.train()
    examples = 0
    with peak_memory() as memory:
        start = time.perf_counter()
        for _ in range(spec.epochs):
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
                examples += len(y)
        synchronize(device)
        seconds = max(time.perf_counter() - start, 1e-9)
    return {"ref samples/s": examples / seconds, "ref s/epoch": seconds / spec.epochs,
            "ref peak rise MB": memory.rise, "ref peak MB": memory.peak}


def run_bench(specs: list[RunSpec], data: Data, reference: bool, data_dir: Path | None = None,
              on_case: Callable[[dict[str, Any]], None] | None = None,
              device: str = "cpu", follow: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for the bench table and the engine's records; with `reference`, each row gains the
    course-style loop's speed and the engine's speed-up over it. `specs`: resolved on `data` (on the CPU);
    runs on `device`, torch's threads following the load before each case (`follow`, as run_standard)."""
    from nncmp.bench.load import engine_threads, ran_with, stop_following
    from nncmp.training.execute import train_one

    # Warm-up (first-call allocations, thread pools) so the first case is not penalised.
    warm_up = replace(specs[0], optimizer="minibatch", epochs=1, batch_size=None, opt_args=(), schedule="constant",
                      warmup=None, **dict.fromkeys(hp.optimizer_own()))
    train_one(warm_up.resolved(data.n_train), data, device=device)
    rows, records = [], []
    with tempfile.TemporaryDirectory(prefix="nncmp-ref-") as tmp:
        course = course_dataset(data, data_dir, Path(tmp)) if reference else None
        for spec in specs:
            how = ran_with(follow, engine_threads([spec], data, False, device))
            row, recs = bench_engine(spec, data, device)
            row.update(how)
            if course is not None:
                ran_with(follow)  # the course loop on the load's count, as in the standard benchmark
                row.update(bench_reference(spec, data, course, device))
                row["speed-up"] = row["samples/s"] / row["ref samples/s"]
            rows.append(row)
            records.extend(recs)
            if on_case:
                on_case(row)
    if follow:
        stop_following()
    return rows, records


# The standard benchmark: the figures issue #4 asks for, measured in one process, one after another.
TARGETS = {
    "speedup_vs_reference_bs64": 7.0, "speedup_vs_reference_bs1": 8.0, "grid_vs_reference_bs64": 18.0,
    "grid_vs_reference_bs1": 25.0, "batched_vs_sequential_bs64": 2.5, "batched_vs_sequential_bs1": 2.0,
    "ceiling_fraction_bs64_batched": 0.4, "trials_stacked_vs_one_by_one_bs64": 2.0}
TRIALS = 16  # compare --tune's default: one study of Adam trials
GRID_INITS = ("xavier", "he")
GRID_SEEDS = 4


def matmul_ceiling(size: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """The device's fp32 matrix-product rate in GFLOP/s: the best of several size³ products."""
    import torch

    from nncmp.training.devices import synchronize

    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)  # warm-up
    synchronize(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def train_flops(spec: RunSpec, data: Data) -> float:
    """FLOPs of one training example through an MLP: forward (2·in·out per layer), weight gradients (the
    same again) and input gradients for every layer but the first (the data needs none)."""
    widths = [math.prod(data.shape), *(spec.hidden if "hidden" in HAS.get(spec.model, ()) else ()), data.n_out]
    products = [a * b for a, b in itertools.pairwise(widths)]
    return 2.0 * (2 * sum(products) + sum(products[1:]))


def subset(data: Data, n: int) -> Data:
    """The first n training examples (validation unchanged)."""
    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def _grid(opt: str, epochs: int = 1) -> list[RunSpec]:
    return [RunSpec(dataset="synthetic", optimizer=opt, init=init, seed=seed, epochs=epochs)
            for init in GRID_INITS for seed in range(GRID_SEEDS)]


def _case(name: str, what: str, batch: int, models: int, examples: int, seconds: float, flops: float,
          ceiling: float, peak_mb: float) -> dict[str, Any]:
    rate = models * examples / max(seconds, 1e-9)
    return {"case": name, "what": what, "batch": batch, "models": models, "examples": examples,
            "seconds": seconds, "samples/s": rate, "GFLOP/s": rate * flops / 1e9,
            "ceiling fraction": rate * flops / 1e9 / ceiling,
            "peak RSS MB": peak_mb}


def _timed_nncmp(specs: list[RunSpec], data: Data, together: bool, device: str = "cpu") -> tuple[float, int, float]:
    """Training seconds (evaluation excluded) of `specs` (resolved here on `data`) stacked, or one after another
    on the fastest single-run path; and the examples each model saw."""
    from nncmp.training.execute import train_one, train_together

    specs = [s.resolved(data.n_train) for s in specs]
    with peak_memory() as memory:
        runs = train_together(specs, data, device) if together else [train_one(s, data, device=device) for s in specs]
    seconds = sum(r[-1]["seconds"] for r in runs)  # a stacked run carries its share of the group's time
    if any(r[-1]["status"] == DIVERGED for r in runs):  # a collapsed run trained every step: its time counts
        raise DataError("a benchmark run diverged; its speed would not be comparable")
    return seconds, runs[0][-1]["examples"], memory.peak


def _timed_reference(spec: RunSpec, data: Data, dataset: Dataset[Any], device: str = "cpu") -> tuple[float, int, float]:
    row = bench_reference(spec, data, dataset, device)
    examples = len(dataset) * spec.epochs
    return examples / row["ref samples/s"], examples, row["ref peak MB"]


def run_standard(n: int, n_bs1: int, repeats: int = 2, on_case: Callable[[dict[str, Any]], None] | None = None,
              device: str = "cpu", load: bool = False, follow: bool = True) -> dict[str, Any]:
    """Every case of the standard benchmark, and the figures derived from them (ratios within this run).

    The cases run round-robin `repeats` times and each keeps its fastest round: on a shared machine the
    fastest round is the one least disturbed by other processes, for the reference loop as for nncmp.
    On a GPU (`device`) the data is there once; the reference loop moves each batch, as the course does.
    Before each case torch's threads follow the load as before compare's groups (`follow`: no --threads).
    """
    import torch
    from torch.utils.data import Subset

    from nncmp.bench.load import engine_threads, ran_with, stop_following
    from nncmp.registry.datasets import load as load_dataset
    from nncmp.training.devices import on_device

    cpu_data = subset(load_dataset("synthetic", n=math.ceil(n / 0.8)), n)  # the synthetic set keeps 80% for training
    cpu_small = subset(cpu_data, n_bs1)
    data, small = on_device(cpu_data, device), on_device(cpu_small, device)
    adam, sgd = _grid("adam"), _grid("sgd")
    trials = first_trials(adam[0].resolved(data.n_train), TRIALS)  # one epoch, as the other cases
    flops = train_flops(adam[0], data)
    ceiling = 0.0
    _timed_nncmp(adam[:1], subset(data, min(n, 4096)), False, device)  # warm-up: thread pools, allocator
    best: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="nncmp-ref-") as tmp:
        course = course_dataset(cpu_data, None, Path(tmp))
        def case(name: str, what: str, batch: int, specs: list[RunSpec], on: Data, together: bool) -> Case:
            """An nncmp case, with the threads its engine runs fastest on (compare's groups get the same)."""
            return (name, what, batch, len(specs), lambda: _timed_nncmp(specs, on, together, device),
                    engine_threads(specs, on, together, device))

        plan: list[Case] = [  # the course loop on the load's thread count
            ("reference_bs64", "course loop, adam", 64, 1,
             lambda: _timed_reference(adam[0], cpu_data, course, device), None),
            ("reference_bs1", "course loop, sgd", 1, 1,
             lambda: _timed_reference(sgd[0], cpu_small, Subset(course, range(n_bs1)), device), None),
            case("single_bs64", "nncmp, one run, adam", 64, adam[:1], data, False),
            case("single_bs1", "nncmp, one run, sgd", 1, sgd[:1], small, False),
            case("grid_bs64_batched", "nncmp, 8 runs stacked, adam", 64, adam, data, True),
            case("grid_bs64_sequential", "nncmp, 8 runs one by one, adam", 64, adam, data, False),
            case("grid_bs1_batched", "nncmp, 8 runs stacked, sgd", 1, sgd, small, True),
            case("grid_bs1_sequential", "nncmp, 8 runs one by one, sgd", 1, sgd, small, False),
            case("trials_bs64_batched", f"nncmp, {TRIALS} adam trials stacked", 64, trials, data, True),
            case("trials_bs64_sequential", f"nncmp, {TRIALS} adam trials one by one", 64, trials, data, False),
        ]
        for round_ in range(repeats):
            # The ceiling too is the best round's, so every fraction is of the machine at its least disturbed.
            ceiling = max(ceiling, matmul_ceiling(device=device))
            if on_case:
                on_case({"case": "ceiling", "GFLOP/s": ceiling, "round": round_ + 1})
            for name, what, batch, models, timed, cap in plan:
                how = ran_with(follow, cap)
                seconds, examples, peak = timed()
                case = {**_case(name, what, batch, models, examples, seconds, flops, ceiling, peak), **how}
                previous = best.get(name)
                if previous is None or case["seconds"] < previous["seconds"]:
                    case["peak RSS MB"] = max(peak, previous["peak RSS MB"]) if previous else peak
                    best[name] = case
                elif peak > previous["peak RSS MB"]:
                    previous["peak RSS MB"] = peak
                if on_case:
                    on_case({**case, "round": round_ + 1})

        if load:  # the engine cases again with another process spinning on one core
            from nncmp.bench.load import under_load

            loaded, loaded_cases = under_load(plan, best, repeats, on_case, follow)
    if follow:  # the pool below compares processes with torch's own count, as it always has
        stop_following()

    for case in best.values():  # fractions of the final (best) ceiling
        case["ceiling fraction"] = case["GFLOP/s"] / ceiling

    def rate(name: str) -> float:
        return best[name]["samples/s"]

    figures = {
        "speedup_vs_reference_bs64": rate("single_bs64") / rate("reference_bs64"),
        "speedup_vs_reference_bs1": rate("single_bs1") / rate("reference_bs1"),
        "grid_vs_reference_bs64": rate("grid_bs64_batched") / rate("reference_bs64"),
        "grid_vs_reference_bs1": rate("grid_bs1_batched") / rate("reference_bs1"),
        "batched_vs_sequential_bs64": rate("grid_bs64_batched") / rate("grid_bs64_sequential"),
        "batched_vs_sequential_bs1": rate("grid_bs1_batched") / rate("grid_bs1_sequential"),
        "trials_stacked_vs_one_by_one_bs64": rate("trials_bs64_batched") / rate("trials_bs64_sequential"),
        "ceiling_fraction_bs64_batched": best["grid_bs64_batched"]["ceiling fraction"],
        **(loaded if load else {}),
    }
    pool = None
    if device == "cpu":  # worker processes share the CPU's cores; on a GPU they would share the GPU instead
        pool = bench_pool(n)
        if on_case:
            on_case({"case": "pool", **pool, "round": repeats})
        figures["processes_vs_local_runs"] = pool["processes_vs_local"]
    return {"device": device, "ceiling_gflops": ceiling, "flops_per_example": flops,
            "threads": torch.get_num_threads(),
            "n": n, "n_bs1": n_bs1, "repeats": repeats, "cases": list(best.values()), "figures": figures,
            "targets": TARGETS, "pool": pool, **({"under_load": loaded_cases} if load else {})}


def bench_pool(n: int, runs: int = 8, jobs: int = 2) -> dict[str, Any]:
    """Runs/s of one grid (Adam, batch 64, `runs` seeds trained one by one) on the local backend and on a
    pool of `jobs` worker processes, wall time included (the pool's start-up is part of what a user waits
    for); and the driver's own time per finished run (saving the rows as they arrive)."""
    from nncmp.config.comparison import Options
    from nncmp.registry.datasets import load
    from nncmp.results import schema, store
    from nncmp.results.schema import records_frame
    from nncmp.training.backends import train
    from nncmp.training.execute import train_one
    from nncmp.training.plan import plan
    from nncmp.training.progress import Silent

    total = math.ceil(n / 0.8)
    data = load("synthetic", n=total)
    specs = [RunSpec(dataset="synthetic", n=total, optimizer="adam", init="he", seed=s, epochs=1).resolved(data.n_train)
             for s in range(runs)]
    start = time.perf_counter()
    for spec in specs:
        train_one(spec, data)
    local = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="nncmp-pool-") as tmp:
        saved: list[Record] = []

        # as compare saves: one atomic write
        def save(group: list[tuple[int, list[Record]]], layer_rows: dict[str, Any]) -> None:
            saved.extend(r for _, records in group for r in records)
            store.write_csv(Path(tmp) / schema.METRICS, records_frame(saved))

        start = time.perf_counter()
        outcome = train(plan(specs, data, max_group=1), data, Options(backend="processes", jobs=jobs, retries=0),
                        Silent(), save)
        pool = time.perf_counter() - start
    return {"runs": runs, "jobs": jobs, "local runs/s": runs / local, "processes runs/s": runs / pool,
            "processes_vs_local": local / pool, "driver ms per run": outcome.driver_seconds * 1000 / runs,
            "local seconds": local, "processes seconds": pool}
