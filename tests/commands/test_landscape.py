"""nncmp landscape on the shared tracked comparison (tests/conftest.py): the plane, the paths, the
interpolations, panels per initial weights, and bad input."""

import json

import pandas as pd
import pytest


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
