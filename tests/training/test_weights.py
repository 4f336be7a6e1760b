"""--track-weights: which runs, which steps, the weights themselves, and that tracking changes no number;
on the shared tracked comparison (tests/conftest.py), on train, and across an interrupt and resume."""

import numpy as np
import pandas as pd
import pytest
import torch

from nncmp.training import weights
from tests.conftest import TRACKED


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

    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import load
    from nncmp.registry.losses import criterion
    from nncmp.registry.models import build_model
    from nncmp.training.engines.single import evaluate

    data = load("digits")
    metrics = pd.read_csv(tracked / "metrics.csv")
    for r in weights.read(tracked):
        spec = RunSpec(**r["meta"]["spec"])
        model = build_model(spec, data.shape, data.n_out)
        vector_to_parameters(torch.from_numpy(r["weights"][-1]), model.parameters())
        loss, _ = evaluate(model, criterion(data), data.x_val, data.y_val)
        row = metrics[(metrics["run_id"] == r["meta"]["run_id"]) & (metrics["epoch"] == 2)]
        assert loss == pytest.approx(float(row["val_loss"].iloc[0]), rel=1e-5)


def test_tracking_changes_no_number(tracked, cli, tmp_path):
    code, out, _ = cli(*TRACKED, "--out", tmp_path)
    assert code == 0, out
    plain, with_weights = (pd.read_csv(f / "metrics.csv").drop(columns="seconds") for f in (tmp_path, tracked))
    pd.testing.assert_frame_equal(plain, with_weights)


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
