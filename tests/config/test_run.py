"""What a RunSpec resolves to: the batch size of each optimizer, so its steps per epoch, counted in training."""

from torch.optim.optimizer import register_optimizer_step_post_hook

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load
from nncmp.training.engines.single import train


def count_steps(spec):
    steps = []
    handle = register_optimizer_step_post_hook(lambda *a: steps.append(1))
    try:
        records = train(spec, load(spec.dataset, n=spec.n))
    finally:
        handle.remove()
    return len(steps), records


def test_gd_takes_one_step_per_epoch():
    steps, records = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="gd", hidden=(8,), epochs=3))
    assert steps == 3
    assert records[-1]["batch_size"] == 240 and records[-1]["examples"] == 3 * 240


def test_sgd_takes_one_step_per_example():
    steps, records = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="sgd", hidden=(8,), epochs=2))
    assert steps == 2 * 240
    assert records[-1]["batch_size"] == 1


def test_minibatch_steps_round_up():
    steps, _ = count_steps(RunSpec(dataset="synthetic", n=300, optimizer="minibatch", hidden=(8,), epochs=1))
    assert steps == 4  # 240 examples in batches of 64: 64, 64, 64, 48
