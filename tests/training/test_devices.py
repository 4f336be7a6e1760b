"""--device on a machine without a GPU: auto is the CPU, GPUs are refused with the reason, an explicit
--device cpu changes nothing, the device is recorded, every tensor the engines make is on the data's
device, and no engine waits on the device once per step."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry.datasets import load
from nncmp.training import devices
from nncmp.training.engines.single import SingleRun
from nncmp.training.engines.stacked import StackedRun
from tests.conftest import SMALL


def test_auto_is_the_cpu_here_and_gpus_are_refused_with_the_reason():
    assert devices.resolve("auto") == "cpu" and devices.resolve("CPU") == "cpu"
    for name in ("cuda", "cuda:3"):
        with pytest.raises(SpecError, match=rf"--device {name}: .*(no CUDA GPU|without CUDA)"):
            devices.resolve(name)
    with pytest.raises(SpecError, match="--device mps: no Apple GPU"):
        devices.resolve("mps")
    with pytest.raises(SpecError, match="unknown value 'tpu'; choose from: auto, cpu, cuda, cuda:N, mps"):
        devices.check("tpu")


@pytest.mark.parametrize("command", [["train"], ["compare"], ["inspect"], ["bench", "--quick"],
                                     ["paths"], ["train", "--device", "cuda:3", "--opt", "lion"]])
def test_every_command_refuses_a_device_that_is_not_here(cli, tmp_path, command):
    args = command if "--device" in command else [*command, "--device", "cuda"]
    code, out, result = cli(*args, "--out", tmp_path / "x")
    assert code == 2, out
    assert "no CUDA GPU" in result.stderr or "without CUDA" in result.stderr
    assert not (tmp_path / "x").exists()  # refused before anything was made


def test_landscape_refuses_a_device_that_is_not_here(cli, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"command": "compare"}))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "run.npz").write_bytes(b"")  # never read: the device is refused first
    code, out, result = cli("landscape", tmp_path, "--device", "mps")
    assert code == 2 and "no Apple GPU" in result.stderr


def test_an_explicit_cpu_is_the_default_byte_for_byte_and_is_recorded(cli, tmp_path):
    args = ["compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "he", "--seeds", "1", "--epochs",
            "1", "--no-plot", "--quiet"]
    assert cli(*args, "--out", tmp_path / "auto")[0] == 0
    assert cli(*args, "--device", "cpu", "--out", tmp_path / "cpu")[0] == 0
    a, b = (pd.read_csv(tmp_path / d / "metrics.csv").drop(columns="seconds") for d in ("auto", "cpu"))
    pd.testing.assert_frame_equal(a, b)
    config = json.loads((tmp_path / "cpu" / "config.json").read_text())
    assert config["options"]["device"] == "cpu"
    code, out, _ = cli(*[a for a in args if a != "--quiet"], "--out", tmp_path / "loud")
    assert code == 0 and "device: cpu (" in out  # printed
    code, out, _ = cli("train", "--dataset", "digits", "--epochs", "1", "--no-plot", "--out", tmp_path / "train")
    assert code == 0 and "device: cpu (" in out
    assert json.loads((tmp_path / "train" / "config.json").read_text())["device"] == "cpu"


def test_bench_records_the_device(cli, tmp_path):
    code, out, _ = cli("bench", "--opts", "adam", "--n", "500", "--dataset", "synthetic", "--out", tmp_path)
    assert code == 0, out
    assert json.loads((tmp_path / "config.json").read_text())["device"] == "cpu"


class Watch(torch.utils._python_dispatch.TorchDispatchMode):
    """Every tensor an operation makes, and every host sync (.item(), .tolist(), .cpu()…) while watched."""

    SYNCS = {"aten._local_scalar_dense.default"}  # what .item(), float(t), bool(t) and .tolist() come down to

    def __init__(self):
        super().__init__()
        self.devices = set()
        self.syncs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if str(func) in self.SYNCS:
            self.syncs += 1
        for t in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(t, torch.Tensor):
                self.devices.add(t.device)
        return out


def _epoch_syncs(engine, data_device):
    with Watch() as watch:
        engine.train_epoch()
    return watch


@pytest.mark.parametrize("make", ["single", "stacked", "single-lion-cosine", "single-sam"])
def test_engines_make_their_tensors_on_the_datas_device_and_sync_once_per_epoch(make):
    """With 4× the steps an epoch makes no more host syncs: none happens per step."""
    data = load("digits")
    watched = {}
    for batch in (64, 16):
        base = {**SMALL, "batch_size": batch}
        if make == "single":
            engine = SingleRun(RunSpec(**base, optimizer="adam").resolved(data.n_train), data)
        elif make == "stacked":
            engine = StackedRun([RunSpec(**base, optimizer="adam", init=i).resolved(data.n_train)
                                 for i in ("xavier", "he")], data)
        elif make == "single-lion-cosine":
            engine = SingleRun(RunSpec(**base, optimizer="lion", schedule="cosine").resolved(data.n_train), data)
        else:
            engine = SingleRun(RunSpec(**base, optimizer="sam").resolved(data.n_train), data)
        watch = _epoch_syncs(engine, data.x_train.device)
        watched[batch] = watch
        assert watch.devices == {data.x_train.device}
        params = engine.stack.parameters() if make == "stacked" else list(engine.model.parameters())
        assert {p.device for p in params} == {data.x_train.device}
        state = engine.optimizer.state
        assert all(v.device == data.x_train.device for s in state.values() for v in s.values()
                   if isinstance(v, torch.Tensor) and v.dim() > 0)
    assert watched[16].syncs == watched[64].syncs <= 4, {b: w.syncs for b, w in watched.items()}


def test_no_engine_calls_item_cpu_or_numpy_inside_its_step_loop():
    """Static check of the training loops: a host sync there would run once per step on a GPU."""
    root = Path(__file__).resolve().parents[2] / "nncmp"
    # file: (where the training step's function starts, where its loop ends)
    loops = {"training/engines/single.py": ("def train_epoch", "accuracy = "),
             "training/engines/stacked.py": ("def autograd_epoch", "accuracy = "),
             "training/engines/fast_sgd.py": ("def _fast_sgd_single", "def _fast_sgd_stacked"),
             "training/stepping.py": ("def step(self, forward_backward", "def refresh_batchnorm")}
    for name, (start, end) in loops.items():
        text = (root / name).read_text()
        body = text[text.index(start):]
        body = body[:body.index(end)]
        head = re.search(r"\n\s+for [^\n]*:\n", body)  # the loop statement (stepping's step is one step)
        loop = body[head.start():] if head else body
        assert re.search(r"optimizer\.step|step_optimizer|addr_|stepper\.step", loop), name  # it is the step loop
        code = "\n".join(line.split("#")[0] for line in loop.splitlines())  # comments may name them
        assert not re.search(r"\.(item|cpu|numpy|tolist)\(", code), name


def test_on_device_moves_the_data_once_per_process():
    data = load("digits")
    assert devices.on_device(data, "cpu") is data
    # A second device name for the CPU (torch calls it "cpu" too) still moves nothing: one tensor, one copy.
    moved = devices.on_device(data, "cpu")
    assert moved.x_train.data_ptr() == data.x_train.data_ptr()


def test_deterministic_mode_sets_torch_and_the_cublas_workspace(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        devices.deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(before)


def test_dropout_masks_drawn_on_the_cpu_are_the_ones_nn_dropout_draws():
    """On a GPU the single-run engine swaps nn.Dropout for CPU-drawn masks: here, the same run either way."""
    from nncmp.training.engines.single import cpu_mask_dropout

    data = load("digits")
    spec = RunSpec(**{**SMALL, "epochs": 2}, optimizer="adam", dropout=0.3).resolved(data.n_train)
    # One after the other: both draw from the global generator that SingleRun seeds.
    plain = SingleRun(spec, data)
    a = [plain.train_epoch()[0][0][0] for _ in range(2)]
    swapped = SingleRun(spec, data)
    cpu_mask_dropout(swapped.model)
    assert not any(isinstance(m, torch.nn.Dropout) for m in swapped.model.modules())
    b = [swapped.train_epoch()[0][0][0] for _ in range(2)]
    assert a == pytest.approx(b, rel=1e-6)
    for p, q in zip(plain.model.parameters(), swapped.model.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-7)
