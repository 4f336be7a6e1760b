"""pytorch-optimizer's Muon as nncmp builds it (registry/muon_cpu.py): on a CPU without native bfloat16 its
Newton–Schulz iteration runs in float32 — the library's own update with dtype=float32 passed by hand, at a step
time of the order of AdamW's rather than the bfloat16 emulation's hundreds of times it. Ratios, never times."""

import copy
import functools
import time

import pytest
import torch
from pytorch_optimizer.optimizer.muon import base as library_base
from pytorch_optimizer.optimizer.muon.muon import Muon as LibraryMuon
from torch import nn

from nncmp.registry import muon_cpu
from nncmp.registry import optimizers as optim
from nncmp.training.stepping import build_optimizer


def course_mlp(hidden: tuple[int, ...] = (256, 128)) -> nn.Sequential:
    torch.manual_seed(0)
    widths = [784, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers, nn.Linear(widths[-1], 10))


def steps(model: nn.Module, optimizer: torch.optim.Optimizer, n: int = 3) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(n):
        x, y = torch.randn(64, 784, generator=gen), torch.randint(0, 10, (64,), generator=gen)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


def by_hand(model: nn.Module, **kwargs) -> LibraryMuon:
    """The library's Muon, grouped as nncmp groups it (stepping.hidden_matrices)."""
    from nncmp.training.stepping import hidden_matrices

    matrices, rest = hidden_matrices(model)
    return LibraryMuon([{"params": matrices, "use_muon": True}, {"params": rest, "use_muon": False}], **kwargs)


@pytest.fixture
def float32_by_hand(monkeypatch):
    """The library's iterations with dtype=float32 passed by hand (what its Muon cannot be asked for)."""
    for name in ("zero_power_via_newton_schulz_5", "zero_power_via_gram_newton_schulz"):
        monkeypatch.setattr(library_base, name, functools.partial(getattr(library_base, name), dtype=torch.float32))


@pytest.fixture
def no_native_bf16(monkeypatch):
    """This CPU as the one the issue measured, whatever the test machine has."""
    monkeypatch.setattr(muon_cpu, "native_bf16", lambda: False)


def test_the_registry_builds_it_and_says_so():
    e = optim.entry("pytorch-optimizer:muon")
    assert e.module == "nncmp.registry.muon_cpu" and optim.NS_FLOAT32 in e.handling and optim.MUON in e.handling
    model = course_mlp()
    built = build_optimizer("pytorch-optimizer:muon", 0.02, dict(e.defaults), model.parameters(), model)
    assert isinstance(built, muon_cpu.Muon) and isinstance(built, LibraryMuon)
    assert "ns_steps" in optim.settable("pytorch-optimizer:muon")  # the library's arguments, through the subclass
    assert isinstance(muon_cpu.native_bf16(), bool)


@pytest.mark.parametrize(("hidden", "args"), [
    ((256, 128), {}),  # the course MLP: two matrices of different shapes, one iteration each
    ((32, 32, 32), {}),  # two 32×32 matrices: stacked into one batched iteration
    ((32, 32, 32), {"foreach": False}),  # one matrix at a time
    ((64, 32), {"ns_method": "gram_newton_schulz", "weight_decay": 0.1}),
])
def test_the_float32_update_is_the_librarys_with_dtype_float32_by_hand(hidden, args, no_native_bf16,
                                                                       float32_by_hand):
    ours_model = course_mlp(hidden)
    theirs_model = copy.deepcopy(ours_model)
    e = optim.entry("pytorch-optimizer:muon")
    ours = build_optimizer("pytorch-optimizer:muon", 0.02, {**e.defaults, **args}, ours_model.parameters(),
                           ours_model)
    steps(ours_model, ours)
    steps(theirs_model, by_hand(theirs_model, lr=0.02, **{**e.defaults, **args}))
    for mine, theirs in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_bfloat16_and_the_library_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(muon_cpu, "native_bf16", lambda: True)
    group = {"ns_steps": 5, "ns_coeffs": ((3.4445, -4.7750, 2.0315),)}
    update = torch.randn(16, 8)
    assert muon_cpu.Muon._orthogonalize(group, [update])[0].dtype == torch.bfloat16  # the library's, untouched
    monkeypatch.setattr(muon_cpu, "native_bf16", lambda: False)
    assert muon_cpu.Muon._orthogonalize(group, [update])[0].dtype == torch.float32


def _seconds_per_step(model: nn.Module, optimizer: torch.optim.Optimizer, n: int) -> float:
    steps(model, optimizer, 2)  # state allocated, first-call costs paid
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        steps(model, optimizer, n)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def test_a_step_costs_the_order_of_adamws_not_hundreds_of_times_it(no_native_bf16):
    """Issue 29: 0.71 s a Muon step against AdamW's 2 ms (bfloat16 emulated). In float32 the Newton–Schulz
    products are a few times the step's own (measured here: about 8× AdamW's whole step with one thread)."""
    model = course_mlp()
    adamw = _seconds_per_step(model, torch.optim.AdamW(model.parameters(), fused=True), 5)
    model = course_mlp()
    e = optim.entry("pytorch-optimizer:muon")
    muon = _seconds_per_step(model, build_optimizer("pytorch-optimizer:muon", 0.02, dict(e.defaults),
                                                    model.parameters(), model), 5)
    assert muon / adamw < 60, (muon, adamw)  # bfloat16 emulated was about 350×
