"""direct_step: torch's fused kernels called without Optimizer.step's Python, checked against step() itself."""

import pytest
import torch
from torch import nn

from nncmp.training.direct_step import direct_step

SETTINGS = [
    (torch.optim.Adam, {"lr": 1e-2}),
    (torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True, "betas": (0.8, 0.99)}),
    (torch.optim.Adam, {"lr": 1e-2, "maximize": True, "eps": 1e-6}),
    (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
    (torch.optim.SGD, {"lr": 0.1}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
]


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def _train(cls, kwargs, direct: bool, steps: int = 6, groups: bool = False):
    model = _model()
    params = model.parameters() if not groups else [
        {"params": [p for p in model.parameters() if p.dim() > 1]},
        {"params": [p for p in model.parameters() if p.dim() == 1], "lr": kwargs["lr"] / 3}]
    optimizer = cls(params, fused=True, **kwargs)
    step = direct_step(optimizer) if direct else optimizer.step
    x, y = torch.randn(16, 5, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    for t in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x * (t + 1)), y).backward()
        step()
        optimizer.param_groups[0]["lr"] *= 0.9  # a schedule between steps: the direct path reads the rate anew
    return model, optimizer


@pytest.mark.parametrize(("cls", "kwargs"), SETTINGS)
@pytest.mark.parametrize("groups", [False, True])
def test_the_direct_step_is_torchs_step_exactly(cls, kwargs, groups):
    model_a, opt_a = _train(cls, kwargs, direct=False, groups=groups)
    model_b, opt_b = _train(cls, kwargs, direct=True, groups=groups)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(opt_a.state.values(), opt_b.state.values()):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_it_calls_the_kernel_not_step_after_the_first_step(monkeypatch):
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    calls = []
    monkeypatch.setattr(optimizer, "step", lambda: calls.append(1) or torch.optim.Adam.step(optimizer))
    step = direct_step(optimizer)
    for _ in range(4):
        optimizer.zero_grad()
        model(torch.ones(2, 5)).sum().backward()
        step()
    assert len(calls) == 1  # the first: step() creates the state
    assert int(optimizer.state[next(model.parameters())]["step"]) == 4


def test_hooks_a_missing_gradient_and_other_optimizers_go_through_step():
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    seen = []
    optimizer.register_step_post_hook(lambda *_: seen.append(1))
    step = direct_step(optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.ones(2, 5)).sum().backward()
        step()
    assert len(seen) == 3  # each step went through step(), hooks and all

    # A parameter without a gradient (step() skips it): step() does it.
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    step = direct_step(optimizer)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.ones(2, 5)).sum().backward()
        model[0].bias.grad = None
        before = model[0].bias.detach().clone()
        step()
        assert torch.equal(model[0].bias, before)

    for optimizer in (torch.optim.Adam(_model().parameters(), foreach=True),
                      torch.optim.RMSprop(_model().parameters())):
        assert direct_step(optimizer) == optimizer.step  # not fused, or another algorithm: step() itself


def test_a_loaded_state_is_the_one_stepped():
    """Resume replaces the state's tensors: the direct path reads them each step."""
    model_a, opt_a = _train(torch.optim.Adam, {"lr": 1e-2}, direct=False, steps=6)
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    step = direct_step(optimizer)
    x, y = torch.randn(16, 5, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    for t in range(6):
        if t == 3:  # as after a resume: a copy of the state so far, loaded into a new optimizer
            saved = optimizer.state_dict()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
            optimizer.load_state_dict(saved)
            step = direct_step(optimizer)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x * (t + 1)), y).backward()
        step()
        optimizer.param_groups[0]["lr"] *= 0.9
    for a, b in zip(model_a.parameters(), model.parameters()):
        assert torch.equal(a, b)
