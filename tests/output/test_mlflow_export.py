"""MLflow: runs logged while a comparison trains and exported afterwards, read back from a real local MLflow
store (SQLite, no server) with MlflowClient, equal metrics.csv value by value and each other; exporting again
adds nothing; bad URIs and a missing mlflow are one line and exit 2."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nncmp.config.run import RunSpec
from tests.conftest import run_cli

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

# MLflow's SQL store warns about its own use of SQLAlchemy: nothing nncmp does or can change.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

ARGS = ["compare", "--dataset", "digits", "--opts", "adam,sgd", "--inits", "he", "--seeds", "2", "--epochs", "2",
        "--schedule", "cosine", "--no-plot", "--quiet"]
# metrics.csv's column of each metric an nncmp run logs
COLUMNS = {"train_loss": "train_loss", "train_acc": "train_acc", "val_loss": "val_loss", "val_acc": "val_acc",
           "lr": "lr_end", "examples": "examples"}


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An MLflow SQLite store with its tables made (seconds of migrations, once); each test copies it."""
    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def new_store(empty_store, tmp_path, monkeypatch):
    """A function making an empty store; MLflow's own environment variables cleared."""
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)

    def make(name: str) -> str:
        shutil.copy(empty_store, tmp_path / f"{name}.db")
        return f"sqlite:///{tmp_path / name}.db"

    return make


@pytest.fixture(scope="module")
def compared(empty_store, tmp_path_factory):
    """A comparison trained with --mlflow: its folder and the store it logged into while training."""
    root = tmp_path_factory.mktemp("compared")
    shutil.copy(empty_store, root / "live.db")
    uri = f"sqlite:///{root / 'live.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        code, out, _ = run_cli(*ARGS, "--out", root / "run", "--mlflow", uri)
    assert code == 0, out
    return root / "run", uri


def shown(run) -> str:
    """A logged run's name, a tuning trial's or a calibration's baseline run's with its phase before it (the run
    a --lrs auto or --tune trial chose has the trial's run id)."""
    phase = run.data.tags.get("nncmp.phase", "training")
    if run.data.tags.get("nncmp.level") != "run" or phase == "training":
        return run.info.run_name
    return f"{phase}:{run.info.run_name}"


def snapshot(uri: str, experiment: str = "nncmp") -> dict:
    """Everything logged, by run name (and phase: shown), MLflow's own ids replaced by the names they point to."""
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    names = {r.info.run_id: shown(r) for r in runs}
    assert len(names) == len(set(names.values())), "a run logged twice"
    out = {}
    for r in runs:
        tags = {k: v for k, v in r.data.tags.items() if k != "mlflow.parentRunId"}
        history = {k: [(m.step, m.value, m.timestamp) for m in client.get_metric_history(r.info.run_id, k)]
                   for k in r.data.metrics}
        out[shown(r)] = {"status": r.info.status, "start": r.info.start_time, "end": r.info.end_time,
                                "parent": names.get(r.data.tags.get("mlflow.parentRunId")), "params": r.data.params,
                                "tags": tags, "metrics": history}
    return out


def assert_matches(logged: dict, folder, parent: str | None = "run") -> None:
    """Each nncmp run of `folder` is an MLflow run: its resolved spec as params, metrics.csv as metrics, its
    ids and state as tags; under the comparison's run."""
    metrics = pd.read_csv(folder / "metrics.csv", dtype={"hidden": str})
    specs = {RunSpec(**s).run_id: s for s in json.loads((folder / "config.json").read_text())["runs"]}
    assert set(metrics["run_id"]) <= set(logged)
    for run_id, rows in metrics.groupby("run_id"):
        run = logged[run_id]
        assert run["status"] == "FINISHED" and run["parent"] == parent
        tags = run["tags"]
        assert tags["nncmp.run_id"] == run_id and tags["nncmp.config"] == rows["config"].iloc[0]
        assert tags["nncmp.status"] == rows["status"].iloc[-1] and tags["nncmp.level"] == "run"
        assert tags["nncmp.folder"] == str(folder.resolve()) and tags["nncmp.records"] == str(len(rows))
        spec, params = specs[run_id], run["params"]
        assert set(params) <= set(spec) | {"norm"}
        for field in ("dataset", "model", "optimizer", "init", "act", "schedule", "norm"):
            assert params[field] == str(rows[field].iloc[0]), field
        assert float(params["lr"]) == rows["lr"].iloc[0] and int(params["batch_size"]) == rows["batch_size"].iloc[0]
        assert int(params["seed"]) == rows["seed"].iloc[0] and params["hidden"] == rows["hidden"].iloc[0]
        assert int(params["epochs"]) == spec["epochs"] and tags["nncmp.phase"] == "training"
        assert_metrics(run, rows, spec.get("steps") is not None)


def assert_metrics(run: dict, rows: pd.DataFrame, by_step: bool = False) -> None:
    """A logged run's metrics are its records' values, at each epoch (or step)."""
    x = rows["step"] if by_step else rows["epoch"]
    for name, column in COLUMNS.items():
        history = sorted((step, value) for step, value, _ in run["metrics"][name])
        # SQLite keeps float64: the CSV's values exactly, each (metric, step) once
        assert history == list(zip(x, rows[column].astype(float))), (rows["run_id"].iloc[0], name)


def assert_trials(logged: dict, folder, parent: str) -> int:
    """Each tuning trial of `folder` (tuning_metrics.csv) is a run tagged nncmp.phase tuning under `parent`:
    its records as metrics, its study and number as tuning.csv has them, its hyperparameters as params; how
    many."""
    metrics = pd.read_csv(folder / "tuning_metrics.csv", dtype={"hidden": str})
    table = pd.read_csv(folder / "tuning.csv")
    for run_id, rows in metrics.groupby("run_id"):
        run = logged[f"tuning:{run_id}"]
        tags, params = run["tags"], run["params"]
        assert run["status"] == "FINISHED" and run["parent"] == parent, run_id
        assert tags["nncmp.phase"] == "tuning" and tags["nncmp.run_id"] == run_id
        assert tags["nncmp.status"] == rows["status"].iloc[-1] and tags["nncmp.records"] == str(len(rows))
        [row] = table[table["run_id"] == run_id].to_dict("records")
        assert (tags["nncmp.kind"], tags["nncmp.study"], tags["nncmp.trial"]) == \
            (row["kind"], str(row["study"]), str(row["trial"]))
        assert params["optimizer"] == row["optimizer"] and float(params["lr"]) == row["lr"]
        assert int(params["batch_size"]) == row["batch_size"] and int(params["seed"]) == rows["seed"].iloc[0]
        for column in ("beta1", "beta2", "weight_decay", "momentum"):  # the hyperparameters the trial has
            if column in row and pd.notna(row[column]):
                assert float(params[column]) == row[column], (run_id, column)
        assert_metrics(run, rows)
    return metrics["run_id"].nunique()


def test_compare_logs_each_run_and_export_logs_the_same(compared, new_store, cli):
    folder, live = compared
    logged = snapshot(live)
    assert_matches(logged, folder)
    comparison = logged["run"]
    assert comparison["status"] == "FINISHED" and comparison["parent"] is None
    assert comparison["tags"]["nncmp.level"] == "comparison" and comparison["tags"]["nncmp.command"] == "compare"
    assert comparison["params"]["grid.optimizers"] == "adam,sgd" and comparison["params"]["data.name"] == "digits"
    assert len(logged) == 1 + 4
    # Exported afterwards into another store: the same runs, params, metrics (timestamps too), tags, statuses.
    assert_exports_as_logged(cli, folder, live, new_store("exported"), logged,
                             "4 runs logged to MLflow experiment 'nncmp'")


def assert_exports_as_logged(cli, folder, live, exported, logged, said):
    """`export` into a new store gives what was logged live; exporting again, into either store, changes
    nothing and logs nothing twice."""
    code, out, _ = cli("export", folder, "--mlflow", exported)
    assert code == 0 and said in out, out
    assert snapshot(exported) == logged
    for uri in (exported, live):
        assert cli("export", folder, "--mlflow", uri)[0] == 0
        assert snapshot(uri) == logged


def test_a_run_logged_in_part_is_completed_once(compared, new_store, cli):
    folder, live = compared
    uri = new_store("partial")
    assert cli("export", folder, "--mlflow", uri)[0] == 0
    whole = snapshot(uri)
    client = MlflowClient(tracking_uri=uri)
    run_id = pd.read_csv(folder / "metrics.csv")["run_id"].iloc[0]
    [run] = client.search_runs([client.get_experiment_by_name("nncmp").experiment_id],
                               f"tags.`nncmp.run_id` = '{run_id}'")
    # As if the export had stopped after the metrics, before the tag that says the run is whole.
    client.delete_tag(run.info.run_id, "nncmp.records")
    assert cli("export", folder, "--mlflow", uri)[0] == 0
    assert snapshot(uri) == whole


def test_failed_and_interrupted_runs(compared, new_store, cli, tmp_path):
    # A folder whose runs.csv says one run failed (it has no records) and one was interrupted.
    folder = tmp_path / "copy"
    shutil.copytree(compared[0], folder)
    runs = pd.read_csv(folder / "runs.csv", dtype=str, keep_default_na=False)
    failed, interrupted = runs["run_id"].iloc[0], runs["run_id"].iloc[1]
    runs.loc[0, ["status", "error"]] = ["failed", "RuntimeError: out of memory"]
    runs.loc[1, "status"] = "interrupted"
    runs.to_csv(folder / "runs.csv", index=False)
    metrics = pd.read_csv(folder / "metrics.csv")
    metrics[~metrics["run_id"].isin([failed, interrupted])].to_csv(folder / "metrics.csv", index=False)
    uri = new_store("failed")
    code, out, _ = cli("export", folder, "--mlflow", uri)
    assert code == 0 and "3 runs logged" in out, out
    logged = snapshot(uri)
    assert interrupted not in logged and len(logged) == 1 + 3
    assert logged[failed]["status"] == "FAILED" and logged[failed]["metrics"] == {}
    assert logged[failed]["tags"]["nncmp.error"] == "RuntimeError: out of memory"
    assert logged[failed]["params"]["optimizer"] == failed.split("/")[0]
    assert logged["copy"]["status"] == "FAILED" and logged["copy"]["tags"]["nncmp.status"] == "failed"
    # Resumed and finished: the same MLflow runs, now finished, the error gone.
    shutil.copy(compared[0] / "runs.csv", folder / "runs.csv")
    shutil.copy(compared[0] / "metrics.csv", folder / "metrics.csv")
    assert cli("export", folder, "--mlflow", uri)[0] == 0
    logged = snapshot(uri)
    assert logged["copy"]["status"] == "FINISHED" and "nncmp.error" not in logged[failed]["tags"]
    assert_matches(logged, folder, parent="copy")


def test_train_is_one_run_and_a_step_budget_counts_steps(new_store, cli, tmp_path, monkeypatch):
    uri = new_store("train")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "lion", "--steps", "30", "--eval-every", "10",
                       "--no-plot", "--quiet", "--out", tmp_path / "run", "--mlflow", uri)
    assert code == 0, out
    logged = snapshot(uri, "mine")
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert sorted(metrics["step"]) == [0, 10, 20, 30]
    assert_matches(logged, tmp_path / "run", parent=None)
    [run] = logged.values()
    assert run["tags"]["nncmp.command"] == "train" and run["params"]["steps"] == "30"


def test_params_say_only_what_is_true_of_the_model():
    from nncmp.output.mlflow_folder import run_params

    # A user's model: nncmp does not know its layers, so no widths, activation, dropout or normalisation.
    spec = RunSpec(model="net.py:Net", dataset="digits", opt_args=(("amsgrad", True),), model_args=(("width", 3),))
    params = run_params(spec.resolved(100).to_dict())
    assert not {"hidden", "act", "dropout", "norm", "batchnorm"} & set(params)
    assert params["opt_args"] == "amsgrad=true" and params["model_args"] == "width=3"
    assert params["betas"] == "0.9,0.999" and params["lr"] == "0.001" and params["batch_size"] == "64"
    # The cnn has its BatchNorm built in: norm says so, and no --batchnorm switch says otherwise.
    params = run_params(RunSpec(model="cnn", dataset="digits").resolved(100).to_dict())
    assert params["norm"] == "batchnorm" and "batchnorm" not in params and "hidden" not in params


def test_an_older_folder_without_its_resolved_runs(compared, new_store, cli, tmp_path):
    # Folders written before config.json listed every resolved run: the params are the records' columns.
    folder = tmp_path / "old"
    shutil.copytree(compared[0], folder)
    doc = json.loads((folder / "config.json").read_text())
    del doc["runs"]
    (folder / "config.json").write_text(json.dumps(doc))
    uri = new_store("old")
    assert cli("export", folder, "--mlflow", uri)[0] == 0
    logged = snapshot(uri)
    metrics = pd.read_csv(folder / "metrics.csv", dtype={"hidden": str})
    for run_id, rows in metrics.groupby("run_id"):
        params = logged[run_id]["params"]
        assert params["optimizer"] == rows["optimizer"].iloc[0] and float(params["lr"]) == rows["lr"].iloc[0]
        assert params["hidden"] == rows["hidden"].iloc[0] and int(params["seed"]) == rows["seed"].iloc[0]
        assert logged[run_id]["metrics"]["val_loss"]


def test_a_store_failing_while_training_never_stops_it(new_store, cli, tmp_path, monkeypatch):
    from mlflow.exceptions import MlflowException

    from nncmp.output import mlflow_export

    def fail(*args, **kwargs):
        raise MlflowException("the server went away")

    monkeypatch.setattr(mlflow_export.Tracker, "log_run", fail)
    uri = new_store("failing")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # --mlflow default: MLflow's own variable says where
    code, out, _ = cli("train", "--dataset", "digits", "--epochs", "1", "--no-plot", "--out", tmp_path / "run",
                       "--mlflow", "default")
    assert code == 0, out
    assert f"MLflow ({uri}) failed: the server went away; the runs are saved: log them with nncmp export" in out
    assert (tmp_path / "run" / "metrics.csv").is_file()
    monkeypatch.undo()
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    assert cli("export", tmp_path / "run", "--mlflow", uri)[0] == 0
    assert_matches(snapshot(uri), tmp_path / "run", parent=None)


@pytest.mark.slow
def test_a_suite_is_a_run_over_its_problems(new_store, cli, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text("[problems.digits]\ndataset = 'digits'\nhidden = [12]\nbatch_size = 64\nepochs = 1\n"
                    "target = 0.5\n")
    live = new_store("suite")
    code, out, _ = cli("suite", path, "--opts", "adam,sgd", "--seeds", "1", "--no-plot", "--quiet",
                       "--out", tmp_path / "out", "--mlflow", live)
    assert code == 0, out
    logged = snapshot(live)
    assert logged["out"]["tags"]["nncmp.level"] == "suite" and logged["out"]["status"] == "FINISHED"
    assert logged["out"]["params"]["opts"] == "adam,sgd"
    assert logged["digits"]["parent"] == "out" and logged["digits"]["tags"]["nncmp.problem"] == "digits"
    assert_matches(logged, tmp_path / "out" / "digits", parent="digits")
    exported = new_store("suite-export")
    code, out, _ = cli("export", tmp_path / "out", "--mlflow", exported)
    assert code == 0 and "2 runs logged" in out, out
    assert snapshot(exported) == logged


def test_tuning_trials_are_runs_of_their_comparison(new_store, cli, tmp_path):
    folder, live = tmp_path / "tuned", new_store("tuned")
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--tune", "random", "--trials", "2", "--studies", "1", "--no-plot", "--quiet",
                       "--out", folder, "--mlflow", live)
    assert code == 0, out
    logged = snapshot(live)
    assert_matches(logged, folder, parent="tuned")  # the runs compared: the default and the tuned one
    trials = assert_trials(logged, folder, parent="tuned")  # the one-shot at the defaults and two trials
    assert trials == 3 and len(logged) == 1 + 2 + 3
    chosen = pd.read_csv(folder / "tuning.csv").query("chosen")["run_id"].iloc[0]
    assert chosen in logged and f"tuning:{chosen}" in logged  # one run id: the trial and the run it chose
    assert_exports_as_logged(cli, folder, live, new_store("tuned-export"), logged, "5 runs logged")


def test_a_calibration_is_logged_apart_from_compared_runs(new_store, cli, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text("[problems.digits]\ndataset = 'digits'\nhidden = [12]\nbatch_size = 64\nepochs = 1\n")
    args = ["suite", path, "--calibrate", "--baselines", "adamw", "--seeds", "1", "--quiet", "--out"]
    code, out, result = cli(*args, tmp_path / "nowhere", "--mlflow", "foo://nowhere")
    assert code == 2 and "cannot use this MLflow tracking store" in result.stderr
    assert not (tmp_path / "nowhere").exists()  # refused before anything was written
    live = new_store("calibration")
    code, out, _ = cli(*args, tmp_path / "cal", "--mlflow", live)
    assert code == 0, out
    logged = snapshot(live)
    top, problem = logged["cal"], logged["digits"]
    assert top["tags"]["nncmp.level"] == "calibration" and top["tags"]["nncmp.phase"] == "calibration"
    assert top["status"] == "FINISHED" and top["params"]["baselines"] == "adamw" and top["parent"] is None
    assert problem["tags"]["nncmp.level"] == "problem" and problem["parent"] == "cal"
    assert problem["tags"]["nncmp.phase"] == "calibration" and problem["status"] == "FINISHED"
    sub = tmp_path / "cal" / "digits"
    trials = assert_trials(logged, sub, parent="digits")  # --lrs auto's grid: 7 rates, widened by 2
    baseline = pd.read_csv(sub / "calibration_metrics.csv", dtype={"hidden": str})
    [run_id] = baseline["run_id"].unique()
    run = logged[f"calibration:{run_id}"]
    assert run["parent"] == "digits" and run["tags"]["nncmp.command"] == "calibrate"
    assert run["params"]["optimizer"] == "adamw" and float(run["params"]["lr"]) == baseline["lr"].iloc[0]
    assert_metrics(run, baseline)
    assert trials == 9 and len(logged) == 2 + trials + 1
    assert not [k for k, r in logged.items() if r["tags"].get("nncmp.phase") == "training"]
    # Exported afterwards: the same runs; again: nothing twice.
    exported = new_store("calibration-export")
    code, out, _ = cli("export", tmp_path / "cal", "--mlflow", exported)
    assert code == 0 and "10 runs logged" in out, out
    assert snapshot(exported) == logged
    assert cli("export", tmp_path / "cal", "--mlflow", live)[0] == 0
    assert snapshot(live) == logged


@pytest.mark.parametrize("uri, why", [("foo://nowhere", "unsupported URI"), ("{tmp}/file/x.db", "File exists")],
                         ids=["scheme", "unwritable"])
def test_a_store_that_cannot_be_used_is_one_line_and_exit_2(cli, tmp_path, uri, why):
    (tmp_path / "file").write_text("not a folder")
    uri = uri.replace("{tmp}", f"sqlite:///{tmp_path}")
    shown = f"--mlflow {uri}: cannot use this MLflow tracking store"
    code, out, result = cli("train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", tmp_path / "run",
                            "--mlflow", uri)
    assert code == 2 and shown in result.stderr and why in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()  # nothing trained
    folder = tmp_path / "results"  # a folder that exists: export reaches the store
    folder.mkdir()
    (folder / "metrics.csv").write_text("run_id\n")
    (folder / "config.json").write_text('{"command": "compare"}')
    code, out, result = cli("export", folder, "--mlflow", uri)
    assert code == 2 and shown in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_export_refuses_what_it_cannot_export(cli, tmp_path):
    code, out, result = cli("export", tmp_path)
    assert code == 2 and "--tensorboard LOGDIR and/or --mlflow URI" in result.stderr
    code, out, result = cli("export", tmp_path / "missing", "--mlflow", "sqlite:///x.db")
    assert code == 2 and "missing" in result.stderr


def test_without_mlflow_the_flag_says_how_to_install_it(cli, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    (tmp_path / "config.json").write_text('{"command": "compare"}')
    (tmp_path / "metrics.csv").write_text("run_id\n")
    for args in (["train", "--mlflow", "default"], ["compare", "--mlflow", "default"],
                 ["suite", "--opts", "adam", "--problems", "digits-mlp", "--mlflow", "default"],
                 ["export", tmp_path, "--mlflow", "default"]):
        code, out, result = cli(*args, "--out", tmp_path / "out") if args[0] != "export" else cli(*args)
        assert code == 2 and "pip install 'nncmp[mlflow]'" in result.stderr, (args, result.stderr)


@pytest.mark.slow
def test_help_and_bad_input_do_not_import_mlflow():
    code = ("import sys\nfrom nncmp.cli.app import app\nfrom typer.testing import CliRunner\n"
            "for args in (['--help'], ['compare', '--help'], ['export', '--help'], ['train', '--mlflow', ' ']):\n"
            "    result = CliRunner().invoke(app, args)\n"
            "    assert result.exit_code in (0, 2), (args, result.output)\n"
            "    assert 'mlflow' not in sys.modules, args\n")
    subprocess.run([sys.executable, "-c", code], check=True)
