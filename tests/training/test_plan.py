"""The plan: which runs train together, on which engine, and why; torch-free (the fast tier) but for the
end-to-end check of what compare --verbose says."""

import pytest

from nncmp.config.grid import Grid
from nncmp.config.run import RunSpec
from nncmp.training.plan import hand_backprop, plan
from tests.conftest import SMALL, data_like


@pytest.mark.fast
def test_plan_groups_runs_that_differ_in_init_and_seed():
    grid = Grid(base=RunSpec(epochs=2), dims={"optimizer": ("sgd", "minibatch", "rmsprop", "adam"),
                                              "init": ("xavier", "he")}, seeds=3)
    specs = [s.resolved(4000) for s in grid.runs()]
    groups = plan(specs, data_like(4000))
    assert [len(g.indices) for g in groups] == [6, 6, 6, 6]
    assert sorted(i for g in groups for i in g.indices) == list(range(24))
    assert all(len({specs[i].optimizer for i in g.indices}) == 1 for g in groups)
    assert [g.engine for g in groups] == ["fast-sgd", "stacked", "stacked", "stacked"]
    assert "fast path" in groups[0].why and "differ only in init and seed" in groups[1].why
    assert [len(g.indices) for g in plan(specs, data_like(4000), max_group=4)] == [4, 2] * 4
    alone = plan(specs, data_like(4000), max_group=1)
    assert len(alone) == 24
    assert alone[0].engine == "fast-sgd" and "alone" in alone[0].why  # sgd alone still takes the fast path
    assert alone[6].engine == "single" and "--group-size 1" in alone[6].why


def test_plan_stacks_different_rates_and_library_optimizers_but_not_those_measured_to_differ():
    # Each member of a stack can have an optimizer of its own (engines/members.py): rates, betas, momentum and
    # decay may differ (tuning trials), and a library optimizer stacks; the fast path scales each member's
    # update by its own rate. soap's stacked runs were measured to differ from its single runs: alone.
    dims = {"optimizer": ("adam", "sgd", "lion", "soap"), "init": ("he",), "lr": (0.001, 0.01)}
    specs = [s.resolved(4000) for s in Grid(base=RunSpec(), dims=dims, seeds=2).runs()]
    groups = plan(specs, data_like(4000))
    assert [[specs[i].optimizer for i in g.indices] for g in groups] == [
        ["adam"] * 4, ["sgd"] * 4, ["lion"] * 4, *[["soap"]] * 4]
    assert "measured to differ" in groups[-1].why
    assert "optimizer of its own" in groups[0].why and groups[1].engine == "fast-sgd"
    same_rate = plan([s for s in specs if s.optimizer == "adam" and s.lr == 0.001], data_like(4000))
    assert "differ only in init and seed" in same_rate[0].why


@pytest.mark.fast
def test_plan_sends_the_cnn_to_the_single_engine_and_says_why():
    dims = {"optimizer": ("adam",), "init": ("he",)}
    specs = [s.resolved(1437) for s in Grid(base=RunSpec(dataset="digits", model="cnn"), dims=dims, seeds=2).runs()]
    groups = plan(specs, data_like(1437, name="digits", shape=(1, 8, 8)))
    assert len(groups) == 2 and groups[0].engine == "single" and "cnn" in groups[0].why
    lone = plan([RunSpec(optimizer="adam", init="he").resolved(4000)], data_like(4000))
    assert [g.engine for g in lone] == ["single"] and "no other run shares its settings" in lone[0].why


@pytest.mark.fast
def test_a_group_carries_its_resolved_runs_and_device_and_the_plan_takes_only_resolved_runs():
    runs = [RunSpec(optimizer="adam", init=i).resolved(4000) for i in ("xavier", "he")]
    (group,) = plan(runs, data_like(4000), device="cuda:0")
    assert group.specs == tuple(runs) and group.device == "cuda:0" and group.engine == "stacked"
    with pytest.raises(ValueError, match="resolved"):
        plan([RunSpec(optimizer="adam")], data_like(4000))


@pytest.mark.fast
def test_the_fast_batch1_path_stays_on_the_cpu():
    from nncmp.training.plan import fast_sgd

    spec = RunSpec(**SMALL, optimizer="sgd").resolved(100)
    assert fast_sgd(spec, "classification", "cpu") and not fast_sgd(spec, "classification", "cuda:0")


@pytest.mark.fast
def test_the_engine_follows_the_datas_task_not_its_name():
    # The same batch-1 SGD runs: the fast path (softmax minus one-hot at the output) on a classification
    # task, autograd on a regression one, whatever the dataset is called.
    specs = [RunSpec(dataset="my_regression.npz", hidden=(16,), optimizer="sgd", init=init).resolved(400)
             for init in ("xavier", "he")]
    for name in ("my_regression.npz", "toy-regression", "mnist5k"):
        (classified,) = plan(specs, data_like(400, "classification", name, (10,), 3))
        (regressed,) = plan(specs, data_like(400, "regression", name, (10,), 0))
        assert classified.engine == "fast-sgd" and regressed.engine == "stacked"
        assert plan(specs[:1], data_like(400, "regression", name, (10,), 0))[0].engine == "single"


@pytest.mark.fast
def test_decisions_read_the_models_properties():
    from nncmp.registry.models import FUNC_STACK, MODELS, PROPERTIES, STACKABLE

    assert set(PROPERTIES) == set(MODELS)  # every built-in model says what it is
    dims = {"optimizer": ("adam",), "init": ("xavier", "he")}
    # a torch.func-stacked model's plan tries the stack on one batch (torch): test_a_func_stacked_model_is_tried
    for model in (m for m in MODELS if FUNC_STACK not in PROPERTIES[m]):
        specs = [s.resolved(1437) for s in Grid(base=RunSpec(dataset="digits", model=model), dims=dims, seeds=1).runs()]
        stacked = len(plan(specs, data_like(1437, name="digits", shape=(1, 8, 8)))) == 1
        assert stacked == (STACKABLE in PROPERTIES[model]), model


def test_compare_verbose_says_how_runs_are_grouped(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "digits", "--opts", "sgd,adam", "--inits", "xavier,he", "--seeds", "2",
                       "--epochs", "1", "--no-plot", "--verbose", "--out", tmp_path)
    assert code == 0, out
    assert ("group 1/2: sgd/xavier-normal/lr=0.01/bs=1 and 3 more on the fast-sgd engine (batch-1 SGD fast path, "
            "4 runs stacked: plain SGD at batch size 1 needs no autograd)") in out
    assert ("group 2/2: adam/xavier-normal/lr=0.001/bs=64 and 3 more on the stacked engine (4 runs stacked: they "
            "differ only in init and seed; a plain MLP: its gradient computed by hand, without autograd)") in out


@pytest.mark.fast
def test_the_plan_has_a_plain_mlps_gradient_computed_by_hand_on_the_cpu_only():
    task = "classification"
    base = RunSpec(optimizer="adam").resolved(4000)
    assert hand_backprop(base, task)
    (lone,) = plan([base], data_like(4000))
    assert lone.engine == "single" and "gradient computed by hand" in lone.why
    assert hand_backprop(RunSpec(model="logreg", optimizer="sgd").resolved(4000), task)
    for other in (RunSpec(optimizer="adam", dropout=0.2), RunSpec(optimizer="adam", batchnorm=True),
                  RunSpec(optimizer="adam", act="elu"), RunSpec(optimizer="adam", label_smoothing=0.1),
                  RunSpec(optimizer="adam", param="mup", hidden=(64, 64)), RunSpec(model="cnn"),
                  RunSpec(optimizer="adam", hidden=(64, 64), model_args=(("residual", "plain"),))):
        assert not hand_backprop(other.resolved(4000), task), other
    assert not hand_backprop(base, "regression") and not hand_backprop(base, task, device="cuda:0")
    (gpu,) = plan([base], data_like(4000), device="cuda:0")
    assert "by hand" not in gpu.why


@pytest.mark.fast
def test_only_the_batch1_fast_path_alone_asks_for_fewer_threads():
    """plan.fewest_threads: one thread for fast-sgd's run alone (measured fastest, docs: Performance); every other
    group takes the free cores."""
    from nncmp.training.plan import fewest_threads

    sgd = [RunSpec(optimizer="sgd", seed=s).resolved(4000) for s in (0, 1)]
    alone, stacked = plan(sgd[:1], data_like(4000))[0], plan(sgd, data_like(4000))[0]
    assert alone.engine == stacked.engine == "fast-sgd" and len(stacked.specs) == 2
    assert fewest_threads(alone)[0] == 1 and "alone" in fewest_threads(alone)[1]
    assert fewest_threads(stacked) is None
    assert fewest_threads(plan([RunSpec(optimizer="adam").resolved(4000)], data_like(4000))[0]) is None
