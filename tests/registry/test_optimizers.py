"""Optimizers: the built-ins' torch classes and defaults, and every other torch.optim and pytorch-optimizer
optimizer by name; --opt-arg values checked against the class's signature."""

import inspect

import pytest
import torch

from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry import optimizers as optim
from nncmp.registry.optimizers import OPTIMIZERS
from nncmp.training.engines.single import train
from tests.conftest import TINY_SYNTHETIC

# Defaults nncmp chooses itself (the course's learning rates, the momentum of the momentum variants);
# every other default must be torch.optim's own.
OWN_CHOICES = {("gd", "lr"), ("sgd", "lr"), ("minibatch", "lr"), ("momentum", "lr"), ("nesterov", "lr"),
               ("momentum", "momentum"), ("nesterov", "momentum")}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_defaults_are_torch_defaults(name):
    entry = OPTIMIZERS[name]
    signature = inspect.signature(getattr(torch.optim, entry.torch_class).__init__).parameters
    for key, value in {"lr": entry.lr, **entry.defaults}.items():
        if (name, key) not in OWN_CHOICES:
            assert signature[key].default == value, (name, key)


def test_course_learning_rates():
    assert OPTIMIZERS["sgd"].lr == OPTIMIZERS["minibatch"].lr == OPTIMIZERS["gd"].lr == 0.01
    assert OPTIMIZERS["adam"].lr == 0.001
    sizes = (OPTIMIZERS["gd"].batch_size, OPTIMIZERS["sgd"].batch_size, OPTIMIZERS["minibatch"].batch_size)
    assert sizes == (None, 1, 64)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_trains_on_tiny_data(name, tiny_synthetic):
    records = train(RunSpec(**TINY_SYNTHETIC, optimizer=name), tiny_synthetic)
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert records[-1]["status"] == "ok"
    assert records[-1]["train_loss"] < records[0]["train_loss"]


@pytest.mark.parametrize("name, canonical, source, cls", [
    ("adam", "adam", "nncmp", "Adam"),  # built-in first
    ("NAdam", "nadam", "torch", "NAdam"),  # case-insensitive
    ("torch:nadam", "nadam", "torch", "NAdam"),  # the bare name resolves there anyway
    ("asgd", "asgd", "torch", "ASGD"),  # torch before pytorch-optimizer
    ("pytorch-optimizer:asgd", "pytorch-optimizer:asgd", "pytorch-optimizer", "ASGD"),
    ("torch:adam", "torch:adam", "torch", "Adam"),  # not the built-in
    ("lion", "lion", "pytorch-optimizer", "Lion"),
    ("muon", "muon", "torch", "Muon"),  # torch.optim has one since 2.9
    ("pytorch-optimizer:muon", "pytorch-optimizer:muon", "pytorch-optimizer", "Muon"),
    ("schedulefreeadamw", "schedulefreeadamw", "pytorch-optimizer", "ScheduleFreeAdamW"),
    ("sam", "sam", "pytorch-optimizer", "SAM"),
])
def test_names_resolve_built_in_then_torch_then_pytorch_optimizer(name, canonical, source, cls):
    assert optim.resolve(name) == canonical
    entry = optim.entry(canonical)
    assert (entry.source, entry.torch_class) == (source, cls)
    assert RunSpec(optimizer=name).optimizer == canonical  # results carry the canonical name


def test_the_name_snapshot_is_the_libraries_names_at_its_versions():
    import pytorch_optimizer

    version, names = optim.SNAPSHOT["torch"]
    if optim.installed_version("torch").split("+")[0] == version:
        assert set(names) == set(optim._torch_names())
    version, names = optim.SNAPSHOT["pytorch-optimizer"]
    if optim.installed_version("pytorch-optimizer") == version:
        assert set(names) == set(pytorch_optimizer.get_supported_optimizers())


def test_the_two_asgds_are_different_algorithms():
    a, b = optim.entry("asgd"), optim.entry("pytorch-optimizer:asgd")
    assert optim.optimizer_class(a) is torch.optim.ASGD
    assert optim.optimizer_class(b) is not torch.optim.ASGD
    assert "lambd" in optim.settable("asgd") and "amplifier" in optim.settable("pytorch-optimizer:asgd")


def test_suggestions_name_each_optimizer_once():
    """torch and pytorch-optimizer both have an adam: it is suggested once."""
    with pytest.raises(SpecError) as refused:
        optim.resolve("adm")
    close = str(refused.value).split("closest: ")[1].split(" (")[0].split(", ")
    assert close[0] == "adam" and len(close) == len(set(close))


def test_unknown_names_say_the_closest():
    with pytest.raises(SpecError, match=r"unknown optimizer 'lino'; closest: lion"):
        optim.resolve("lino")
    with pytest.raises(SpecError, match="pytorch-optimizer has no optimizer 'lionn'; closest: pytorch-optimizer:lion"):
        optim.resolve("pytorch-optimizer:lionn")


def test_default_rates_are_the_classes_own_or_the_table():
    assert optim.entry("lion").lr == 1e-4 and optim.entry("nadam").lr == 2e-3 and optim.entry("prodigy").lr == 1.0
    assert optim.entry("sara").lr == optim.DEFAULT_LRS["sara"]  # its class default is None
    assert optim.entry("alig").lr_key == "max_lr"
    from nncmp.tuning.lr import tuning_specs

    rates = [s.lr for s in tuning_specs([RunSpec(optimizer="lion")])]
    assert 1e-4 in rates and min(rates) < 1e-4 < max(rates)  # --lrs auto centres on the default


def test_opt_arg_values_are_parsed_and_checked_against_the_signature():
    assert optim.parse_value("0.9,0.95") == (0.9, 0.95)
    assert optim.parse_value("true") is True and optim.parse_value("3") == 3 and optim.parse_value("w") == "w"
    spec = RunSpec(optimizer="adam", opt_args={"amsgrad": True})
    assert spec.opt_args == (("amsgrad", True),)
    assert RunSpec(optimizer="lion", opt_args={"betas": (0.9, 0.95)}).betas == (0.9, 0.95)  # as --betas
    assert RunSpec(optimizer="torch:muon", opt_args={"ns_steps": 3.0}).opt_args == (("ns_steps", 3),)
    with pytest.raises(SpecError, match="takes an integer for ns_steps"):
        RunSpec(optimizer="torch:muon", opt_args={"ns_steps": 2.5})
    with pytest.raises(SpecError, match=r"has no such argument \(did you mean amsgrad\?\)"):
        RunSpec(optimizer="adam", opt_args={"amsgrd": True})
