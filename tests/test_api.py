"""nncmp from Python: the same numbers as the command line, Python objects as models and data, results as
DataFrames, nncmp's exceptions, and the notebook that shows it (examples/quickstart.ipynb)."""

import html
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import nncmp
from nncmp.errors import NncmpError, SpecError
from tests.conftest import run_cli, without_time

ROOT = Path(__file__).resolve().parents[1]


class Small(nn.Module):
    """A model defined here, as in a notebook cell: nncmp gets the class itself."""

    def __init__(self, input_shape, n_classes, width=12):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), width), nn.ReLU(),
                                 nn.Linear(width, n_classes))

    def forward(self, x):
        return self.net(x)


def notebook_class():
    """A class as a notebook cell defines it: not importable by any module's name."""

    class InCell(Small):
        pass

    return InCell


def arrays():
    rng = np.random.RandomState(0)
    # 640 training examples: --lrs auto and --tune hold out a fifth to score trials, and refuse fewer than 100.
    x = rng.randn(720, 5).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return x[:640], y[:640], x[640:], y[640:]


def test_compare_from_python_gives_the_numbers_of_the_command_line(tmp_path):
    args = dict(opts=["sgd", "adam"], inits=["xavier", "he"], seeds=2, epochs=2, dataset="digits", hidden=(16,),
                batch_sizes=[32])
    result = nncmp.compare(**args, out=tmp_path / "py", progress=False, plot=False)
    code, out, _ = run_cli("compare", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2", "--epochs", "2",
                           "--dataset", "digits", "--hidden", "16", "--batch-sizes", "32", "--no-plot", "--quiet",
                           "--out", tmp_path / "cli")
    assert code == 0, out
    assert without_time(tmp_path / "py") == without_time(tmp_path / "cli")
    assert isinstance(result.summary, pd.DataFrame) and len(result.summary) == 4
    assert set(result.metrics["epoch"]) == {0, 1, 2} and len(result.runs) == 8
    assert (result.runs["status"] == "ok").all()
    loaded = nncmp.load(tmp_path / "py")
    pd.testing.assert_frame_equal(loaded.summary, result.summary)
    assert loaded._repr_html_() == result._repr_html_()


def test_a_comparison_in_a_notebook_is_the_terminals_table_escaped(tmp_path):
    from nncmp.output.terminal import summary_caption, summary_rows

    result = nncmp.compare(opts=["sgd", "adam"], inits=["he"], seeds=2, epochs=1, dataset="digits", hidden=(8,),
                           out=tmp_path / "r", progress=False, plot=False)
    shown = result._repr_html_()
    headers, rows = summary_rows(result.summary, result.metric, result.target)
    cells = [c for row in rows for c in row]
    assert shown.count("<table") == 1 and shown.count("<tr>") == 1 + len(rows)
    assert all(f"<th>{html.escape(h)}</th>" in shown for h in headers)
    assert all(f"<td>{html.escape(c)}</td>" in shown for c in cells) and any(" ± " in c for c in cells)
    assert html.escape(summary_caption(result.summary, result.metric, result.target)) in shown
    assert "overflow-x: auto" in shown  # a wide table scrolls inside the cell
    hostile = replace(result, folder=tmp_path / "<b>r&d</b>",
                      summary=result.summary.assign(optimizer="<script>alert(1)</script>"))
    shown = hostile._repr_html_()
    assert "<script>" not in shown and "<b>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "&lt;b&gt;r&amp;d&lt;/b&gt;" in shown


def test_a_class_and_arrays_from_python_train_on_the_local_backend(tmp_path):
    result = nncmp.compare(opts=["adam", "sgd"], inits=["he", "default"], seeds=2, epochs=2, model=notebook_class(),
                           model_args={"width": 6}, data=arrays(), out=tmp_path / "r", progress=False, plot=False)
    assert len(result.summary) == 4 and result.metrics["model"].iloc[0].startswith("python:")
    assert set(result.metrics["model_args"]) == {"width=6"}
    assert result.summary.iloc[0]["final_val_acc_mean"] > 0.6  # a separable problem
    assert result.plot().axes and result.plot("final").axes
    assert result.html().read_text().startswith("<!DOCTYPE html>")


def test_the_same_arrays_handed_over_again_resume_the_comparison(tmp_path):
    args = dict(opts=["adam", "minibatch"], inits=["he"], seeds=1, epochs=1, dataset="digits", hidden=(8,),
                progress=False, plot=False)
    x_tr, y_tr, x_va, y_va = arrays()
    first = nncmp.compare(**{**args, "dataset": "mnist5k"}, data=(x_tr, y_tr, x_va, y_va), out=tmp_path / "r")
    again = nncmp.compare(**{**args, "dataset": "mnist5k"}, data=(x_tr.copy(), y_tr.copy(), x_va, y_va),
                          out=tmp_path / "r", resume=True)
    pd.testing.assert_frame_equal(first.metrics.drop(columns="seconds"), again.metrics.drop(columns="seconds"))
    with pytest.raises(NncmpError, match="was run with --dataset python:data-"):  # other arrays: another dataset
        nncmp.compare(**{**args, "dataset": "mnist5k"}, data=(x_tr + 1, y_tr, x_va, y_va), out=tmp_path / "r",
                      resume=True)


def test_objects_from_python_cannot_go_to_worker_processes(tmp_path):
    with pytest.raises(SpecError, match="--backend processes imports your model in each worker, and "
                                        "InCell(-[0-9]+)? exists only in this Python process"):
        nncmp.compare(opts=["adam"], model=notebook_class(), dataset="digits", backend="processes",
                      out=tmp_path / "r", progress=False)
    with pytest.raises(SpecError, match="imports your dataset in each worker"):
        nncmp.compare(opts=["adam"], data=arrays(), backend="processes", out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # refused before any folder was made


def test_an_importable_class_is_recorded_by_its_module(tmp_path):
    result = nncmp.compare(opts=["adam"], inits=["he"], seeds=1, epochs=1, model=Small, data=arrays(),
                           out=tmp_path / "r", progress=False, plot=False)
    assert result.metrics["model"].iloc[0] == "tests.test_api:Small"


def test_bad_arguments_raise_nncmp_errors_not_exits(tmp_path):
    with pytest.raises(SpecError, match="unknown argument 'epoch'; did you mean: epochs"):
        nncmp.compare(opts=["adam"], epoch=3)
    with pytest.raises(NncmpError, match="unknown optimizer"):
        nncmp.compare(opts=["adm"], out=tmp_path / "x", progress=False)
    with pytest.raises(SpecError, match="either as data="):
        nncmp.compare(opts=["adam"], data=arrays(), dataset="digits")


def test_train_and_inspect_from_python(tmp_path):
    run = nncmp.train(opt="adam", init="he", epochs=1, dataset="digits", hidden=(16,), out=tmp_path / "t",
                      progress=False, plot=False)
    assert run.metrics["epoch"].tolist() == [0, 1]
    layers = nncmp.inspect(["he", "xavier"], model=Small, data=arrays(), out=tmp_path / "i", plot=False)
    assert set(layers.per_init) == {"he-normal", "xavier-normal"} and len(layers.per_init["he-normal"]) == 2


def test_progress_in_a_notebook_is_one_bar_updated_in_place(tmp_path, monkeypatch):
    """What a Jupyter cell receives, recorded by a stand-in for IPython's display: one output per display()
    call, replaced by its handle's update() (the real kernel's is the quickstart notebook's test)."""
    import IPython.display
    from rich.console import Console

    from nncmp.output import progress, terminal

    outputs: list[list[str]] = []  # one per output of the cell: the text of each of its versions

    class Handle:
        def __init__(self, index):
            self.index = index

        def update(self, obj, raw=False):
            outputs[self.index].append(obj["text/plain"])

    def display(obj, raw=False, display_id=None, **kwargs):
        outputs.append([obj["text/plain"] if raw else obj._repr_mimebundle_([], [])["text/plain"]])
        return Handle(len(outputs) - 1) if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(terminal, "make_console", lambda stderr=False: Console(force_jupyter=True, width=115))
    monkeypatch.setattr(progress.NotebookBar, "EVERY", 0.0)  # every update shown, so that all are counted
    nncmp.compare(opts=["sgd", "adam"], inits=["he"], seeds=2, epochs=2, dataset="digits", hidden=(8,),
                  out=tmp_path / "r", plot=False)
    bars = [o for o in outputs if any("runs done" in text or "epoch" in text for text in o)]
    assert len(bars) == 1 and len(outputs) <= 3, outputs  # the bar, and a note or two (the device)
    assert len(bars[0]) > 4 and "4/4 runs done" in bars[0][-1] and "100%" in bars[0][-1]


# How torch's OpenMP threads wait, as libgomp reports it when torch loads it (OMP_DISPLAY_ENV=VERBOSE):
# GOMP_SPINCOUNT is 0 under OMP_WAIT_POLICY=PASSIVE, 300000 unset (spin, then sleep), 3e10 under a user's ACTIVE
# (minutes of spinning), and nncmp's bound (openmp.SPIN, ~30 ms) under the ACTIVE nncmp chose.
SPIN_COUNTS = {"PASSIVE": "0", "None": "300000", "ACTIVE": "30000000000", "nncmp's ACTIVE": "3000000"}
WAIT_CASES = {  # imports, the user's OMP_WAIT_POLICY, warnings
    "nncmp, then torch": ("import nncmp, torch", None, 0),  # nncmp's measured choice, whichever the load gives
    "torch, then nncmp": ("import torch, nncmp", None, 1),
    "the user's value": ("import nncmp, torch", "ACTIVE", 0),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", WAIT_CASES)
def test_torchs_threads_wait_as_nncmp_chose_unless_torch_came_first_which_warns_once(case):
    imports, policy, warnings = WAIT_CASES[case]
    # Every nncmp entry point asks again (the API's module, the command line's main): still one warning.
    code = (f"{imports}; import os; nncmp.compare; from nncmp.cli.app import main; "
            "from nncmp.training.openmp import choose_wait_policy, choice; choose_wait_policy(); "
            "print(os.environ.get('OMP_WAIT_POLICY'), choice().wait_policy or None)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "NNCMP_OPENMP", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    env |= {"OMP_DISPLAY_ENV": "VERBOSE", **({"OMP_WAIT_POLICY": policy} if policy else {})}
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    seen, chosen = out.stdout.split()
    assert seen == chosen  # the policy in force is the one nncmp reports (and config.json records)
    assert seen == (policy or ("None" if warnings else seen)) and (warnings or seen in ("ACTIVE", "PASSIVE"))
    assert out.stderr.count("RuntimeWarning") == warnings, out.stderr
    if warnings:
        assert "import nncmp before torch" in out.stderr and "OMP_WAIT_POLICY=PASSIVE" in out.stderr
    if "GOMP_SPINCOUNT" in out.stderr:  # torch's OpenMP is libgomp (Linux): what torch's threads really do
        mode = "nncmp's ACTIVE" if seen == "ACTIVE" and not policy else seen
        assert f"GOMP_SPINCOUNT = '{SPIN_COUNTS[mode]}'" in out.stderr


def test_import_nncmp_does_not_import_torch():
    code = "import sys, nncmp; nncmp.__version__; assert 'torch' not in sys.modules; print(nncmp.compare.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "compare"


# --- the command line with a user's files -----------------------------------------------------------------

MODEL = textwrap.dedent("""
    from torch import nn

    class Net1d(nn.Module):
        def __init__(self, input_shape, n_classes, channels=4):
            super().__init__()
            c, length = input_shape
            self.body = nn.Sequential(nn.Conv1d(c, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4),
                                      nn.Flatten(), nn.Linear(channels * (length // 4), n_classes))

        def forward(self, x):
            return self.body(x)
""")


@pytest.fixture
def user_files(tmp_path):
    (tmp_path / "net.py").write_text(MODEL)
    rng = np.random.RandomState(0)
    x = rng.randn(640, 1, 16).astype("float32")  # 512 for training: --lrs auto scores on a fifth (>= 100)
    y = (x[:, 0, :8].sum(1) > 0).astype(int)
    np.savez(tmp_path / "signals.npz", x=x, y=y)
    flat = pd.DataFrame(x[:, 0, :4], columns=list("abcd"))
    flat["label"] = y
    flat.to_csv(tmp_path / "signals.csv", index=False)
    (tmp_path / "load.py").write_text("import numpy as np\n"
                                      f"def signals():\n    d = np.load({str(tmp_path / 'signals.npz')!r})\n"
                                      "    return {'x': d['x'], 'y': d['y']}\n")
    return tmp_path


@pytest.mark.parametrize("dataset", ["signals.npz", "load.py:signals"])
def test_a_users_model_and_data_through_train_compare_and_inspect(user_files, dataset, monkeypatch):
    monkeypatch.chdir(user_files)
    code, out, _ = run_cli("train", "--model", "net.py:Net1d", "--model-arg", "channels=3", "--dataset", dataset,
                           "--epochs", "1", "--out", "t", "--no-plot")
    assert code == 0, out
    assert "adam/default/lr=0.001/bs=64/model.channels=3/seed=0" in out
    code, out, _ = run_cli("compare", "--model", "net.py:Net1d", "--dataset", dataset, "--opts", "sgd,adam",
                           "--inits", "he", "--lrs", "auto", "--seeds", "2", "--epochs", "1", "--batch-sizes", "16",
                           "--out", "c", "--no-plot", "--quiet")
    assert code == 0, out
    config = json.loads((user_files / "c" / "config.json").read_text())
    assert config["code"]["model"]["path"] == str(user_files / "net.py")
    assert len(pd.read_csv(user_files / "c" / "tuning.csv")) == 2 * 9  # --lrs auto: 9 rates
    code, out, _ = run_cli("inspect", "--model", "net.py:Net1d", "--dataset", dataset, "--inits", "he",
                           "--out", "i", "--no-plot")
    assert code == 0, out
    layers = pd.read_csv(user_files / "i" / "layers.csv")
    assert set(layers["layer"]) == {1, 2}  # the Conv1d and the Linear


def test_a_csv_with_its_target_column(user_files, monkeypatch):
    monkeypatch.chdir(user_files)
    code, out, _ = run_cli("train", "--dataset", "signals.csv", "--target-column", "label", "--model", "logreg",
                           "--epochs", "1", "--out", "t", "--no-plot")
    assert code == 0, out


def test_resume_refuses_a_changed_model_file(user_files, monkeypatch):
    monkeypatch.chdir(user_files)
    args = ["compare", "--model", "net.py:Net1d", "--dataset", "signals.npz", "--opts", "adam", "--inits", "he",
            "--seeds", "1", "--epochs", "1", "--no-plot", "--quiet"]
    assert run_cli(*args, "--out", "c")[0] == 0
    (user_files / "net.py").write_text(MODEL + "\n# tuned the model\n")
    code, out, _ = run_cli(*args, "--resume", "c")
    assert code == 2 and "net.py changed since the comparison started" in out and "--allow-changed-code" in out
    code, out, _ = run_cli("resume", "c", "--allow-changed-code", "--quiet")
    assert code == 0, out
    # report never needs the file
    (user_files / "net.py").unlink()
    assert run_cli("report", "c", "--no-plot")[0] == 0


TABLE = textwrap.dedent("""
    from torch import nn

    def table_net(input_shape, n_classes):
        return nn.Sequential(nn.Linear(input_shape[0], 8), nn.Tanh(), nn.Linear(8, n_classes))
""")

DATASETS = {"npz": ["--model", "net.py:Net1d", "--dataset", "signals.npz"],
            "function": ["--model", "net.py:Net1d", "--dataset", "load.py:signals"],
            "csv": ["--model", "table.py:table_net", "--dataset", "signals.csv", "--target-column", "label"]}


def test_a_csv_through_compare_with_tuned_rates_and_inspect(user_files, monkeypatch):
    monkeypatch.chdir(user_files)
    (user_files / "table.py").write_text(TABLE)
    code, out, _ = run_cli("compare", *DATASETS["csv"], "--opts", "adam,momentum", "--inits", "he", "--lrs", "auto",
                           "--seeds", "2", "--epochs", "2", "--out", "c", "--no-plot", "--quiet")
    assert code == 0, out
    summary = pd.read_csv(user_files / "c" / "summary.csv")
    assert set(summary["lr_choice"]) >= {"default", "tuned"} or "both" in set(summary["lr_choice"])
    code, out, _ = run_cli("inspect", *DATASETS["csv"], "--inits", "he,xavier", "--out", "i", "--no-plot")
    assert code == 0 and "table_net()" in out
    assert "(relu)" not in out  # the model's activation is its own (a Tanh), not nncmp's --act
    metrics = pd.read_csv(user_files / "c" / "metrics.csv", keep_default_na=False)
    assert set(metrics["act"]) == {""} and set(metrics["norm"]) == {""}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["processes", "ray"])
@pytest.mark.parametrize("kind", DATASETS)
def test_a_users_model_and_data_on_the_parallel_backends_give_the_local_numbers(user_files, monkeypatch, kind,
                                                                                 backend, request):
    if backend == "ray":
        request.getfixturevalue("ray_session")
    monkeypatch.chdir(user_files)
    (user_files / "table.py").write_text(TABLE)
    args = ["compare", *DATASETS[kind], "--opts", "sgd,adam", "--inits", "he,default", "--seeds", "2", "--epochs",
            "1", "--batch-sizes", "16", "--no-plot", "--quiet"]
    assert run_cli(*args, "--out", "local")[0] == 0
    code, out, _ = run_cli(*args, "--out", "procs", "--backend", backend, "--jobs", "2")
    assert code == 0, out
    local = pd.read_csv(user_files / "local" / "metrics.csv").drop(columns=["seconds"])
    procs = pd.read_csv(user_files / "procs" / "metrics.csv").drop(columns=["seconds"])
    # Another process may use another thread count: float32 rounding over 10 steps of a tiny net.
    pd.testing.assert_frame_equal(local, procs, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    # Shorter runs than the notebook's own, same cells: the test checks that every cell works.
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import os; os.environ['NNCMP_QUICK'] = '1'"))
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
    assert not [o for cell in cells for o in cell.outputs if o.get("name") == "stderr"]  # no warning either
    # What a student sees: every figure, the ranked table once where a comparison is shown, and its progress
    # as one bar updated in place, not a line per run (a note or two besides: the device).
    plotting = [cell for cell in cells if ".plot(" in cell.source]
    assert len(plotting) == 2
    for cell in plotting:  # needs result.plot() to return a figure Jupyter shows (issue 29's figures part)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), (cell.source, cell.outputs)
    compared = [cell for cell in cells if any(o.output_type == "execute_result"
                                              and o.data["text/plain"].startswith("Comparison(") for o in cell.outputs)]
    assert len(compared) == 2
    for cell in compared:
        tables = [o for o in cell.outputs if "<table" in o.get("data", {}).get("text/html", "")]
        assert len(tables) == 1 and "mean ± 95% CI" in tables[0].data["text/html"]
        assert tables[0].output_type == "execute_result"
        shown = [o for o in cell.outputs if o.output_type != "execute_result"]
        assert len(shown) <= 3, shown
        assert sum("runs done" in o.get("data", {}).get("text/plain", "") for o in shown) == 1
    assert torch.__version__  # the kernel ran in this environment


def test_tracked_weights_of_a_users_model_make_a_landscape(user_files, monkeypatch):
    monkeypatch.chdir(user_files)
    (user_files / "more.py").write_text(textwrap.dedent("""
        from torch import nn

        def flat(input_shape, n_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, n_classes))

        def normed(input_shape, n_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, n_classes))
    """))
    args = ["compare", "--dataset", "signals.npz", "--opts", "adam,minibatch", "--inits", "he", "--seeds", "1",
            "--epochs", "2", "--track-weights", "--no-plot", "--quiet"]
    code, out, _ = run_cli(*args, "--model", "more.py:normed", "--out", "bn")
    assert code == 2 and "has buffers" in out and not (user_files / "bn").exists()
    assert run_cli(*args, "--model", "more.py:flat", "--out", "w")[0] == 0
    code, out, _ = run_cli("landscape", "w", "--quiet", "--no-plot")
    assert code == 0, out
    assert (user_files / "w" / "landscape.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "missing.py:Net"], "no such file"),
    (["--model", "net.py:Nope"], "has no 'Nope' (it defines: Net1d)"),
    (["--model", "net.py:MODEL_TEXT"], "MODEL_TEXT is of type str"),
    (["--model", "net.py:Net1d", "--model-arg", "depth=3"], "takes no argument 'depth'"),
    (["--model", "net.py:Net1d", "--dataset", "signals.csv", "--target-column", "label"],
     "building it raised ValueError: not enough values to unpack"),
    (["--model", "logreg", "--dataset", "signals.csv", "--target-column", "nope"], "no column 'nope'"),
    (["--model", "logreg", "--dataset", "signals.csv"], "needs --target-column COLUMN"),
    (["--model", "logreg", "--dataset", "nan.npz"], "have NaN or infinite features"),
    (["--model", "logreg", "--dataset", "signals.npz", "--task", "classification", "--target-column", "y"],
     "--target-column names the column to predict of a --dataset data.csv"),
])
def test_bad_models_and_data_are_one_line_and_exit_2(user_files, monkeypatch, args, message):
    monkeypatch.chdir(user_files)
    with open(user_files / "net.py", "a") as f:
        f.write("\nMODEL_TEXT = 'not a model'\n")
    np.savez(user_files / "nan.npz", x=np.array([[0.0, np.nan]] * 10), y=np.arange(10) % 2)
    code, out, _ = run_cli("train", "--dataset", "signals.npz", *args, "--epochs", "1", "--out", "x")
    assert code == 2 and message in out, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert not (user_files / "x").exists()  # refused before any folder was made


def test_a_module_in_the_current_folder_is_importable_by_name(user_files, monkeypatch):
    monkeypatch.chdir(user_files)
    (user_files / "localpkg").mkdir()
    (user_files / "localpkg" / "__init__.py").write_text("")
    (user_files / "localpkg" / "models.py").write_text(TABLE)
    code, out, _ = run_cli("train", "--model", "localpkg.models:table_net", "--dataset", "signals.csv",
                           "--target-column", "label", "--epochs", "1", "--out", "t", "--no-plot")
    assert code == 0, out


def test_tuning_with_a_budget_from_python(tmp_path):
    # A user's class, tuned with a space given as a dict: its trials train one by one (a torch.func stack
    # has one optimizer), with the same budget for both optimizers.
    result = nncmp.compare(opts=["adam", "minibatch"], inits=["he"], seeds=1, epochs=1, model=notebook_class(),
                           data=arrays(), tune="random", trials=3,
                           space={"learning_rate": {"min": 1e-3, "max": 1e-1, "scaling": "log"}},
                           out=tmp_path / "t", progress=False, plot=False)
    tuning = pd.read_csv(tmp_path / "t" / "tuning.csv")
    assert (tuning[tuning["kind"] == "trial"].groupby("optimizer").size() == 3).all()
    assert tuning[tuning["kind"] == "trial"]["lr"].between(1e-3, 1e-1).all()
    assert set(result.summary["lr_choice"]) <= {"default", "tuned", "default=tuned"}
    with pytest.raises(SpecError, match="--trials must be >= 1"):
        nncmp.compare(opts=["adam"], dataset="digits", tune="halton", trials=0, out=tmp_path / "x", progress=False)


def test_an_interrupted_call_leaves_ctrl_c_working_for_the_next_cell(tmp_path, monkeypatch):
    """Ctrl-C during nncmp.compare (a notebook's interrupt button): the runs so far are saved and Interrupted
    raised, and afterwards Ctrl-C is handled as before the call, not left ignored as while the files were
    written (the kernel's next interrupt would do nothing)."""
    import signal

    from nncmp.commands import compare as command
    from nncmp.errors import Interrupted

    real = command._result

    def interrupted(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(command, "_result", interrupted)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted):
        nncmp.compare(dataset="digits", opts="adam", inits="he", seeds=1, epochs=1, hidden="16", out=tmp_path / "r",
                      plot=False, progress=False)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert before[0] is not signal.SIG_IGN
