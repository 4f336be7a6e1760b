"""The coordinate check (explore/coord.py): its values are mup's get_coord_data's on the same model, data and
weights; μP's coordinates stay put across width and sp's output grows under Adam; the summary and the figure."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pandas as pd
import pytest
import torch
from torch import nn

from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.explore import coord
from nncmp.explore.coord_plots import coord_figure, shown_steps
from nncmp.registry.datasets import load
from nncmp.training.engines.single import SingleRun, make_model
from tests.numerics import rtol

ADAM_AMPLIFICATION = (1 - 0.9) / math.sqrt(1 - 0.999)  # tests/numerics.py step 4, Adam's defaults
STEPS = 3


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def runs(widths: tuple[int, ...], seeds: int = 1, lr: float = 0.01, dataset: str = "digits") -> list[RunSpec]:
    base = RunSpec(optimizer="adam", lr=lr, epochs=1, batch_size=64, dataset=dataset)
    return Grid(base, {"width": widths, "param": ("sp", "mup")}, seeds).runs()


def theirs(spec: RunSpec, data, base: int) -> nn.Module:
    """mup's model of the run's mlp (MuReadout as its output layer) with the weights of the run's sp twin, its
    base shapes set at `base` (mup's rescaling: the same as nncmp's)."""
    m = pytest.importorskip("mup", reason="the coordinate check is compared with microsoft/mup (pip install mup)")
    fan_in = math.prod(data.shape)

    def mlp(w: int) -> nn.Sequential:
        return nn.Sequential(nn.Flatten(), nn.Linear(fan_in, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                             m.MuReadout(w, data.n_out))

    width = spec.model_width()
    model = mlp(width)
    model.load_state_dict(make_model(replace(spec, param="sp", base_width=None), data).state_dict())
    return m.set_base_shapes(model, mlp(base), delta=mlp(2 * base))


def test_the_coordinates_are_mups_get_coord_data(digits):
    """Both parametrisations, the same weights and batches, 3 Adam steps: every layer's value at every step is
    mup's (sp: torch's Adam on the plain model; μP: MuReadout and MuAdam), to float32 rounding over 3 steps."""
    pytest.importorskip("mup", reason="the coordinate check is compared with microsoft/mup (pip install mup)")
    from mup.coord_check import get_coord_data

    specs = [s.resolved(digits.n_train) for s in runs((64, 128, 256))]
    mine = coord.coord_table(specs, digits, STEPS)
    assert list(mine.columns) == coord.COLUMNS
    tol = rtol(STEPS, max(math.prod(digits.shape), 256)) * ADAM_AMPLIFICATION
    for spec in specs:
        run = SingleRun(spec, digits)  # the run's own batches, in its order
        batches = [(digits.x_train[idx], digits.y_train[idx]) for _, idx in run.batches.round(STEPS)]
        plain = copy.deepcopy(make_model(spec, digits)) if spec.param == "sp" else theirs(spec, digits, 64)
        ref = get_coord_data({spec.model_width(): lambda plain=plain: plain}, batches, optimizer="adam", lr=spec.lr,
                             mup=spec.param == "mup", nsteps=STEPS, fix_data=False, cuda=False, show_progress=False)
        ref = ref.set_index(["module", "t"])["l1"]
        ours = mine[(mine["param"] == spec.param) & (mine["width"] == spec.model_width())]
        assert set(ours["layer"]) == {"1", "3", coord.OUTPUT}  # the output layer (5) is the model's output
        assert len(ours) == 3 * STEPS
        for row in ours.itertuples():
            theirs_ = ref["" if row.layer == coord.OUTPUT else row.layer, row.step]
            assert row.mean_abs == pytest.approx(theirs_, rel=tol, abs=0), (spec.param, row)
        assert ref["5", STEPS] == ref["", STEPS]  # what mup records twice, nncmp once
    # At the base width μP is sp: the same network, the same updates (registry/mup.py).
    at_base = mine[mine["width"] == 64].pivot_table(index=["step", "layer"], columns="param", values="mean_abs")
    assert at_base["sp"].to_numpy() == pytest.approx(at_base["mup"].to_numpy(), rel=tol, abs=0)


def test_mup_stays_flat_and_sp_output_grows_under_adam():
    """Widths 64 to 1024 (16x), Adam at 0.01, 5 steps, 3 seeds, on MNIST. Theory (Yang et al. 2022, Tensor
    Programs V): μP's coordinates are Θ(1) in width, a slope of 0 (within ×FLAT over 16x: |slope| ≤ 1/4); sp's
    output after Adam steps grows as the width (each of the n output weights moves by about lr, and their moves
    add up over n inputs of size Θ(1): slope 1 once the updates outweigh the Θ(1) output at initialisation)."""
    data = load("mnist5k")
    specs = [s.resolved(data.n_train) for s in runs((64, 128, 256, 512, 1024), seeds=3, dataset="mnist5k")]
    frame = coord.coord_table(specs, data, 5)
    table = coord.growth(frame).set_index(["param", "layer"])
    assert (table.loc["mup", "slope"].abs() <= 0.25).all(), table.loc["mup"]
    assert table.loc[("sp", coord.OUTPUT), "slope"] > 0.5  # half of the theory's slope: generous
    assert table.loc[("sp", coord.OUTPUT), "slope_min"] > 0.25  # every seed's output grows
    lines = coord.verdict(coord.growth(frame))
    assert lines[0].startswith("sp: ") and "output ×" in lines[0] and "more than ×2" in lines[0]
    assert lines[1].startswith("mup: every layer within ×")
    # At initialisation (step 1) the input layer's coordinates do not depend on the width under either.
    first = coord.growth(frame, step=1).set_index(["param", "layer"])
    assert abs(first.loc[("sp", "1"), "slope"]) < 0.1 and abs(first.loc[("mup", "1"), "slope"]) < 0.1


def frame_of(values: dict[tuple[str, str], list[float]], widths=(64, 128, 256), seeds=2, steps=2) -> pd.DataFrame:
    rows = [{"param": p, "width": w, "seed": s, "step": t, "layer": layer, "mean_abs": v[i] * (1 + 0.01 * s)}
            for (p, layer), v in values.items() for i, w in enumerate(widths) for s in range(seeds)
            for t in range(1, steps + 1)]
    return pd.DataFrame(rows, columns=coord.COLUMNS)


def test_growth_and_verdict_read_the_last_step():
    frame = frame_of({("mup", "1"): [1.0, 1.1, 1.2], ("mup", "output"): [1.0, 0.95, 0.9],
                      ("sp", "1"): [1.0, 1.0, 1.0], ("sp", "3"): [1.0, 2.0, 4.0], ("sp", "output"): [1.0, 4.0, 16.0]})
    table = coord.growth(frame).set_index(["param", "layer"])
    assert table.loc[("sp", "output"), "ratio"] == pytest.approx(16)
    assert table.loc[("sp", "output"), "slope"] == pytest.approx(2)
    assert table.loc[("sp", "3"), "slope"] == pytest.approx(1)
    assert table.loc[("sp", "3"), "slope_min"] == pytest.approx(1)  # each seed a constant factor: the same slope
    assert (table["step"] == 2).all() and (table["width_min"] == 64).all() and (table["width_max"] == 256).all()
    lines = coord.verdict(coord.growth(frame))
    assert lines == ["mup: every layer within ×1.2 from width 64 to 256 (output ×0.9, slope -0.08)",
                     "sp: 2 of 3 layers change more than ×2 from width 64 to 256: output ×16 (slope +2.00), "
                     "3 ×4 (slope +1.00)"]


def test_a_diverged_layer_is_not_flat():
    frame = frame_of({("sp", "output"): [1.0, 3.0, math.inf]})
    table = coord.growth(frame)
    assert math.isnan(table["slope"].iloc[0])
    assert coord.verdict(table) == ["sp: 1 of 1 layers change more than ×2 from width 64 to 256: output not finite"]


class Net(nn.Module):
    """A layer used twice, an in-place activation after a layer, and an output made by no layer of its own."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu_(self.a(x))
        return 2 * self.b(self.b(h))


def test_recorder_takes_each_layers_first_output_and_the_models_own():
    torch.manual_seed(0)
    net, x = Net(), torch.randn(5, 4)
    recorder = coord.Recorder(net)
    recorder.step = 1
    with torch.no_grad():
        a = net.a(x)
        b = net.b(torch.relu(a))
        out = net(x)
        net(x)  # a second pass of the same step (a closure optimizer's): not recorded
    recorder.remove()
    got = {layer: v for _, layer, v in recorder.rows()}
    assert got == pytest.approx({"a": a.abs().mean().item(), "b": b.abs().mean().item(),
                                 coord.OUTPUT: out.abs().mean().item()})
    assert not net._forward_hooks and not net.a._forward_hooks


def test_the_figure_has_a_row_per_parametrisation_and_a_panel_per_step(tmp_path):
    frame = frame_of({("sp", "1"): [1.0, 1.0, 1.0], ("sp", "output"): [1.0, 4.0, 16.0],
                      ("mup", "1"): [1.0, 1.0, 1.0], ("mup", "output"): [1.0, 1.0, 1.0]}, steps=3)
    fig = coord_figure(frame, tmp_path / "coord.png", "coordinate check")
    assert (tmp_path / "coord.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [f"{p}, step {t}" for p in ("sp", "mup") for t in (1, 2, 3)]
    assert [line.get_label() for line in axes[0].get_lines()] == ["1", coord.OUTPUT]
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    assert shown_steps(list(range(1, 11))) == [1, 6, 10] and shown_steps([1, 2, 3]) == [1, 2, 3]
