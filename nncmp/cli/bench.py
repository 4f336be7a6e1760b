"""`nncmp bench`: the standard benchmark, or per-optimizer cases (bench/cases.py says what is timed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nncmp.cli.common import (
    DepthOpt,
    DownloadOpt,
    JsonOpt,
    ModelArgOpt,
    OutOpt,
    OverwriteOpt,
    QuietOpt,
    WidthOpt,
    console,
    print_json,
    user_errors,
)
from nncmp.cli.declared import annotation, declares, extra, single, values
from nncmp.config import arguments
from nncmp.config.comparison import Options
from nncmp.config.request import hidden_layers, key_values
from nncmp.config.run import RunSpec
from nncmp.registry.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    from rich.console import Console

    from nncmp.commands.bench import BenchResult, OnCase


@declares(single(RunSpec, ["dataset"]), extra("data_arg", annotation(arguments.DATA_ARGS)), single(RunSpec, ["model"]),
          extra("model_arg", ModelArgOpt), single(RunSpec, ["hidden"]),
          extra("depth", DepthOpt), extra("width", WidthOpt),
          single(RunSpec, ["act", "batchnorm"]),
          extra("epochs", Annotated[int, typer.Option(help="With --opts or --model: epochs timed per case.")], 1),
          single(RunSpec, ["seed"]), single(Options, ["data_dir", "threads", "device"]))
def bench(
    opts: Annotated[str | None, typer.Option(
        "--opts", "--opt", help=f"Time these optimizers instead of the standard benchmark: {', '.join(OPTIMIZERS)}.",
        show_default="the standard benchmark")] = None,
    batch_sizes: Annotated[str | None, typer.Option(
        "--batch-sizes", "--batch-size", help="With --opts: batch sizes, comma-separated; each optimizer runs at each.",
        show_default="each optimizer's default")] = None,
    reference: Annotated[bool, typer.Option(
        help="With --opts: also time the course-style loop (torchvision dataset + per-sample transforms + "
             "DataLoader) and print the engine's speed-up over it. The standard benchmark always does.")] = False,
    quick: Annotated[bool, typer.Option(
        help="The standard benchmark on 10,000 examples (2,000 at batch size 1), without the whole-process case: "
             "under a minute.",
        show_default="off")] = False,
    n_bs1: Annotated[int | None, typer.Option(
        "--n-bs1", help="The standard benchmark: training examples for the batch-size-1 cases (one step each).",
        show_default="10000, --quick 2000")] = None,
    repeats: Annotated[int, typer.Option(
        help="The standard benchmark: rounds over all cases; each case keeps its fastest round (the least disturbed "
             "by other processes).")] = 3,
    load: Annotated[bool, typer.Option(
        "--load", help="The standard benchmark: also time the engine cases with another process keeping one core busy, "
        "and report how much each slows down (a laptop with a browser open, a shared machine).",
        show_default="off")] = False,
    processes: Annotated[bool, typer.Option(
        help="The standard benchmark without --quick: also time one `nncmp compare` process of 8 runs (mnist5k, "
             "adam, 3 epochs) against the same 8 runs as 8 course-loop processes one after another (a minute or "
             "two).")] = True,
    n: Annotated[int | None, typer.Option(
        "--n", help="The standard benchmark: training examples (synthetic, MNIST-shaped); with --opts: the synthetic "
        "dataset's size.",
        show_default="standard 60000, --quick 10000")] = None,
    download: DownloadOpt = False,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
    **declared: Any,
) -> None:
    """Measure speed. Without --opts: the standard benchmark (matmul ceiling, one run and 8-run grids at batch
    sizes 64 and 1, the course-style loop) and the ratios between them. With --opts: samples/s, seconds per
    epoch and peak memory per optimizer (and batch size). With --model other than mlp (yours, or a built-in such
    as transformer) and no --opts: 8 runs of it stacked against one by one, and one nncmp run against the plain
    PyTorch loop."""
    from nncmp.commands import bench as commands

    out_console = console(stderr=json_out)
    talk = not (quiet or json_out)
    with user_errors():
        options = Options(**values(Options, declared, ["data_dir", "threads", "device"]))
        # A model other than the standard benchmark's MLP (a user's, or a built-in such as the transformer):
        # stacked, one by one, plain
        if opts is None and (declared.get("model") or "mlp") != "mlp":
            from nncmp.config.fields import parse_list
            from nncmp.errors import SpecError

            sizes = parse_list("--batch-sizes", batch_sizes, int, "integers") if batch_sizes else (None,)
            if len(sizes) != 1:
                raise SpecError("--model: one --batch-size per bench (the cases compare engines, not sizes)")
            base = RunSpec(**values(RunSpec, declared, ["dataset", "model", "seed"]), epochs=declared["epochs"],
                           batch_size=sizes[0], n=n,
                           model_args=key_values(declared["model_arg"], "--model-arg"),
                           data_args=key_values(declared["data_arg"], "--data-arg"))
            model_request = commands.ModelRequest(base, repeats=min(repeats, 2), threads=options.threads,
                                                  data_dir=options.data_dir, out=out, overwrite=overwrite)
            result = _interruptible(lambda: commands.model_cases(model_request), out_console)
            _print_model(result, json_out, out_console)
            return
        if opts is None:
            size = n or (10_000 if quick else 60_000)
            request = commands.StandardRequest(size, n_bs1 or min(size, 2_000 if quick else 10_000), repeats, load,
                                            processes and not quick, options.threads, options.device, out,
                                            overwrite)
            result = _interruptible(lambda: commands.standard(request, on_case=_show_standard(out_console) if talk
                                                           else None), out_console)
        else:
            from nncmp.config.fields import parse_list
            from nncmp.config.grid import Grid

            declared["hidden"] = hidden_layers(declared["hidden"], declared.pop("depth"), declared.pop("width"))
            base = RunSpec(**values(RunSpec, declared, ["dataset", "model", "hidden", "act", "batchnorm", "seed"]),
                           epochs=declared["epochs"], n=n,
                           data_args=key_values(declared["data_arg"], "--data-arg"))
            dims = {"optimizer": parse_list("--opts", opts, str, "optimizer names")}
            if batch_sizes:
                dims["batch_size"] = parse_list("--batch-sizes", batch_sizes, int, "integers")
            grid = Grid(base=base, dims=dims, seeds=1)
            request = commands.CasesRequest(grid, reference, options.threads, options.device, options.data_dir,
                                            download, out, overwrite)
            result = _interruptible(lambda: commands.cases(request, on_case=_show_case(out_console, reference)
                                                           if talk else None), out_console)
    _print(result, json_out, out_console, reference, declared["epochs"], declared.get("model") or "mlp")


def _print_model(result: BenchResult, json_out: bool, out: Console) -> None:
    from rich.table import Table

    suite = result.standard or {}
    if json_out:
        print_json({"cases": result.cases.to_dict("records"), **suite, "folder": str(result.folder)})
        return
    table = Table(title=f"{result.dataset}, {result.threads} thread(s)")
    for column in ("case", "runs", "seconds", "samples/s"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in result.cases.to_dict("records"):
        table.add_row(row["case"], str(row["runs"]), f"{row['seconds']:.2f}", f"{row['samples/s']:.0f}")
    out.print(table)
    out.print(f"how the runs train: {suite.get('how')}")
    import math

    stacked = suite.get("stacked_vs_one_by_one", math.nan)
    out.print(("stacked vs one by one: " + (f"{stacked:.2f}x" if math.isfinite(stacked) else "— (they cannot stack)"))
              + f"; nncmp's single run vs the plain PyTorch loop: {suite.get('nncmp_vs_plain_loop', math.nan):.2f}x "
                "(above 1: faster)")
    out.print(f"results: {result.folder}")


def _interruptible(call: Callable[[], BenchResult], out: Console) -> BenchResult:
    try:
        return call()
    except KeyboardInterrupt:
        out.print("interrupted: no benchmark table written")
        raise typer.Exit(130) from None


def _show_standard(out: Console) -> OnCase:
    def show(case: dict[str, Any]) -> None:
        if case["case"] == "processes":
            out.print(f"one compare process of {case['runs']} runs: {case['compare seconds']:.1f} s; {case['runs']} "
                      f"course-loop processes: {case['course processes seconds']:.1f} s ({case['dataset']}, "
                      f"{case['epochs']} epochs)")
        elif case["case"] == "pool":
            out.print(f"process pool: {case['processes runs/s']:.2f} runs/s with {case['jobs']} workers "
                      f"vs {case['local runs/s']:.2f} locally; driver {case['driver ms per run']:.1f} ms per run")
        elif case["case"].endswith("(a core busy)"):
            out.print(f"round {case['round']} {case['case']}: {case['samples/s']:.0f} samples/s "
                      f"({case['threads']} threads, waiting {case['wait policy']})")
        elif case["case"] == "ceiling":
            out.print(f"round {case['round']} matmul ceiling (best so far): {case['GFLOP/s']:.0f} GFLOP/s")
        else:
            out.print(f"round {case['round']} {case['case']}: {case['samples/s']:.0f} samples/s ({case['what']})")

    return show


def _show_case(out: Console, reference: bool) -> OnCase:
    def show(row: dict[str, Any]) -> None:
        out.print(f"{row['optimizer']} bs={row['batch_size']}: {row['samples/s']:.0f} samples/s"
                  + (f", course loop {row['ref samples/s']:.0f} samples/s" if reference else ""))

    return show


def _print(result: BenchResult, json_out: bool, out: Console, reference: bool, epochs: int, model: str) -> None:
    from nncmp.output.terminal import simple_table

    suite = result.standard
    if json_out:
        print_json(suite if suite is not None else {"cases": result.cases.to_dict("records"),
                                                    "threads": result.threads, "device": result.device})
        return
    if suite is not None:
        out.print(simple_table("Speed per case", suite["cases"], (
            f"MLP 784-256-128-10 on synthetic MNIST-shaped data, {suite['n']} examples ({suite['n_bs1']} at batch "
            f"size 1), device {result.device}, {suite['threads']} threads, matmul ceiling "
            f"{suite['ceiling_gflops']:.0f} GFLOP/s, fastest of {suite['repeats']} round(s) per case. samples/s "
            "counts every model's examples (model-samples/s); GFLOP/s at "
            f"{suite['flops_per_example'] / 1e6:.2f} MFLOP per training example; seconds exclude evaluation.")))
        out.print(simple_table("Figures", result.figures.to_dict("records"),
                               "Ratios of the cases above, measured in this run."))
    else:
        caption = (f"{result.dataset}, {model}, {epochs} epoch(s) per case, device {result.device}, "
                   f"{result.threads} threads. Seconds exclude evaluation. peak MB: the process's peak resident "
                   "memory during the case (torch alone holds most of it); peak rise MB: how far it rose above the "
                   "case's start.")
        if reference:
            caption += " speed-up = engine samples/s ÷ course-loop samples/s."
        out.print(simple_table("Engine speed", result.cases.to_dict("records"), caption))
    out.print(f"results: {result.folder}")
