"""`nncmp landscape`: a real network's loss over a plane through weight space, with every tracked
configuration's path across it (the runs' weights from --track-weights, weights.py).

The plane is θ(a, b) = origin + a·d1 + b·d2:

- pca:    d1, d2 the first two principal directions of the moves of all tracked runs that share their
          initial weights (paired seeds: every optimizer with one init), each run weighing the same;
          origin those initial weights, so all their paths start at (0, 0) on one plane. Runs with other
          initial weights (another init) get a plane, a grid and a panel of their own.
- random: two Gaussian directions, filter-normalised (Li et al. 2018: each row of a weight matrix, each
          convolution filter, scaled to the norm of the same row of the centre's weights; biases and
          normalisation parameters get no component) around the centre run's final weights.

A point of a path is placed where it projects onto the plane (least squares), and its distance from the
plane is kept beside it: a path can leave the plane far behind, and the picture then says so.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import Data

CHUNK = 24  # models evaluated at once (stacked); bounds memory: CHUNK × the model's weights


@dataclass
class Plane:
    kind: str
    origin: np.ndarray  # [P] float64
    d1: np.ndarray
    d2: np.ndarray
    explained: tuple[float, float] | None = None  # pca: fractions of the points' variance along d1, d2
    center: str = ""  # the run the plane is centred on (random) or starts from (pca)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, distance from the plane) of each row of `points` [N, P] (least squares on d1, d2)."""
        import numpy as np

        basis = np.stack([self.d1, self.d2], axis=1)  # [P, 2]
        rel = points - self.origin
        coef, *_ = np.linalg.lstsq(basis, rel.T, rcond=None)  # [2, N]
        residual = rel - (basis @ coef).T
        return coef[0], coef[1], np.linalg.norm(residual, axis=1)

    def point(self, a: float, b: float) -> np.ndarray:
        return self.origin + a * self.d1 + b * self.d2


def pca_plane(trajectories: list[np.ndarray], origin: np.ndarray, center: str = "") -> Plane:
    """The two principal directions of the trajectories' ([T_i, P] arrays) moves, in float64.

    Every trajectory weighs the same: its displacements from its start are divided by the length of its
    whole move, and its points count 1/T_i each. Otherwise one optimizer that travels fifty times as far
    (RMSProp at a high rate), or one tracked every 10 steps, would choose the plane alone.
    """
    import numpy as np

    moves, weight = [], []
    for t in trajectories:
        t = np.asarray(t, dtype=np.float64)
        length = np.linalg.norm(t[-1] - t[0])
        moves.append((t - t[0]) / (length if length > 0 else 1.0))
        weight.append(np.full(len(t), 1.0 / len(t)))
    points, w = np.concatenate(moves), np.concatenate(weight)
    w /= w.sum()
    centered = (points - w @ points) * np.sqrt(w)[:, None]
    # The points' Gram matrix is small (N × N) where the weights are many: its eigenvectors give the
    # principal directions without a P × P covariance.
    gram = centered @ centered.T
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    total = float(values.sum())
    if len(values) < 2 or values[1] <= total * 1e-12:
        raise SpecError("the tracked weights hardly move (they span less than a plane): train longer or track more")
    directions = []
    for k in range(2):
        d = centered.T @ vectors[:, k]
        directions.append(d / np.linalg.norm(d))
    return Plane("pca", np.asarray(origin, dtype=np.float64), directions[0], directions[1],
                 (float(values[0] / total), float(values[1] / total)), center)


def filter_normalised(direction: np.ndarray, weights: np.ndarray, shapes: list[tuple[int, ...]]) -> np.ndarray:
    """Li et al.'s filter normalisation of a flat direction: each row of each ≥2-D parameter (a Linear's
    output unit, a convolution's filter) scaled to that row's norm in `weights`; 1-D parameters (biases,
    normalisation) zeroed."""
    import numpy as np

    out = np.zeros_like(direction)
    start = 0
    for shape in shapes:
        size = int(np.prod(shape))
        if len(shape) >= 2:
            d = direction[start:start + size].reshape(shape[0], -1)
            w = weights[start:start + size].reshape(shape[0], -1)
            norms = np.linalg.norm(d, axis=1, keepdims=True)
            out[start:start + size] = (d * np.linalg.norm(w, axis=1, keepdims=True) / np.where(norms > 0, norms, 1)
                                       ).reshape(-1)
        start += size
    return out


def random_plane(center: np.ndarray, shapes: list[tuple[int, ...]], seed: int = 0, name: str = "") -> Plane:
    import numpy as np

    rng = np.random.default_rng(seed)
    center = np.asarray(center, dtype=np.float64)
    d1, d2 = (filter_normalised(rng.standard_normal(len(center)), center, shapes) for _ in range(2))
    return Plane("random", center, d1, d2, None, name)


class Evaluator:
    """Loss and accuracy of flat weight vectors on a fixed set of training examples, many at a time."""

    def __init__(self, spec: RunSpec, data: Data, points: int, seed: int = 0, device: str = "cpu"):
        import torch

        from nncmp.registry.models import build_model
        from nncmp.training.engines.single import criterion_of

        self.template = build_model(spec, data.shape, data.n_out, data.task, data.vocab).to(device)
        self.shapes = [tuple(p.shape) for p in self.template.parameters()]
        n = min(points, data.n_train)
        order = torch.randperm(data.n_train, generator=torch.Generator().manual_seed(seed))[:n]
        self.x, self.y = data.x_train[order].to(device), data.y_train[order].to(device)
        self.crit = criterion_of(spec, data)
        self.n = n

    def __call__(self, vectors: list[np.ndarray]) -> tuple[list[float], list[float | None]]:
        import torch
        from torch.nn.utils import vector_to_parameters

        from nncmp.training.engines.stacked import Stack, evaluate_stack

        losses: list[float] = []
        accs: list[float | None] = []
        for i in range(0, len(vectors), CHUNK):
            models = []
            for v in vectors[i:i + CHUNK]:
                model = copy.deepcopy(self.template)
                vector_to_parameters(torch.as_tensor(v, dtype=torch.float32, device=self.x.device),
                                     model.parameters())
                models.append(model.eval())
            loss, acc = evaluate_stack(Stack(models), self.x, self.y, self.crit)
            losses += loss
            accs += acc
        return losses, accs


def grid_axes(a: npt.ArrayLike, b: npt.ArrayLike, resolution: int,
              at_least: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Grid coordinates covering the paths (and the origin) with a quarter of their extent to spare."""
    import numpy as np

    axes = []
    for values in (a, b):
        lo, hi = min(0.0, float(np.min(values))), max(0.0, float(np.max(values)))
        lo, hi = min(lo, -at_least), max(hi, at_least)
        pad = 0.25 * max(hi - lo, 1e-6)
        axes.append(np.linspace(lo - pad, hi + pad, resolution))
    return axes[0], axes[1]


def interpolation_alphas() -> list[float]:
    """Goodfellow et al. 2015: from the initial (α = 0) to the final weights (α = 1), and a little beyond."""
    return [round(-0.2 + 0.05 * k, 2) for k in range(29)]


def by_start(runs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Runs grouped by their initial weights (one group per init with paired seeds), in order of appearance."""
    groups: dict[bytes, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r["weights"][0].tobytes(), []).append(r)
    return list(groups.values())


def panel_name(group: list[dict[str, Any]]) -> str:
    inits = sorted({r["meta"]["init"] for r in group})
    seeds = sorted({r["meta"]["seed"] for r in group})
    return f"{'+'.join(inits)}, seed {'+'.join(map(str, seeds))}"


def describe_plane(plane: Plane) -> tuple[str, str]:
    if plane.kind == "pca" and plane.explained:
        return (f"PC1 ({100 * plane.explained[0]:.1f}% of the paths' variance)",
                f"PC2 ({100 * plane.explained[1]:.1f}%)")
    return "direction 1 (random, filter-normalised)", "direction 2 (random, filter-normalised)"


def finite(values: list[float]) -> list[float]:
    return [v if v is not None and math.isfinite(v) else math.nan for v in values]
