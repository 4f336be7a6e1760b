"""`nncmp landscape RESULTS_DIR`: the loss over a plane through the tracked weights, with every
configuration's path (landscape.py), the straight-line interpolations, and their figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from nncmp.options import (
    DeviceOpt,
    QuietOpt,
    ThreadsOpt,
    UsageFailure,
    check_device,
    check_threads,
    pick_device,
    set_threads,
    user_errors,
)

PLANES = ("pca", "random")


def landscape(
    results_dir: Annotated[Path, typer.Argument(help="A results folder of compare or train run with --track-weights.",
                                                metavar="RESULTS_DIR", show_default=False)],
    plane: Annotated[str, typer.Option(help="pca: the paths' two principal directions; random: two "
                                       "filter-normalised Gaussian directions around --center (Li et al. 2018).")]
    = "pca",
    center: Annotated[str | None, typer.Option(help="random plane: the configuration whose final weights it is "
                                               "centred on (a config id or its leading parts).",
                                               show_default="the first tracked")] = None,
    resolution: Annotated[int, typer.Option(help="Grid points along each axis of the plane.")] = 21,
    points: Annotated[int, typer.Option(help="Training examples the loss is evaluated on.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seeds the random plane and the choice of examples.")] = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
    plot: Annotated[bool, typer.Option(help="Write landscape.png and interpolation.png.")] = True,
    quiet: QuietOpt = False,
) -> None:
    """A real network's loss landscape on a plane, with every tracked configuration's path across it."""
    from nncmp.results import store

    check_threads(threads)
    check_device(device)
    if plane not in PLANES:
        raise UsageFailure(f"--plane: unknown value {plane!r}; choose from: {', '.join(PLANES)}")
    if resolution < 2:
        raise UsageFailure(f"--resolution must be >= 2, got {resolution}")
    if points < 1:
        raise UsageFailure(f"--points must be >= 1, got {points}")
    if center is not None and plane != "random":
        raise UsageFailure("--center applies only to --plane random")
    folder = Path(results_dir)
    with user_errors():
        config = store.read_config(folder)
    if not any((folder / "weights").glob("*.npz")):
        raise UsageFailure(f"{folder} has no tracked weights (weights/*.npz): record them with "
                           "nncmp compare --track-weights (or nncmp train --track-weights), then run landscape")
    device = pick_device(device, threads)
    set_threads(threads)
    with user_errors(), store.Lock(folder):
        run(folder, config, plane, center, resolution, points, seed, plot, quiet, device)


def run(folder: Path, config: dict[str, Any], kind: str, center: str | None, resolution: int, n_points: int,
        seed: int, plot: bool, quiet: bool, device: str = "cpu") -> None:
    import numpy as np
    import pandas as pd

    from nncmp.explore import landscape as ls
    from nncmp.training import weights
    from nncmp.results import store
    from nncmp.registry.datasets import load
    from nncmp.output.terminal import make_console, simple_table
    from nncmp.spec.run import RunSpec

    console = make_console()
    started = time.perf_counter()
    runs = weights.read(folder)
    spec = RunSpec(**runs[0]["meta"]["spec"])
    data_dir = (config.get("options") or {}).get("data_dir")
    data = load(spec.dataset, n=spec.n, data_dir=data_dir)
    evaluate = ls.Evaluator(spec, data, n_points, seed, device)
    if runs[0]["weights"].shape[1] != sum(int(np.prod(s)) for s in evaluate.shapes):
        raise store.StoreError(f"{runs[0]['path']}: its weights do not fit the model {spec.model} of this folder")
    if kind == "pca":  # a plane per set of runs that share their initial weights: one per init
        groups = ls.by_start(runs)
        planes = [ls.pca_plane([r["weights"] for r in g], g[0]["weights"][0], g[0]["meta"]["run_id"]) for g in groups]
    else:
        chosen = _find_run(runs, center)
        groups = [runs]
        planes = [ls.random_plane(chosen["weights"][-1], evaluate.shapes, seed, chosen["meta"]["run_id"])]
    names = [ls.panel_name(g) for g in groups]
    trajectory_rows, surface_rows = [], []
    for name, group, plane in zip(names, groups, planes):
        # Every tracked point: where it projects, how far it is from the plane, and its own loss.
        rows = []
        for r in group:
            a, b, distance = plane.project(r["weights"].astype(np.float64))
            travelled = np.linalg.norm(r["weights"] - r["weights"][0], axis=1)
            loss, acc = evaluate(list(r["weights"]))
            rows += [{"panel": name, "config": r["meta"]["config"], "run_id": r["meta"]["run_id"],
                      "epoch": float(r["epoch"][k]), "step": int(r["step"][k]), "a": float(a[k]), "b": float(b[k]),
                      "loss": loss[k], "acc": acc[k], "distance": float(distance[k]), "travelled": float(travelled[k])}
                     for k in range(len(a))]
        trajectory_rows += rows
        xs, ys = ls.grid_axes([r["a"] for r in rows], [r["b"] for r in rows], resolution,
                              1.0 if kind == "random" else 0.0)
        grid = [(float(a), float(b)) for b in ys for a in xs]
        loss, acc = evaluate([plane.point(a, b) for a, b in grid])
        surface_rows += [{"panel": name, "a": g[0], "b": g[1], "loss": lo, "acc": ac}
                         for g, lo, ac in zip(grid, loss, acc)]
    trajectories = pd.DataFrame(trajectory_rows)
    surface = pd.DataFrame(surface_rows)
    alphas = ls.interpolation_alphas()
    interpolation_rows = []
    for r in runs:
        start, end = r["weights"][0].astype(np.float64), r["weights"][-1].astype(np.float64)
        loss, acc = evaluate([start + t * (end - start) for t in alphas])
        interpolation_rows += [{"config": r["meta"]["config"], "run_id": r["meta"]["run_id"], "alpha": t,
                                "loss": lo, "acc": ac} for t, lo, ac in zip(alphas, loss, acc)]
    interpolation = pd.DataFrame(interpolation_rows)
    seconds = time.perf_counter() - started
    store.write_csv(folder / "landscape.csv", surface)
    store.write_csv(folder / "trajectories.csv", trajectories)
    store.write_csv(folder / "interpolation.csv", interpolation)
    labels = {name: ls.describe_plane(plane) for name, plane in zip(names, planes)}
    store.atomic_write_text(folder / "landscape.json", json.dumps({
        "plane": kind, "resolution": resolution, "points": evaluate.n, "seed": seed, "seconds": round(seconds, 2),
        "device": device,
        "panels": [{"panel": name, "origin_or_center": plane.center, "explained_variance": plane.explained,
                    "axes": list(labels[name]), "runs": [r["meta"]["run_id"] for r in group]}
                   for name, group, plane in zip(names, groups, planes)]}, indent=2) + "\n")
    if plot:
        from nncmp.explore.landscape_plots import interpolation_figure, landscape_figure

        landscape_figure(surface, trajectories, labels, folder / "landscape.png",
                         f"Training loss on a {kind} plane through the weights ({evaluate.n} examples)")
        interpolation_figure(interpolation, folder / "interpolation.png")
    if not quiet:
        rows = []
        for run_id, g in trajectories.groupby("run_id", sort=False):
            last = g.iloc[-1]
            line = interpolation[interpolation["run_id"] == run_id].set_index("alpha")["loss"]
            inside = line[(line.index >= 0) & (line.index <= 1)]
            rows.append({"configuration": last["config"], "end (a, b)": f"({last['a']:.3g}, {last['b']:.3g})",
                         "final loss": f"{last['loss']:.4g}",
                         "off the plane": f"{last['distance'] / max(last['travelled'], 1e-12):.0%} of its travel",
                         "barrier on the line": f"{inside.max() - max(inside.iloc[0], inside.iloc[-1]):.3g}"})
        axes = "; ".join(f"{name}: {a}, {b}" for name, (a, b) in labels.items())
        caption = (f"{axes}. {resolution}×{resolution} grid per panel on {evaluate.n} training examples "
                   f"in {seconds:.1f}s. off the plane: the final weights' distance from the plane as a share of "
                   "their distance from the start; barrier: the highest loss on the straight line from the initial "
                   "to the final weights above the higher of its two ends (0: no bump).")
        console.print(simple_table("Landscape", rows, caption=caption))
    console.print(f"results: {folder}  (landscape.csv, trajectories.csv, interpolation.csv"
                  + (", landscape.png, interpolation.png)" if plot else ")"))


def _find_run(runs: list[dict[str, Any]], center: str | None) -> dict[str, Any]:
    if center is None:
        return runs[0]
    matches = [r for r in runs if r["meta"]["config"] == center or r["meta"]["config"].startswith(center + "/")
               or r["meta"]["run_id"] == center]
    configs = sorted({r["meta"]["config"] for r in matches})
    if len(configs) != 1:
        known = ", ".join(sorted({r["meta"]["config"] for r in runs}))
        what = "no tracked configuration" if not configs else f"{len(configs)} configurations"
        raise UsageFailure(f"--center {center!r} matches {what}; tracked: {known}")
    return matches[0]
