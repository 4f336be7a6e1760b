"""TensorBoard: the event files read back with TensorBoard's own reader equal metrics.csv, value by value."""


import pandas as pd
import pytest

pytest.importorskip("tensorboard")

ARGS = ["compare", "--dataset", "digits", "--opts", "adam,sgd", "--inits", "he", "--seeds", "2", "--epochs", "2",
        "--schedule", "cosine", "--no-plot", "--quiet"]


def read_run(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def assert_matches(logdir, metrics):
    for run_id, rows in metrics.groupby("run_id"):
        acc = read_run(logdir / run_id)
        tags = set(acc.Tags()["scalars"])
        assert {"train_loss", "val_loss", "train_acc", "val_acc", "lr", "by_examples/val_loss"} <= tags, tags
        for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
            by_epoch = {e.step: e.value for e in acc.Scalars(name)}
            by_examples = {e.step: e.value for e in acc.Scalars(f"by_examples/{name}")}
            for r in rows.to_dict("records"):
                # Events hold float32: equal to the CSV's float64 to float32 rounding.
                assert by_epoch[r["epoch"]] == pytest.approx(r[name], rel=2**-23), (run_id, name, r["epoch"])
                assert by_examples[r["examples"]] == pytest.approx(r[name], rel=2**-23)
        lrs = {e.step: e.value for e in acc.Scalars("lr")}
        assert [lrs[e] for e in sorted(lrs)] == pytest.approx(list(rows.sort_values("epoch")["lr_end"]), rel=2**-23,
                                                             abs=1e-12)
        assert acc.PluginTagToContent("hparams")  # the HParams view has the run


def test_compare_writes_every_run_as_it_finishes_and_export_writes_the_same(cli, tmp_path):
    code, out, _ = cli(*ARGS, "--out", tmp_path / "run", "--tensorboard", tmp_path / "live")
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert metrics["run_id"].nunique() == 4
    assert_matches(tmp_path / "live", metrics)
    code, out, _ = cli("export", tmp_path / "run", "--tensorboard", tmp_path / "exported")
    assert code == 0 and "4 runs written" in out
    assert_matches(tmp_path / "exported", metrics)
    # Exporting again replaces a run's events instead of doubling them.
    assert cli("export", tmp_path / "run", "--tensorboard", tmp_path / "exported")[0] == 0
    acc = read_run(tmp_path / "exported" / metrics["run_id"].iloc[0])
    assert len(acc.Scalars("val_loss")) == 3


def test_train_writes_its_run(cli, tmp_path):
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "lion", "--epochs", "2", "--no-plot", "--quiet",
                       "--out", tmp_path / "run", "--tensorboard", tmp_path / "tb")
    assert code == 0, out
    assert_matches(tmp_path / "tb", pd.read_csv(tmp_path / "run" / "metrics.csv"))


def test_without_tensorboard_the_flag_says_how_to_install_it(cli, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    for args in (["train", "--tensorboard", tmp_path], ["compare", "--tensorboard", tmp_path],
                 ["export", tmp_path, "--tensorboard", tmp_path]):
        code, out, result = cli(*args)
        assert code == 2 and "pip install 'nncmp[tensorboard]'" in result.stderr, result.stderr
