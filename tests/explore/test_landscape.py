"""The landscape's geometry: a PCA plane recovers the plane of its paths, filter-normalised directions,
and the stacked evaluation of a grid point against a plain model with the same weights."""

import numpy as np
import pytest
import torch

from nncmp.explore import landscape as ls
from nncmp.training import weights


def test_pca_of_a_path_in_a_plane_recovers_the_plane():
    rng = np.random.default_rng(0)
    u, v = np.linalg.qr(rng.standard_normal((500, 2)))[0].T
    origin = rng.standard_normal(500)
    coords = [(0, 0), (1, 0.5), (2, -0.3), (2.5, 1.5), (3, 1)]
    path = np.stack([origin + a * u + b * v for a, b in coords])
    other = np.stack([origin + a * u - 2 * b * v for a, b in coords])  # a second path on the same plane
    plane = ls.pca_plane([path, other], origin)
    assert sum(plane.explained) == pytest.approx(1.0)
    a, b, distance = plane.project(path)
    assert distance == pytest.approx(np.zeros(5), abs=1e-9)
    assert (a[0], b[0]) == pytest.approx((0, 0), abs=1e-12)  # the shared start is the origin
    # Projected coordinates are the true ones up to a rotation of the plane: distances are preserved...
    for i in range(5):
        assert np.hypot(a[i], b[i]) == pytest.approx(np.hypot(*coords[i]))
    # ... and the final weights come back exactly from their coordinates.
    assert plane.point(a[-1], b[-1]) == pytest.approx(path[-1])


def test_filter_normalisation_gives_each_row_its_weight_rows_norm_and_biases_nothing():
    rng = np.random.default_rng(1)
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    w = rng.standard_normal(sum(int(np.prod(s)) for s in shapes))
    d = ls.filter_normalised(rng.standard_normal(len(w)), w, shapes)
    start = 0
    for shape in shapes:
        size = int(np.prod(shape))
        if len(shape) == 2:
            rows_d = d[start:start + size].reshape(shape)
            rows_w = w[start:start + size].reshape(shape)
            assert np.linalg.norm(rows_d, axis=1) == pytest.approx(np.linalg.norm(rows_w, axis=1))
        else:
            assert not d[start:start + size].any()
        start += size


def test_the_landscape_at_the_origin_is_the_loss_of_the_tracked_weights(tracked):
    """The stacked evaluation of grid points against a plain model holding the same weights."""
    from torch.nn.utils import vector_to_parameters

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import load
    from nncmp.registry.models import build_model

    data = load("digits")
    runs = weights.read(tracked)
    spec = RunSpec(**runs[0]["meta"]["spec"])
    evaluate = ls.Evaluator(spec, data, 400)
    plane = ls.pca_plane([r["weights"] for r in runs], runs[0]["weights"][0])
    (at_origin,), _ = evaluate([plane.point(0.0, 0.0)])
    model = build_model(spec, data.shape, data.n_out).eval()
    vector_to_parameters(torch.from_numpy(runs[0]["weights"][0]), model.parameters())
    with torch.no_grad():
        direct = torch.nn.functional.cross_entropy(model(evaluate.x), evaluate.y).item()
    assert at_origin == pytest.approx(direct, rel=1e-5)
