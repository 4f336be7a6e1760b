"""landscape: a real network's loss over a plane through the weights a run tracked (explore/landscape.py),
every tracked configuration's path across it, and the straight-line interpolations."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import pick_device, set_threads
from nncmp.errors import SpecError
from nncmp.registry.closest import unknown
from nncmp.results import schema, store

if TYPE_CHECKING:
    import pandas as pd

PLANES = ("pca", "random")


@dataclass(frozen=True)
class LandscapeRequest:
    folder: Path  # a results folder of compare or train run with --track-weights
    plane: str = "pca"
    center: str | None = None  # random plane: the configuration it is centred on (None: the first tracked)
    resolution: int = 21
    points: int = 2000  # training examples the loss is evaluated on
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    plot: bool = True

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise SpecError(f"--threads must be >= 1, got {self.threads}")
        if self.plane not in PLANES:
            raise SpecError(f"--plane: {unknown('value', self.plane, PLANES)}")
        if self.resolution < 2:
            raise SpecError(f"--resolution must be >= 2, got {self.resolution}")
        if self.points < 1:
            raise SpecError(f"--points must be >= 1, got {self.points}")
        if self.center is not None and self.plane != "random":
            raise SpecError("--center applies only to --plane random")


@dataclass
class LandscapeResult:
    folder: Path
    surface: pd.DataFrame  # landscape.csv: the loss at each grid point of each panel
    trajectories: pd.DataFrame  # trajectories.csv: every tracked point, projected
    interpolation: pd.DataFrame  # interpolation.csv: the loss on each run's straight line
    labels: dict[str, tuple[str, str]]  # panel → its axes
    seconds: float
    resolution: int
    points: int
    plot: bool


def landscape(request: LandscapeRequest) -> LandscapeResult:
    folder = Path(request.folder)
    config = store.read_config(folder)
    if not any((folder / schema.WEIGHTS).glob("*.npz")):
        raise SpecError(f"{folder} has no tracked weights (weights/*.npz): record them with "
                        "nncmp compare --track-weights (or nncmp train --track-weights), then run landscape")
    device = pick_device(request.device, request.threads)
    set_threads(request.threads)
    with store.Lock(folder):
        return _run(folder, config, request.plane, request.center, request.resolution, request.points,
                    request.seed, request.plot, device)


def _run(folder: Path, config: dict[str, Any], kind: str, center: str | None, resolution: int, n_points: int,
         seed: int, plot: bool, device: str = "cpu") -> LandscapeResult:
    import numpy as np
    import pandas as pd

    from nncmp.config.run import RunSpec
    from nncmp.explore import landscape as ls
    from nncmp.registry.datasets import load
    from nncmp.training import weights

    started = time.perf_counter()
    runs = weights.read(folder)
    spec = RunSpec(**runs[0]["meta"]["spec"])
    data_dir = (config.get("options") or {}).get("data_dir")
    data = load(spec.dataset, data_dir=data_dir, **spec.data_kwargs())
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
    store.write_csv(folder / schema.LANDSCAPE, surface)
    store.write_csv(folder / schema.TRAJECTORIES, trajectories)
    store.write_csv(folder / schema.INTERPOLATION, interpolation)
    labels = {name: ls.describe_plane(plane) for name, plane in zip(names, planes)}
    store.atomic_write_text(folder / schema.LANDSCAPE_JSON, json.dumps({
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
    return LandscapeResult(folder, surface, trajectories, interpolation, labels, seconds, resolution, evaluate.n,
                           plot)


def _find_run(runs: list[dict[str, Any]], center: str | None) -> dict[str, Any]:
    if center is None:
        return runs[0]
    matches = [r for r in runs if r["meta"]["config"] == center or r["meta"]["config"].startswith(center + "/")
               or r["meta"]["run_id"] == center]
    configs = sorted({r["meta"]["config"] for r in matches})
    if len(configs) != 1:
        known = ", ".join(sorted({r["meta"]["config"] for r in runs}))
        what = "no tracked configuration" if not configs else f"{len(configs)} configurations"
        raise SpecError(f"--center {center!r} matches {what}; tracked: {known}")
    return matches[0]
