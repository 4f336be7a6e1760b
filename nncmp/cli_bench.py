"""`nncmp bench`: the standard speed suite, or per-optimizer cases (see bench.py for what is timed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.registry.optimizers import OPTIMIZERS
from nncmp.options import (
    DeviceOpt,
    ActOpt,
    BatchnormOpt,
    DataDirOpt,
    DatasetOpt,
    DepthOpt,
    DownloadOpt,
    HiddenOpt,
    JsonOpt,
    ModelOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    ThreadsOpt,
    UsageFailure,
    WidthOpt,
    check_device,
    check_threads,
    load_data,
    names,
    hidden_layers,
    parse_list,
    pick_device,
    results_folder,
    set_threads,
    user_errors,
)
from nncmp.spec.run import Grid, RunSpec


def bench(
    opts: Annotated[str | None, typer.Option(
        "--opts", "--opt", help=f"Time these optimizers instead of the standard suite: {names(OPTIMIZERS)}.",
        show_default="the standard suite")] = None,
    batch_sizes: Annotated[str | None, typer.Option(
        "--batch-sizes", "--batch-size", help="With --opts: batch sizes, comma-separated; each optimizer runs at each.",
        show_default="each optimizer's default")] = None,
    reference: Annotated[bool, typer.Option(
        help="With --opts: also time the course-style loop (torchvision dataset + per-sample transforms + "
             "DataLoader) and print the engine's speed-up over it. The suite always does.")] = False,
    quick: Annotated[bool, typer.Option(help="Suite on 10,000 examples (2,000 at batch size 1): under a minute.",
                                        show_default="off")] = False,
    n_bs1: Annotated[int | None, typer.Option(
        "--n-bs1", help="Suite: training examples for the batch-size-1 cases (one step each).",
        show_default="10000, --quick 2000")] = None,
    repeats: Annotated[int, typer.Option(
        help="Suite: rounds over all cases; each case keeps its fastest round (the least disturbed by other "
             "processes).")] = 3,
    dataset: DatasetOpt = "mnist5k",
    model: ModelOpt = "mlp",
    hidden: HiddenOpt = None,
    depth: DepthOpt = None,
    width: WidthOpt = None,
    act: ActOpt = "relu",
    batchnorm: BatchnormOpt = False,
    epochs: Annotated[int, typer.Option(help="With --opts: epochs timed per case.")] = 1,
    seed: SeedOpt = 0,
    n: Annotated[int | None, typer.Option(
        "--n", help="Suite: training examples (synthetic, MNIST-shaped); with --opts: the synthetic dataset's size.",
        show_default="suite 60000, --quick 10000")] = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure speed. Without --opts: the standard suite (matmul ceiling, one run and 8-run grids at batch
    sizes 64 and 1, the course-style loop) and the ratios between them. With --opts: samples/s, seconds per
    epoch and peak memory per optimizer (and batch size)."""
    check_threads(threads)
    check_device(device)
    if opts is None:
        if n is not None and n < 100:
            raise UsageFailure(f"--n must be >= 100 for the suite, got {n}")
        n = n or (10_000 if quick else 60_000)
        n_bs1 = n_bs1 or min(n, 2_000 if quick else 10_000)
        if not 1 <= n_bs1 <= n:
            raise UsageFailure(f"--n-bs1 must be between 1 and --n ({n}), got {n_bs1}")
        if repeats < 1:
            raise UsageFailure(f"--repeats must be >= 1, got {repeats}")
        _bench_suite(n, n_bs1, repeats, out, overwrite, json_out, threads, quiet, pick_device(device, threads))
        return
    with user_errors():
        base = RunSpec(dataset=dataset, model=model, hidden=hidden_layers(hidden, depth, width),
                       act=act, batchnorm=batchnorm, epochs=epochs, seed=seed, n=n)
        grid = Grid(base=base, optimizers=parse_list("--opts", opts, str, "optimizer names"),
                    inits=(base.init,), seeds=1,
                    batch_sizes=parse_list("--batch-sizes", batch_sizes, int, "integers") if batch_sizes else None)
    specs = grid.runs()
    device = pick_device(device, threads)
    data = load_data(base, data_dir, download)
    set_threads(threads)
    from nncmp.results import store
    from nncmp.bench.suite import run_bench
    from nncmp.training.recorder import records_frame
    from nncmp.output.terminal import make_console, simple_table

    with results_folder(out, "bench", overwrite=overwrite) as folder:
        console = make_console(stderr=json_out)
        store.write_config(folder, "bench", {"base": base.to_dict(), "reference": reference, "device": device,
                                             "runs": [s.resolved(data.n_train).to_dict() for s in specs]})

        def show(row: dict[str, Any]) -> None:
            if not quiet and not json_out:
                console.print(f"{row['optimizer']} bs={row['batch_size']}: {row['samples/s']:.0f} samples/s"
                              + (f", course loop {row['ref samples/s']:.0f} samples/s" if reference else ""))

        try:
            with user_errors():
                rows, records = run_bench(specs, data, reference, data_dir, on_case=show, device=device)
        except KeyboardInterrupt:
            console.print("interrupted: no benchmark table written")
            raise typer.Exit(130) from None
        import pandas as pd

        store.write_csv(folder / "bench.csv", pd.DataFrame(rows))
        store.write_csv(folder / "metrics.csv", records_frame(records))
        if json_out:
            _print_json({"cases": rows, "threads": _threads(), "device": device})
            return
        caption = (f"{data.name}, {model}, {epochs} epoch(s) per case, device {device}, {_threads()} threads. "
                   "Seconds exclude "
                   "evaluation. peak MB: the process's peak resident memory during the case (torch alone holds "
                   "most of it); peak rise MB: how far it rose above the case's start.")
        if reference:
            caption += " speed-up = engine samples/s ÷ course-loop samples/s."
        console.print(simple_table("Engine speed", rows, caption))
        console.print(f"results: {folder}")


def _print_json(doc: Any) -> None:
    import json

    typer.echo(json.dumps(doc, indent=2, default=float))


def _bench_suite(n: int, n_bs1: int, repeats: int, out: Path | None, overwrite: bool, json_out: bool,
                 threads: int | None, quiet: bool, device: str = "cpu") -> None:
    import pandas as pd

    from nncmp.results import store
    from nncmp.bench.suite import run_suite
    from nncmp.output.terminal import make_console, simple_table

    set_threads(threads)
    with results_folder(out, "bench", overwrite=overwrite) as folder:
        console = make_console(stderr=json_out)
        store.write_config(folder, "bench", {"suite": True, "n": n, "n_bs1": n_bs1, "repeats": repeats,
                                             "device": device})

        def show(case: dict[str, Any]) -> None:
            if quiet or json_out:
                return
            if case["case"] == "pool":
                console.print(f"process pool: {case['processes runs/s']:.2f} runs/s with {case['jobs']} workers "
                              f"vs {case['local runs/s']:.2f} locally; driver {case['driver ms per run']:.1f} ms "
                              "per run")
            elif case["case"] == "ceiling":
                console.print(f"round {case['round']} matmul ceiling (best so far): {case['GFLOP/s']:.0f} GFLOP/s")
            else:
                console.print(f"round {case['round']} {case['case']}: {case['samples/s']:.0f} samples/s ({case['what']})")

        try:
            with user_errors():
                result = run_suite(n, n_bs1, repeats, on_case=show, device=device)
        except KeyboardInterrupt:
            console.print("interrupted: no benchmark table written")
            raise typer.Exit(130) from None
        figures = [{"figure": k, "value": v, "target": result["targets"].get(k, math.nan),
                    "met": v >= result["targets"][k] if k in result["targets"] else "—"}
                   for k, v in result["figures"].items()]
        store.write_csv(folder / "bench.csv", pd.DataFrame(result["cases"]))
        store.write_csv(folder / "figures.csv", pd.DataFrame(figures))
        store.atomic_write_text(folder / "bench.json", __import__("json").dumps(result, indent=2) + "\n")
        if json_out:
            _print_json(result)
            return
        console.print(simple_table("Speed per case", result["cases"], (
            f"MLP 784-256-128-10 on synthetic MNIST-shaped data, {n} examples ({n_bs1} at batch size 1), "
            f"device {device}, {result['threads']} threads, matmul ceiling {result['ceiling_gflops']:.0f} GFLOP/s, fastest of "
            f"{repeats} round(s) per case. samples/s counts "
            "every model's examples (model-samples/s); GFLOP/s at "
            f"{result['flops_per_example'] / 1e6:.2f} MFLOP per training example; seconds exclude evaluation.")))
        console.print(simple_table("Figures", figures, "Ratios of the cases above, measured in this run."))
        console.print(f"results: {folder}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


