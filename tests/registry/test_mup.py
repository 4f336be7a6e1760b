"""μP (registry/mup.py) against microsoft/mup 1.0.0 on the same model and the same initial weights: learning-rate
and decay factors equal MuAdam's and MuSGD's parameter groups, outputs and a few steps of training agree to float32
rounding, the coordinate check agrees with mup's get_coord_data and stays flat across widths; at the base width
μP is SP exactly; rule_for tells Adam-like from SGD-like optimizers by their updates."""

from __future__ import annotations

import copy
import functools
import math
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nncmp.registry import mup
from nncmp.registry import optimizers as optim
from nncmp.registry.models import build_mlp
from nncmp.registry.sequence_models import CausalSelfAttention, build_transformer
from nncmp.training.stepping import build_optimizer
from tests.numerics import rtol

BASE, DELTA, WIDTH = 64, 128, 256
ADAM_AMPLIFICATION = (1 - 0.9) / math.sqrt(1 - 0.999)  # tests/numerics.py step 4, Adam's defaults
BATCH = 32


@dataclass(frozen=True)
class Spec:
    """What a builder reads of a run (ModelSpec)."""

    model: str = "mlp"
    hidden: tuple[int, ...] = ()
    act: str = "relu"
    batchnorm: bool = False
    dropout: float = 0.0
    model_args: tuple[tuple[str, Any], ...] = ()


def mlp(width: int, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return build_mlp(Spec(hidden=(width, width)), (784,), 10)


def batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(BATCH, 784, generator=g), torch.randint(0, 10, (BATCH,), generator=g)) for _ in range(n)]


def ours(width: int, seed: int = 0) -> tuple[nn.Sequential, dict[str, mup.Dims]]:
    model = mlp(width, seed)
    dims = mup.infer_shapes(model, mlp(BASE), mlp(DELTA))
    mup.apply(model, dims, mup.readout(model))
    return model, dims


def theirs(width: int, seed: int = 0) -> nn.Module:
    """mup's model of the same architecture with nncmp's SP weights of this seed, its base shapes set."""
    m = pytest.importorskip("mup", reason="the μP tests compare with microsoft/mup (pip install mup==1.0.0)")
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          m.MuReadout(width, 10))
    model.load_state_dict(mlp(width, seed).state_dict())
    shapes = [nn.Sequential(nn.Flatten(), nn.Linear(784, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                            m.MuReadout(w, 10)) for w in (BASE, DELTA)]
    return m.set_base_shapes(model, shapes[0], delta=shapes[1])


def group_factors(opt: torch.optim.Optimizer, params: list[nn.Parameter], key: str, base: float) -> list[float]:
    of = {id(p): g[key] / base for g in opt.param_groups for p in g["params"]}
    return [of[id(p)] for p in params]


def assert_near(ours_: list[torch.Tensor], theirs_: list[torch.Tensor], tol: float) -> None:
    for a, b in zip(ours_, theirs_, strict=True):
        assert (a - b).norm().item() <= tol * b.norm().item(), (a - b).abs().max()


# ---------------------------------------------------------------------------------------------- against mup


def test_dims_follow_width():
    _, dims = ours(WIDTH)
    m = WIDTH / BASE
    assert [(d.ninf, d.fan_in_mult, d.fan_out_mult, d.width_mult) for d in dims.values()] == [
        (1, 1.0, m, m), (1, 1.0, m, m),  # input weight [w, 784], its bias [w]
        (2, m, m, m), (1, 1.0, m, m),  # hidden [w, w], bias
        (1, m, 1.0, m), (0, 1.0, 1.0, 1.0)]  # output weight [10, w], output bias [10]
    with torch.device("meta"):  # shapes are all it reads: models on the meta device allocate nothing
        assert mup.infer_shapes(mlp(WIDTH), mlp(BASE), mlp(DELTA)) == dims


def test_learning_rate_and_decay_factors_are_mups():
    m = pytest.importorskip("mup", reason="the μP tests compare with microsoft/mup (pip install mup==1.0.0)")
    model, dims = ours(WIDTH)
    ref = theirs(WIDTH)
    for rule, cls in (("adam", m.MuAdam), ("sgd", m.MuSGD)):
        opt = cls(ref.parameters(), lr=0.1, weight_decay=0.01)
        assert mup.lr_multipliers(model, dims, rule) == pytest.approx(
            group_factors(opt, list(ref.parameters()), "lr", 0.1), rel=1e-12)
        assert mup.decay_multipliers(model, dims, rule) == pytest.approx(
            group_factors(opt, list(ref.parameters()), "weight_decay", 0.01), rel=1e-12)
    assert mup.lr_multipliers(model, dims, "adam") == [1, 1, 1 / 4, 1, 1, 1]
    assert mup.lr_multipliers(model, dims, "sgd") == [4, 4, 1, 4, 4, 1]


def test_outputs_at_init_are_mups():
    model, _ = ours(WIDTH)
    ref = theirs(WIDTH)
    x = batches(1)[0][0]
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)  # the same rescaling, bit for bit
    torch.testing.assert_close(model(x), ref(x), rtol=rtol(1, 784), atol=0)


@pytest.mark.parametrize("rule, lr", [("adam", 1e-2), ("sgd", 0.1)])
def test_five_steps_train_as_mups_optimizers(rule, lr):
    m = pytest.importorskip("mup", reason="the μP tests compare with microsoft/mup (pip install mup==1.0.0)")
    model, dims = ours(WIDTH)
    ref = theirs(WIDTH)
    factors = mup.lr_multipliers(model, dims, rule)
    groups = [{"params": [p], "lr": lr * f} for p, f in zip(model.parameters(), factors)]
    opt = torch.optim.Adam(groups, lr=lr) if rule == "adam" else torch.optim.SGD(groups, lr=lr)
    ref_opt = (m.MuAdam if rule == "adam" else m.MuSGD)(ref.parameters(), lr=lr)
    for x, y in batches(5):
        for net, o in ((model, opt), (ref, ref_opt)):
            o.zero_grad()
            F.cross_entropy(net(x), y).backward()
            o.step()
    # 5 steps whose longest sum is the 784 inputs; Adam's normalised steps amplify rounding (tests/numerics.py)
    tol = rtol(5, 784) * (ADAM_AMPLIFICATION if rule == "adam" else 1)
    assert_near(list(model.parameters()), list(ref.parameters()), tol)


def coords(model: nn.Module, rule: str, lr: float, factors: list[float], data) -> dict[tuple[str, int], float]:
    """Mean |output| of every module at steps 1..3 (the forward before each step), as mup's coord check."""
    groups = [{"params": [p], "lr": lr * f} for p, f in zip(model.parameters(), factors)]
    opt = torch.optim.Adam(groups, lr=lr) if rule == "adam" else torch.optim.SGD(groups, lr=lr)
    out: dict[tuple[str, int], float] = {}
    for t in range(1, 4):
        def record(_m, _i, o, name: str, t: int = t) -> None:
            out[name, t] = o.abs().mean().item()

        hooks = [mod.register_forward_hook(functools.partial(record, name=name)) for name, mod in model.named_modules()]
        x, y = data
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        for h in hooks:
            h.remove()
    return out


@pytest.mark.parametrize("rule, lr", [("adam", 1e-2), ("sgd", 0.1)])
def test_coordinate_check_matches_mup_and_stays_flat(rule, lr):
    pytest.importorskip("mup", reason="the μP tests compare with microsoft/mup (pip install mup==1.0.0)")
    from mup.coord_check import get_coord_data

    widths = (64, 128, 256, 512)
    data = batches(1)[0]
    ref = get_coord_data({w: (lambda w=w: theirs(w)) for w in widths}, [data], optimizer=rule, lr=lr, mup=True,
                         nsteps=3, cuda=False, show_progress=False)
    mine = {}
    for w in widths:
        model, dims = ours(w)
        mine[w] = coords(model, rule, lr, mup.lr_multipliers(model, dims, rule), data)
    tol = rtol(3, 784) * (ADAM_AMPLIFICATION if rule == "adam" else 1)
    for row in ref.itertuples():
        assert mine[row.width][(row.module, row.t)] == pytest.approx(row.l1, rel=tol, abs=0)
    # μP: no layer's coordinates grow with width (8x wider: within 2x, up or down; the output at init shrinks
    # as 1/sqrt(width/base), sqrt(8) = 2.8, so from step 2)
    for (name, t), value in mine[512].items():
        if t > 1:
            assert 1 / 2 < value / mine[64][(name, t)] < 2, (name, t)
    # What training does to the output: flat under μP; under SP it grows towards proportional to the width (the
    # output weight's step, Adam's and SGD's at a fixed rate alike, adds up over the w coordinates of its input),
    # less the terms that do not grow at these small widths: 16x wider, more than 3x larger
    change = {(p, w): output_change(*ours(w), rule, lr, data, p == "sp") for p in ("mup", "sp") for w in (64, 1024)}
    assert 1 / 2 < change["mup", 1024] / change["mup", 64] < 2
    assert change["sp", 1024] / change["sp", 64] > 3


def output_change(model: nn.Module, dims: dict[str, mup.Dims], rule: str, lr: float, data, sp: bool) -> float:
    """Mean |f(x) after 2 steps - f(x) at init|, under μP or, on a fresh SP model of the same width, SP."""
    if sp:
        model = mlp(model[1].out_features)
    factors = [1.0] * 6 if sp else mup.lr_multipliers(model, dims, rule)
    x, _ = data
    with torch.no_grad():
        before = model(x)
    coords(model, rule, lr, factors, data)  # 3 steps; the 3rd forward saw 2
    with torch.no_grad():
        return (model(x) - before).abs().mean().item()


# ---------------------------------------------------------------------------------------------- the base width


def test_base_width_is_sp_exactly():
    model, sp = mlp(BASE), mlp(BASE)
    dims = mup.infer_shapes(model, mlp(BASE), mlp(DELTA))
    mup.apply(model, dims, mup.readout(model))
    x = batches(1)[0][0]
    assert torch.equal(model(x), sp(x))
    assert mup.lr_multipliers(model, dims, "adam") == mup.lr_multipliers(model, dims, "sgd") == [1.0] * 6
    assert mup.decay_multipliers(model, dims, "adam") == [1.0] * 6


def test_readout_runs_under_functional_call():
    model, _ = ours(WIDTH)
    x = batches(1)[0][0]
    params = {name: p.detach() for name, p in model.named_parameters()}
    torch.testing.assert_close(functional_call(model, params, (x,)), model(x), rtol=0, atol=0)
    assert not list(model.buffers())
    torch.testing.assert_close(copy.deepcopy(model)(x), model(x), rtol=0, atol=0)  # the hook goes with a copy
    torch.testing.assert_close(pickle.loads(pickle.dumps(model))(x), model(x), rtol=0, atol=0)  # and to a worker


def test_apply_refuses_a_second_call_and_a_second_output_layer():
    model, dims = ours(WIDTH)
    with pytest.raises(ValueError, match="already"):
        mup.apply(model, dims, "5")

    class TwoHeads(nn.Module):
        def __init__(self, w: int):
            super().__init__()
            self.body, self.aux, self.head = nn.Linear(4, w), nn.Linear(w, 3), nn.Linear(w, 2)

        def forward(self, x):
            h = self.body(x)
            return self.head(h) + self.aux(h).sum(-1, keepdim=True)

    two = TwoHeads(WIDTH)
    with pytest.raises(ValueError, match="aux maps a dimension that grows"):
        mup.apply(two, mup.infer_shapes(two, TwoHeads(BASE), TwoHeads(DELTA)), mup.readout(two))


def test_a_model_that_does_not_change_shape_is_refused():
    with pytest.raises(ValueError, match="does not change shape with its width argument"):
        mup.infer_shapes(mlp(BASE), mlp(BASE), mlp(BASE))


# ---------------------------------------------------------------------------------------------- the transformer


def transformer(d_model: int, tie: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    spec = Spec(model="transformer", model_args=(("d_model", d_model), ("n_head", 2), ("n_layer", 1), ("tie", tie)))
    return build_transformer(spec, (6,), 11, vocab=11)


@pytest.mark.parametrize("tie", [False, True])
def test_transformer_at_base_width_is_sp(tie):
    model, sp = transformer(32, tie), transformer(32, tie)
    mup.apply(model, mup.infer_shapes(model, transformer(32, tie), transformer(64, tie)), mup.readout(model))
    x = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(0))
    assert mup.readout(model) == "head"
    assert torch.equal(model(x), sp(x))


def test_transformer_attention_scale_is_one_over_d_head():
    x = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(0))
    base_d_head = 32 // 2
    for d_model in (32, 64, 128):
        model = transformer(d_model)
        mup.apply(model, mup.infer_shapes(model, transformer(32), transformer(64)), "head")
        (attn,) = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
        d_head = d_model // 2
        assert attn.scale == pytest.approx(math.sqrt(base_d_head) / d_head, rel=1e-15)  # ∝ 1/d_head
        assert model(x).isfinite().all()


def test_tied_weight_is_rescaled_once():
    model, sp = transformer(128, tie=True), transformer(128, tie=True)
    mup.apply(model, mup.infer_shapes(model, transformer(32, True), transformer(64, True)), "head")
    assert model.head.weight is model.embed.weight
    torch.testing.assert_close(model.embed.weight, sp.embed.weight * 2.0, rtol=0, atol=0)  # sqrt(128 / 32)


# ---------------------------------------------------------------------------------------------- rule_for


def builder(name: str):
    e = optim.entry(name)
    return lambda params: build_optimizer(name, optim.default_lr(name), dict(e.defaults), params)


@pytest.mark.parametrize("name, rule", [("adam", "adam"), ("adamw", "adam"), ("rmsprop", "adam"), ("lion", "adam"),
                                        ("radam", "adam"), ("sgd", "sgd"), ("momentum", "sgd"),
                                        ("nesterov", "sgd")])
def test_rule_for_reads_the_update(monkeypatch, name, rule):
    if optim.entry(name).source == "pytorch-optimizer":
        pytest.importorskip("pytorch_optimizer", reason=f"{name} is pytorch-optimizer's")
    monkeypatch.setattr(mup, "_RULES", {})
    assert mup.rule_for(name, builder(name)) == rule
    assert {name: rule} == mup._RULES


def test_rule_for_refuses_an_update_neither_adam_nor_sgd_like(monkeypatch):
    pytest.importorskip("pytorch_optimizer", reason="padam is pytorch-optimizer's")
    monkeypatch.setattr(mup, "_RULES", {})
    # Padam divides by the second moment to the power 1/8: its update grows as the gradient's scale to the 3/4
    with pytest.raises(ValueError, match="padam's update is neither.*SGD-like and Adam-like updates only"):
        mup.rule_for("padam", builder("padam"))
