"""Optimizers beyond the built-ins (torch.optim, pytorch-optimizer): names, --opt-arg, special handling,
failures; and learning-rate schedules against torch's own schedulers, step by step."""

import json
import math

import pandas as pd
import pytest
import torch

from nncmp.errors import SpecError
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules
from nncmp.registry.datasets import load
from nncmp.spec.grid import Grid
from nncmp.spec.run import RunSpec, total_steps
from nncmp.training.engines.single import SingleRun, train
from nncmp.training.stepping import build_for, hidden_matrices


@pytest.fixture(scope="module")
def digits():
    return load("digits")


@pytest.fixture(scope="module")
def tiny(digits):
    """160 digits, a small network: enough to run every optimizer for an epoch in a few seconds."""
    from dataclasses import replace

    return replace(digits, x_train=digits.x_train[:160], y_train=digits.y_train[:160],
                   x_val=digits.x_val[:80], y_val=digits.y_val[:80])


TINY = {"dataset": "digits", "hidden": (16, 12), "epochs": 1, "batch_size": 32}


# --- names ----------------------------------------------------------------------------------------

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


def test_every_optimizer_that_runs_here_trains_an_epoch_and_the_others_are_refused(tiny):
    """The contract of `nncmp optimizers`' last column, for every name it lists."""
    from nncmp.commands.optimizers import catalog

    rows = catalog()
    assert len(rows) > 130
    for row in rows:
        spec = RunSpec(**TINY, optimizer=row["name"]) if row["available"] else None
        if not row["available"]:
            assert row["why_not"]
            with pytest.raises(SpecError, match="cannot run here"):
                RunSpec(**TINY, optimizer=row["name"])
            continue
        records = train(spec, tiny)
        assert [r["epoch"] for r in records] == [0, 1], row["name"]
        assert records[-1]["status"] in ("ok", "diverged"), row["name"]


def test_optimizers_command_lists_sources_rates_hyperparameters_and_availability(cli):
    code, out, _ = cli("optimizers", "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"adam", "nadam", "lion", "adan", "lamb", "prodigy", "muon", "soap", "schedulefreeadamw", "sophiah",
            "ademamix", "lbfgs", "sam"} <= set(rows)
    assert rows["lion"]["source"] == "pytorch-optimizer" and rows["lion"]["lr"] == 1e-4
    assert rows["lion"]["hyperparameters"]["betas"] == [0.9, 0.99]
    assert "muon-groups" in rows["adamuon"]["handling"] and "matrices+adamw" in rows["muon"]["handling"]
    assert "closure" in rows["lbfgs"]["handling"] and "hessian" in rows["sophiah"]["handling"]
    assert "schedule-free" in rows["schedulefreeadamw"]["handling"]
    assert rows["distributedmuon"]["available"] is False and "process group" in rows["distributedmuon"]["why_not"]
    code, out, _ = cli("optimizers", "--filter", "adam*")
    assert code == 0 and "adamw" in out and "lion" not in out and "runs here" in out
    code, out, result = cli("optimizers", "--filter", "zzz*")
    assert code == 2 and "matches no optimizer" in result.stderr


# --- --opt-arg --------------------------------------------------------------------------------------

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


def test_opt_args_reach_the_optimizer_the_config_id_and_the_metrics(cli, tmp_path, digits):
    spec = RunSpec(optimizer="lbfgs", opt_args={"history_size": 5, "line_search_fn": "strong_wolfe"}).resolved(100)
    opt = build_for(spec, [torch.nn.Parameter(torch.zeros(3))])
    assert opt.param_groups[0]["history_size"] == 5 and opt.param_groups[0]["line_search_fn"] == "strong_wolfe"
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "adam,adamw", "--inits", "he", "--seeds", "1",
                       "--epochs", "1", "--opt-arg", "amsgrad=true", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "metrics.csv", keep_default_na=False)
    assert set(metrics["opt_args"]) == {"amsgrad=true"}
    assert set(metrics["config"]) == {"adam/he-normal/lr=0.001/bs=64/amsgrad=true",
                                      "adamw/he-normal/lr=0.001/bs=64/amsgrad=true"}
    summary = pd.read_csv(tmp_path / "summary.csv", keep_default_na=False)
    assert set(summary["opt_args"]) == {"amsgrad=true"}
    # Two settings of one optimizer are two configurations.
    assert RunSpec(optimizer="adam").config_id != RunSpec(optimizer="adam", opt_args={"amsgrad": True}).config_id


def test_on_compare_each_key_goes_to_the_optimizers_that_take_it():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"optimizer": ("adam", "lion", "sgd"), "init": ("he",)}, seeds=1,
                opt_args={"amsgrad": True, "weight_decouple": False})
    args = {s.optimizer: dict(s.opt_args) for s in grid.runs()}
    assert args == {"adam": {"amsgrad": True}, "lion": {"weight_decouple": False}, "sgd": {}}


# --- special handling ---------------------------------------------------------------------------------

def test_lion_step_matches_its_update_rule_by_hand():
    """Chen et al. 2023: c = β1·m + (1−β1)·g; p ← p − lr·(sign(c) + λ·p); m ← β2·m + (1−β2)·g."""
    lr, b1, b2, wd = 0.01, 0.9, 0.99, 0.1
    spec = RunSpec(optimizer="lion", lr=lr, weight_decay=wd).resolved(100)
    p0 = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    p = torch.nn.Parameter(p0.clone())
    opt = build_for(spec, [p])
    grads = [torch.tensor([0.3, -0.2, 0.0, 1.0], dtype=torch.float64), torch.tensor([-1.0, 0.5, 0.2, -0.1],
                                                                                  dtype=torch.float64)]
    m, expected = torch.zeros(4, dtype=torch.float64), p0.clone()
    for g in grads:
        p.grad = g.clone()
        opt.step()
        c = b1 * m + (1 - b1) * g
        expected = expected * (1 - lr * wd) - lr * torch.sign(c)
        m = b2 * m + (1 - b2) * g
        assert torch.allclose(p.detach(), expected, rtol=0, atol=1e-15)


def test_muon_family_puts_hidden_matrices_in_the_muon_group(digits):
    model = SingleRun(RunSpec(dataset="digits", optimizer="adamuon"), digits).model
    matrices, rest = hidden_matrices(model)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(p.shape) for p in matrices] == [(256, 64), (128, 256)]  # not the output layer
    run = SingleRun(RunSpec(dataset="digits", optimizer="adamuon"), digits)
    groups = run.optimizer.param_groups
    muon = [g for g in groups if g["use_muon"]]
    adamw = [g for g in groups if not g["use_muon"]]
    assert len(muon) == 1 and [p.shape for p in muon[0]["params"]] == [p.shape for p in matrices]
    assert sum(len(g["params"]) for g in adamw) == len(list(model.parameters())) - 2
    assert linears[-1].weight.shape == (10, 128)
    # torch's Muon takes 2-D parameters only: it gets the same matrices, an AdamW the rest.
    pair = SingleRun(RunSpec(dataset="digits", optimizer="muon"), digits).optimizer
    muon_part, adamw_part = pair.parts
    assert isinstance(muon_part, torch.optim.Muon) and isinstance(adamw_part, torch.optim.AdamW)
    assert [p.shape for p in muon_part.param_groups[0]["params"]] == [(256, 64), (128, 256)]


def test_closure_optimizers_evaluate_the_batch_again(tiny, monkeypatch):
    calls = []
    for name in ("lbfgs", "sam", "alig"):
        run = SingleRun(RunSpec(**TINY, optimizer=name), tiny)
        original = run.optimizer.step

        def step(closure=None, original=original, name=name):
            assert closure is not None, name
            calls.append(name)
            return original(closure)

        monkeypatch.setattr(run.optimizer, "step", step)
        (losses, _, _), _ = run.train_epoch()
        assert math.isfinite(losses[0])
    assert {n: calls.count(n) for n in set(calls)} == {"lbfgs": 5, "sam": 5, "alig": 5}  # 160 / 32 steps


def test_hessian_optimizers_backpropagate_with_a_graph(tiny):
    for name in ("adahessian", "sophiah"):
        run = SingleRun(RunSpec(**TINY, optimizer=name), tiny)
        assert run.stepper.hessian
        before = run.evaluate("train")[0][0]
        run.train_epoch()
        assert run.evaluate("train")[0][0] < before, name


def test_schedule_free_evaluates_the_averaged_weights_with_fresh_batchnorm_statistics(tiny):
    run = SingleRun(RunSpec(**TINY, optimizer="schedulefreeadamw", batchnorm=True), tiny)
    run.train_epoch()
    assert run.optimizer.param_groups[0]["train_mode"]
    trained = [p.detach().clone() for p in run.model.parameters()]
    norm = next(m for m in run.model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    stale = norm.running_mean.clone()
    run.evaluate("val")
    assert not run.optimizer.param_groups[0]["train_mode"]  # the optimizer swapped in its average
    assert any(not torch.equal(a, b) for a, b in zip(trained, run.model.parameters()))
    assert not torch.equal(stale, norm.running_mean)  # statistics recomputed at those weights
    run.train_epoch()
    assert run.optimizer.param_groups[0]["train_mode"]


def test_required_arguments_are_filled_in(tiny):
    from nncmp.training import stepping

    seen = {}
    original = stepping.build_optimizer

    def spy(name, *args, **kwargs):
        optimizer = original(name, *args, **kwargs)
        seen[name] = optimizer
        return optimizer

    stepping.build_optimizer = spy
    try:
        ranger = SingleRun(RunSpec(**TINY, optimizer="ranger21"), tiny)
        SingleRun(RunSpec(**TINY, optimizer="bsam"), tiny)
    finally:
        stepping.build_optimizer = original
    assert total_steps(ranger.specs[0], tiny.n_train) == 5  # ranger21 warms down over the run's 5 steps
    assert seen["ranger21"].start_warm_down == 5 - seen["ranger21"].num_warm_down_iterations
    assert seen["bsam"].num_data == 160


def test_a_run_whose_optimizer_raises_is_recorded_as_failed_and_the_rest_finish(cli, tmp_path, monkeypatch):
    from nncmp.training import stepping

    original = stepping.Stepper.step

    def step(self, forward_backward, n):
        if isinstance(self.optimizer, torch.optim.NAdam):
            raise RuntimeError("injected: NAdam broke")
        return original(self, forward_backward, n)

    monkeypatch.setattr(stepping.Stepper, "step", step)
    code, out, result = cli("compare", "--dataset", "digits", "--opts", "nadam,radam", "--inits", "he", "--seeds",
                            "1", "--epochs", "1", "--no-plot", "--out", tmp_path)
    assert code == 1, out
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs["status"]) == ["failed", "ok"]
    assert runs["error"].iloc[0] == "RuntimeError: injected: NAdam broke"
    assert set(pd.read_csv(tmp_path / "metrics.csv")["optimizer"]) == {"radam"}
    assert "Traceback" not in out
    code, out, _ = cli("train", "--dataset", "digits", "--opt", "nadam", "--epochs", "1", "--no-plot",
                       "--out", tmp_path / "train")
    assert code == 1 and "failed: RuntimeError: injected: NAdam broke" in out


# --- schedules --------------------------------------------------------------------------------------

def torch_scheduler(name, opt, total, warmup):
    from torch.optim import lr_scheduler as s

    w = schedules.warmup_steps(warmup if warmup is not None else schedules.DEFAULT_WARMUP, total)
    if name == "constant":
        return s.ConstantLR(opt, factor=1.0, total_iters=0)
    if name == "step":
        return s.StepLR(opt, step_size=math.ceil(total / 3), gamma=0.1)
    if name == "cosine" or (name == "warmup-cosine" and w == 0):
        return s.CosineAnnealingLR(opt, T_max=total)
    if name == "warmup-cosine":
        return s.SequentialLR(opt, [s.LinearLR(opt, start_factor=1 / (w + 1), total_iters=w),
                                    s.CosineAnnealingLR(opt, T_max=total - w)], milestones=[w])
    if name == "linear":
        return s.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=total)
    if name == "onecycle":
        return s.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"], total_steps=total, cycle_momentum=False)
    from pytorch_optimizer import get_wsd_schedule

    decay = math.ceil(schedules.WSD_DECAY * total)
    return get_wsd_schedule(opt, w, total - w - decay, decay)


@pytest.mark.parametrize("name", schedules.SCHEDULES)
@pytest.mark.parametrize("total, warmup", [(37, None), (120, 7), (2, 0), (500, 0.1)])
def test_every_schedule_sets_the_rate_torch_sets_at_every_step(name, total, warmup):
    import warnings

    if name not in schedules.WARMUP_SCHEDULES:
        warmup = None
    try:
        schedules.check(name, warmup, total)
    except SpecError:
        assert name == "wsd" and total == 2  # a warm-up and a decay need more than 2 steps
        return
    ours = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    schedule = schedules.Schedule(ours, name, total, warmup)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warnings about stepping a scheduler without a step
        reference = torch_scheduler(name, theirs, total, warmup)
        for t in range(total + 1):
            assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12, abs=1e-15), t
            if t < total:
                theirs.step()
                reference.step()
                schedule.step()


def test_onecycle_adds_no_momentum_and_lr_end_follows_the_schedule(digits):
    spec = RunSpec(dataset="digits", optimizer="minibatch", schedule="onecycle", epochs=3)
    run = SingleRun(spec, digits)
    records = train(spec, digits)
    assert run.optimizer.param_groups[0]["momentum"] == 0
    per_epoch = total_steps(spec, digits.n_train) // 3
    assert [r["lr_end"] for r in records] == pytest.approx(
        [0.01 * schedules.factor("onecycle", e * per_epoch, 3 * per_epoch) for e in range(4)])
    assert records[0]["lr_end"] == pytest.approx(0.01 / 25)


def test_full_batch_gd_sees_the_same_shape_over_its_few_steps(digits):
    spec = RunSpec(dataset="digits", optimizer="gd", schedule="cosine", epochs=4, lr=0.1)
    records = train(spec, digits)
    assert [r["lr_end"] for r in records] == pytest.approx([0.1 * (1 + math.cos(math.pi * e / 4)) / 2
                                                           for e in range(5)])


def test_schedules_are_a_grid_dimension_with_their_own_config_ids():
    grid = Grid(base=RunSpec(dataset="digits"), dims={"optimizer": ("adam",), "init": ("he",),
                "schedule": ("constant", "warmup-cosine")}, seeds=1, warmup=0.1)
    ids = [s.config_id for s in grid.runs()]
    assert ids == ["adam/he-normal/lr=default/bs=default", "adam/he-normal/lr=default/bs=default/sched=warmup-cosine"]
    assert [s.warmup for s in grid.runs()] == [None, 0.1]


# --- backends and resume ---------------------------------------------------------------------------

MODERN = ["compare", "--dataset", "digits", "--opts", "lion,schedulefreeadamw", "--inits", "he", "--seeds", "2",
          "--epochs", "2", "--schedule", "warmup-cosine", "--no-plot", "--quiet", "--threads", "1"]


def without_time(folder):
    return pd.read_csv(folder / "metrics.csv").drop(columns=["seconds"]).to_csv(index=False)


@pytest.mark.slow
def test_pytorch_optimizer_runs_on_the_process_backend_and_resume(cli, tmp_path, monkeypatch):
    from nncmp.training import execute

    code, out, _ = cli(*MODERN, "--out", tmp_path / "local")
    assert code == 0, out
    code, out, _ = cli(*MODERN, "--backend", "processes", "--jobs", "2", "--out", tmp_path / "pool")
    assert code == 0, out
    assert without_time(tmp_path / "pool") == without_time(tmp_path / "local")

    from tests.faults import InterruptGroup

    interrupt = InterruptGroup(at=3)
    monkeypatch.setattr(execute, "run_group", interrupt)
    code, out, _ = cli(*MODERN, "--out", tmp_path / "cut")
    assert code == 130, out
    monkeypatch.setattr(execute, "run_group", interrupt.real)
    code, out, _ = cli("resume", tmp_path / "cut", "--threads", "1")
    assert code == 0, out
    assert "resuming: 2 of 4 training runs already finished" in out
    assert without_time(tmp_path / "cut") == without_time(tmp_path / "local")


def test_warmup_zero_is_allowed_and_makes_warmup_cosine_plain_cosine():
    schedules.check("warmup-cosine", 0.0, 50)
    assert [schedules.factor("warmup-cosine", t, 50, 0.0) for t in range(51)] == \
        [schedules.factor("cosine", t, 50) for t in range(51)]


def test_curves_gain_a_learning_rate_panel_when_a_schedule_is_not_constant(digits, tmp_path):
    from nncmp.output.plots import curves
    from nncmp.results.schema import records_frame
    from nncmp.results.stats import summarize

    records = [r for s in ("constant", "cosine")
               for r in train(RunSpec(dataset="digits", optimizer="gd", schedule=s, epochs=3, lr=0.1), digits)]
    metrics = records_frame(records)
    fig = curves(metrics, summarize(metrics), tmp_path / "c.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["train loss", "validation loss", "validation accuracy",
                                                     "learning rate"]
    lr_lines = fig.axes[-1].get_lines()
    assert len(lr_lines) == 2 and list(lr_lines[1].get_ydata()) == pytest.approx([0.1, 0.075, 0.025, 0.0])
