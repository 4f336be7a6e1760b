"""--track-weights and nncmp landscape: the plane, the projections, the grid's values against the tracked
weights evaluated directly, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from nncmp.explore import landscape as ls
from nncmp.training import weights

TRACKED = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "he", "--seeds", "2",
           "--epochs", "2", "--no-plot", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    from tests.conftest import run_cli

    folder = tmp_path_factory.mktemp("tracked") / "run"
    code, out, _ = run_cli(*TRACKED, "--track-weights", "--track-every", "40", "--out", folder)
    assert code == 0, out
    return folder


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


def test_track_weights_saves_the_first_seed_of_every_configuration(tracked):
    runs = weights.read(tracked)
    assert [r["meta"]["run_id"] for r in runs] == ["adam/he-normal/lr=0.001/bs=64/seed=0",
                                                   "sgd/he-normal/lr=0.01/bs=1/seed=0"]
    for r in runs:
        per_epoch = {"adam": 23, "sgd": 1437}[r["meta"]["optimizer"]]
        expected = sorted({*range(0, 2 * per_epoch + 1, 40), per_epoch, 2 * per_epoch})
        assert list(r["step"]) == expected  # every 40 steps, and each epoch's end
        assert r["weights"].shape == (len(expected), 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        assert r["epoch"][-1] == 2.0
    # Paired seeds: both configurations start from the same weights.
    assert np.array_equal(runs[0]["weights"][0], runs[1]["weights"][0])


def test_tracked_weights_are_the_weights_the_run_ends_with(tracked):
    """The last tracked point of a run is its final model: evaluating it gives the run's recorded val loss."""
    from torch.nn.utils import vector_to_parameters

    from nncmp.registry.datasets import load
    from nncmp.registry.models import build_model
    from nncmp.spec.run import RunSpec
    from nncmp.training.engines.single import evaluate, loss_function

    data = load("digits")
    metrics = pd.read_csv(tracked / "metrics.csv")
    for r in weights.read(tracked):
        spec = RunSpec(**r["meta"]["spec"])
        model = build_model(spec, data.shape, data.n_out)
        vector_to_parameters(torch.from_numpy(r["weights"][-1]), model.parameters())
        loss, _ = evaluate(model, loss_function(data), data.x_val, data.y_val, True)
        row = metrics[(metrics["run_id"] == r["meta"]["run_id"]) & (metrics["epoch"] == 2)]
        assert loss == pytest.approx(float(row["val_loss"].iloc[0]), rel=1e-5)


def test_tracking_changes_no_number(tracked, cli, tmp_path):
    code, out, _ = cli(*TRACKED, "--out", tmp_path)
    assert code == 0, out
    plain, with_weights = (pd.read_csv(f / "metrics.csv").drop(columns="seconds") for f in (tmp_path, tracked))
    pd.testing.assert_frame_equal(plain, with_weights)


def test_landscape_writes_the_plane_the_paths_and_the_interpolations(tracked, cli):
    code, out, _ = cli("landscape", tracked, "--resolution", "5", "--points", "300")
    assert code == 0, out
    surface = pd.read_csv(tracked / "landscape.csv")
    assert len(surface) == 25 and list(surface.columns) == ["panel", "a", "b", "loss", "acc"]
    assert set(surface["panel"]) == {"he-normal, seed 0"}  # one init: one plane
    paths = pd.read_csv(tracked / "trajectories.csv")
    starts = paths[paths["step"] == 0]
    assert len(starts) == 2 and (starts[["a", "b"]].abs() < 1e-6).all().all()  # one start, at the origin
    interpolation = pd.read_csv(tracked / "interpolation.csv")
    assert set(interpolation["alpha"].round(2)) >= {0.0, 0.5, 1.0}
    for name in ("landscape.png", "interpolation.png"):
        assert (tracked / name).stat().st_size > 1000
    meta = json.loads((tracked / "landscape.json").read_text())
    (panel,) = meta["panels"]
    assert meta["plane"] == "pca" and 0 < sum(panel["explained_variance"]) <= 1 + 1e-9
    # The interpolation's ends are the tracked initial and final weights: their losses are the paths'.
    for run_id, g in paths.groupby("run_id"):
        line = interpolation[interpolation["run_id"] == run_id].set_index("alpha")["loss"]
        assert line.loc[0.0] == pytest.approx(g["loss"].iloc[0], rel=1e-5)
        assert line.loc[1.0] == pytest.approx(g["loss"].iloc[-1], rel=1e-4)
    code, out, _ = cli("landscape", tracked, "--plane", "random", "--center", "adam", "--resolution", "3",
                       "--points", "200", "--no-plot")
    assert code == 0, out
    assert json.loads((tracked / "landscape.json").read_text())["panels"][0]["origin_or_center"].startswith("adam/")


def test_runs_with_other_initial_weights_get_a_plane_of_their_own(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam,minibatch", "--inits", "xavier,he",
                       "--seeds", "1", "--epochs", "1", "--no-plot", "--quiet", "--track-weights", "--out", tmp_path)
    assert code == 0, out
    code, out, _ = cli("landscape", tmp_path, "--resolution", "3", "--points", "100", "--no-plot")
    assert code == 0, out
    paths = pd.read_csv(tmp_path / "trajectories.csv")
    assert paths.groupby("panel")["config"].nunique().to_dict() == {"he-normal, seed 0": 2, "xavier-normal, seed 0": 2}
    starts = paths[paths["step"] == 0]
    assert (starts[["a", "b"]].abs() < 1e-6).all().all()  # each panel's runs start at its origin


def test_the_landscape_at_the_origin_is_the_loss_of_the_tracked_weights(tracked):
    """The stacked evaluation of grid points against a plain model holding the same weights."""
    from torch.nn.utils import vector_to_parameters

    from nncmp.registry.datasets import load
    from nncmp.registry.models import build_model
    from nncmp.spec.run import RunSpec

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


@pytest.mark.parametrize("args, message", [
    (["landscape", "{plain}"], "has no tracked weights (weights/*.npz): record them with nncmp compare "
                               "--track-weights"),
    (["landscape", "{tracked}", "--resolution", "1"], "--resolution must be >= 2"),
    (["landscape", "{tracked}", "--plane", "tsne"], "--plane: unknown value 'tsne'"),
    (["landscape", "{tracked}", "--center", "adam"], "--center applies only to --plane random"),
    (["landscape", "{tracked}", "--plane", "random", "--center", "rmsprop"], "--center 'rmsprop' matches no"),
    (["compare", "--track-every", "5"], "--track-every applies only with --track-weights"),
    (["compare", "--track-weights", "--track-every", "0"], "--track-every must be >= 1"),
    (["train", "--track-weights", "--batchnorm"], "--track-weights: BatchNorm's running statistics"),
    (["compare", "--opts", "adam", "--track-weights", "--norms", "none,batchnorm"], "--track-weights: BatchNorm's"),
])
def test_bad_input(tracked, cli, tmp_path, args, message):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"command": "compare"}))
    args = [a.format(tracked=tracked, plain=plain) for a in args]
    code, out, result = cli(*args)
    assert code == 2, out
    assert message in result.stderr, result.stderr
    assert "Traceback" not in out


def test_train_tracks_its_run_on_the_single_engine(cli, tmp_path):
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "lion", "--epochs", "2", "--track-weights",
                       "--track-every", "5", "--no-plot", "--quiet", "--out", tmp_path)
    assert code == 0, out
    (run,) = weights.read(tmp_path)
    assert list(run["step"]) == sorted({*range(0, 47, 5), 23, 46})
    assert run["meta"]["optimizer"] == "lion"


def test_an_interrupted_tracked_comparison_resumes_with_every_runs_weights(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    args = ["compare", "--dataset", "digits", "--opts", "adam,minibatch,momentum", "--inits", "he", "--seeds", "1",
            "--epochs", "1", "--no-plot", "--quiet", "--track-weights", "--group-size", "1"]
    from tests.faults import InterruptGroup

    interrupt = InterruptGroup(at=3)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*args, "--out", tmp_path)
    assert code == 130, out
    assert len(weights.read(tmp_path)) == 2  # the two finished runs' weights are on disk
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    code, out, _ = cli("resume", tmp_path)
    assert code == 0, out
    assert [r["meta"]["optimizer"] for r in weights.read(tmp_path)] == ["adam", "minibatch", "momentum"]
    code, out, _ = cli("landscape", tmp_path, "--resolution", "3", "--points", "100", "--no-plot")
    assert code == 0, out
