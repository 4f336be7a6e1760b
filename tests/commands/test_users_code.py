"""A user's code cannot end nncmp silently, and malformed data from a user's loader is one line.

sys.exit (or a KeyboardInterrupt that no Ctrl-C raised) in a user's model file, loader, loss or forward used to end
nncmp with exit code 0 and nothing said, which a scheduler records as success. Now it is that code's error: exit 1,
one line naming the file and the function. os._exit cannot be caught: what nncmp guarantees then is that the
folder says the comparison is unfinished (runs.csv, `report`) and resumes.
"""

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from nncmp.results import store

RUN = ["compare", "--dataset", "digits", "--opts", "sgd", "--inits", "he", "--seeds", "1", "--epochs", "1",
       "--no-plot", "--quiet"]

USERS = textwrap.dedent("""
    import math, os, sys

    import numpy as np
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            self.layer = nn.Linear(math.prod(input_shape), n_classes)

        def forward(self, x):
            if self.training and len(x) == 7 and os.environ.get("HOW"):  # the checks pass, batch size 8 trains
                stop()
            return self.layer(x.flatten(1))

    def stop():
        how = os.environ["HOW"]
        if how == "exit":
            sys.exit(0)
        if how == "os_exit":
            os._exit(0)
        raise KeyboardInterrupt

    def builds(input_shape, n_classes):
        sys.exit(0)

    def loader():
        sys.exit(0)

    def loss(output, y):
        sys.exit(0)

    def interrupting_loader():
        raise KeyboardInterrupt
""")


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "users.py"
    path.write_text(USERS + f"# {tmp_path}\n")  # a file of its own: nncmp imports files by their contents
    return path


@pytest.mark.parametrize("args, where", [
    (["--model", "{f}:builds"], "--model {f}:builds: building it called sys.exit(0) in builds ({f}:27)"),
    (["--dataset", "{f}:loader"], "--dataset {f}:loader: calling it called sys.exit(0) in loader ({f}:30)"),
    (["--dataset", "{f}:interrupting_loader"], "--dataset {f}:interrupting_loader: calling it raised "
                                               "KeyboardInterrupt (no Ctrl-C was pressed) in interrupting_loader "
                                               "({f}:36)"),
    (["--loss", "{f}:loss"], "--model mlp: the loss {f}:loss on a batch called sys.exit(0) in loss ({f}:33)"),
])
def test_sys_exit_in_a_users_model_loader_or_loss_is_that_codes_error(cli, users, tmp_path, args, where):
    out = tmp_path / "run"
    code, _, result = cli(*RUN, *[a.format(f=users) for a in args], "--out", out)
    assert code == 1, result.output  # was 0, and nothing said
    assert result.stderr.strip() == f"Error: {where.format(f=users)}, which nncmp takes as that code's error"
    assert not out.exists()  # before anything was written


def test_sys_exit_at_import_of_a_model_file_is_its_error(cli, tmp_path):
    (tmp_path / "net.py").write_text(f"import sys\n\nsys.exit(0)\n# {tmp_path}\n")
    code, _, result = cli(*RUN, "--model", f"{tmp_path}/net.py:Net", "--out", tmp_path / "run")
    assert code == 1
    assert f"importing {tmp_path}/net.py called sys.exit(0) in <module> ({tmp_path}/net.py:3)" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("how, said", [
    ("exit", "its code called sys.exit(0) in stop"),
    ("interrupt", "its code raised KeyboardInterrupt (no Ctrl-C was pressed) in stop"),
])
def test_sys_exit_in_forward_while_training_fails_those_runs_and_exits_1(cli, users, tmp_path, monkeypatch, how, said):
    """Batch size 8 trains; batch size 7 reaches the sys.exit in forward: its run fails, saying where, the other is
    saved, the command exits 1 (it was 0 with runs.csv left "pending"), and report says the comparison is unfinished."""
    monkeypatch.setenv("HOW", how)
    out = tmp_path / "run"
    code, _, result = cli(*RUN, "--model", f"{users}:Net", "--batch-sizes", "8,7", "--out", out)
    assert code == 1, result.output
    assert f"{said} ({users}:" in result.stderr and "Traceback" not in result.output
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")["status"]
    assert runs.filter(like="bs=8").tolist() == ["ok"] and runs.filter(like="bs=7").tolist() == ["failed"]
    assert not pd.read_csv(out / "metrics.csv")["run_id"].str.contains("bs=7").any()
    code, _, result = cli("report", out, "--no-plot")
    assert code == 0
    assert "this comparison is incomplete: 1 of 2 runs finished (1 failed" in result.stderr
    assert f"nncmp resume {out}" in result.stderr


@pytest.mark.parametrize("body, said", [
    ("return np.array(1.0), np.array(1), np.array(2.0), np.array(0)",
     "x_train is a 0-d array (one number), not an array with one entry per example"),
    ("return 1, 2, 3, 4", "x_train is a single int, not an array with one entry per example"),
    ("return [[1.0, 2.0], [3.0]] * 5, [0, 1] * 5", "x is not an array (ValueError: setting an array element"),
    ("return Items('shape'), Items()", "the train dataset's item 5 has x of shape (4,), item 0 (3,)"),
    ("return Items('label'), Items()", "the train dataset's item 5 has y of shape (2,), item 0 ()"),
    ("return Items('raise'), Items()", "the train dataset's item 7 raised RuntimeError: unreadable"),
    ("return Items('triple'), Items()", "the train dataset's item 0 is a tuple of 3, not an (x, y) pair"),
    ("return Items('exit'), Items()", "the train dataset's item 3 called sys.exit(0) in __getitem__"),
])
def test_malformed_data_from_a_loader_is_one_line_before_training(cli, tmp_path, body, said):
    (tmp_path / "load.py").write_text(textwrap.dedent(f"""
        import sys
        import numpy as np

        class Items:
            def __init__(self, bad=None):
                self.bad = bad
            def __len__(self):
                return 20
            def __getitem__(self, i):
                if self.bad == "shape" and i >= 5:
                    return np.zeros(4, dtype=np.float32), i % 2
                if self.bad == "label" and i >= 5:
                    return np.zeros(3, dtype=np.float32), np.array([0, 1])
                if self.bad == "raise" and i == 7:
                    raise RuntimeError("unreadable")
                if self.bad == "triple":
                    return 1, 2, 3
                if self.bad == "exit" and i == 3:
                    sys.exit(0)
                return np.zeros(3, dtype=np.float32), i % 2

        def fn():
            {body}
    """))
    out = tmp_path / "run"
    code, _, result = cli(*RUN, "--dataset", f"{tmp_path}/load.py:fn", "--out", out)
    assert code == (1 if "sys.exit" in said else 2), result.output
    assert said in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.slow
def test_os_exit_in_users_code_cannot_be_caught_but_the_folder_says_unfinished_and_resumes(cli, users, tmp_path):
    """os._exit ends the process at once: no handler runs, and its exit code is the user's. At import, nothing
    was written; during training, runs.csv marks the runs not saved as pending, report says the comparison is
    incomplete, and the same folder resumes to the end."""
    (tmp_path / "net.py").write_text("import os\nos._exit(0)\n")
    early = tmp_path / "early"
    done = subprocess.run([sys.executable, "-m", "nncmp", *RUN, "--model", f"{tmp_path}/net.py:Net", "--out",
                           str(early)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not early.exists()

    out = tmp_path / "run"
    env = {**os.environ, "HOW": "os_exit"}
    done = subprocess.run([sys.executable, "-m", "nncmp", *RUN, "--model", f"{users}:Net", "--batch-sizes", "8,7",
                           "--group-size", "1", "--out", str(out)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0  # the user's own exit code: nothing can change it
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")["status"]
    assert runs.filter(like="bs=8").tolist() == ["ok"] and runs.filter(like="bs=7").tolist() == ["pending"]
    assert (out / store.LOCK).exists()  # its process is gone: the next command takes it over
    code, _, result = cli("report", out, "--no-plot")
    assert code == 0 and "incomplete: 1 of 2 runs finished (1 pending" in result.stderr
    code, text, _ = cli("resume", out)  # without HOW: the model's code no longer stops
    assert code == 0, text
    assert "resuming: 1 of 2 training runs already finished" in text
    assert (pd.read_csv(out / "runs.csv")["status"] == "ok").all()
    code, _, result = cli("report", out, "--no-plot")
    assert code == 0 and "incomplete" not in result.stderr
