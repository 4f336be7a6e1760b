"""The benchmark suite's arithmetic: the training FLOPs of a step, counted by hand."""

from nncmp.config.run import RunSpec
from nncmp.registry.datasets import load


def test_training_flops_of_the_course_mlp_by_hand():
    from nncmp.bench.cases import train_flops

    data = load("synthetic", n=100)
    macs = 784 * 256 + 256 * 128 + 128 * 10
    # forward + weight gradients (2 × 2·macs) + input gradients of the layers above the first
    assert train_flops(RunSpec(dataset="synthetic"), data) == 2 * (2 * macs + 256 * 128 + 128 * 10) == 1_007_104
    assert train_flops(RunSpec(dataset="synthetic", model="logreg"), data) == 4 * 7840
