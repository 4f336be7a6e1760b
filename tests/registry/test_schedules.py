"""Learning-rate schedules against torch's own schedulers, step by step, and in training."""

import math

import pytest
import torch

from nncmp.config.budget import total_steps
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.registry import schedules
from nncmp.training.engines.single import SingleRun, train


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


def test_warmup_zero_is_allowed_and_makes_warmup_cosine_plain_cosine():
    schedules.check("warmup-cosine", 0.0, 50)
    assert [schedules.factor("warmup-cosine", t, 50, 0.0) for t in range(51)] == \
        [schedules.factor("cosine", t, 50) for t in range(51)]


def test_onecycle_adds_no_momentum_and_lr_end_follows_the_schedule(digits):
    spec = RunSpec(dataset="digits", optimizer="minibatch", schedule="onecycle", epochs=3)
    run = SingleRun(spec.resolved(digits.n_train), digits)
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
