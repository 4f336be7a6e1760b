"""Losses and accuracy (registry/losses.py) against torch's own functions, per example and per token, and a
user's loss by its contract: a scalar, or one loss per example that nncmp averages."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nncmp.errors import SpecError
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.losses import Criterion, _scalar, criterion
from nncmp.registry.user_data import make_data


def per_example():
    rng = np.random.RandomState(0)
    return make_data("d", rng.randn(20, 3), rng.randint(0, 4, 20), rng.randn(8, 3), rng.randint(0, 4, 8))


def per_token():
    rng = np.random.RandomState(0)
    x, y = rng.randint(0, 5, (20, 6)), rng.randint(0, 5, (20, 6))
    y[:, :2] = IGNORE_INDEX  # positions without a target
    return make_data("t", x, y, x[:8], y[:8])


def test_the_task_decides_the_default_loss():
    assert criterion(per_example()).name == "cross-entropy"
    rng = np.random.RandomState(0)
    regression = make_data("r", rng.randn(10, 2), rng.randn(10), rng.randn(4, 2), rng.randn(4))
    assert criterion(regression).name == "mse" and not criterion(regression).classification


def test_cross_entropy_per_token_skips_positions_without_a_target():
    data = per_token()
    assert data.per_token and data.vocab == 5 and data.x_train.dtype == torch.long
    crit = criterion(data, smoothing=0.1)
    out = torch.randn(4, 6, data.classes, requires_grad=True)
    y = data.y_train[:4]
    expected = F.cross_entropy(out.reshape(-1, data.classes), y.reshape(-1), ignore_index=-100, label_smoothing=0.1)
    assert torch.allclose(crit.mean(out, y), expected)
    total, count = crit.sum(out, y)
    assert int(count) == 4 * 4 and torch.allclose(total / count, expected)
    hits, counted = crit.hits(out, y)
    real = y != IGNORE_INDEX
    assert int(counted) == 16 and int(hits) == int(((out.argmax(-1) == y) & real).sum())


def test_stacked_members_lose_what_each_would_alone():
    for data in (per_example(), per_token()):
        crit = criterion(data)
        out = torch.randn(3, 5, *data.y_train.shape[1:], data.classes)
        y = torch.stack([data.y_train[:5], data.y_train[5:10], data.y_train[10:15]])
        each = crit.members(out, y)
        for k in range(3):
            assert torch.allclose(each[k], crit.mean(out[k], y[k]))
        hits, counted = crit.member_hits(out, y)
        for k in range(3):
            assert (int(hits[k]), int(counted if isinstance(counted, int) else counted[k])) == tuple(
                int(v) for v in crit.hits(out[k], y[k]))


@pytest.mark.parametrize("name, torch_fn", [("mse", F.mse_loss), ("huber", F.huber_loss),
                                             ("bce", F.binary_cross_entropy_with_logits)])
def test_built_in_losses_are_torchs(name, torch_fn):
    rng = np.random.RandomState(1)
    y = (rng.rand(12, 3) > 0.5).astype(np.float32)
    data = make_data("r", rng.randn(12, 2), y, rng.randn(4, 2), y[:4], task="regression")
    out = torch.randn(12, 3)
    assert torch.allclose(criterion(data, name).mean(out, data.y_train), torch_fn(out, data.y_train))


def test_a_users_loss_may_return_a_scalar_or_one_loss_per_example():
    y = torch.tensor([0, 1, 1])
    out = torch.randn(3, 2)
    scalar = Criterion("f.py:l", "classification", fn=lambda o, t: F.cross_entropy(o, t))
    vector = Criterion("f.py:l", "classification", fn=lambda o, t: F.cross_entropy(o, t, reduction="none"))
    assert torch.allclose(scalar.mean(out, y), vector.mean(out, y))
    with pytest.raises(SpecError, match=r"returned a tensor of shape \(2,\) on a batch of 3"):
        _scalar(torch.zeros(2), 3, "--loss f.py:l")


def test_a_users_loss_sees_everything_the_model_returned(tmp_path):
    """A VAE returns (reconstruction, mean, log-variance); its ELBO needs all three; accuracy and built-in losses
    read the first item."""
    (tmp_path / "elbo.py").write_text(
        "import torch\n"
        "def elbo(output, target):\n"
        "    recon, mu, logvar = output\n"
        "    rec = ((recon - target) ** 2).sum(1)\n"
        "    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)\n"
        "    return rec + kl\n")
    rng = np.random.RandomState(0)
    x = rng.randn(10, 4).astype(np.float32)
    data = make_data("v", x, x, x[:4], x[:4])
    crit = criterion(data, f"{tmp_path}/elbo.py:elbo")
    recon, mu, logvar = torch.randn(10, 4), torch.randn(10, 2), torch.randn(10, 2)
    expected = (((recon - data.y_train) ** 2).sum(1) - 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)).mean()
    assert torch.allclose(crit.mean((recon, mu, logvar), data.y_train), expected)


def test_loss_checks_say_what_is_wrong(tmp_path):
    data = per_example()
    with pytest.raises(SpecError, match="unknown loss 'hinge'"):
        criterion(data, "hinge")
    with pytest.raises(SpecError, match="--loss mse needs float targets; d's targets are class labels"):
        criterion(data, "mse")
    with pytest.raises(SpecError, match="label-smoothing applies to the cross-entropy loss, not huber"):
        criterion(data, "huber", smoothing=0.1)
    (tmp_path / "l.py").write_text("x = 3\n")
    with pytest.raises(SpecError, match="no|not a function|has no"):
        criterion(data, f"{tmp_path}/l.py:missing")
    with pytest.raises(SpecError, match="is a int, not a function"):
        criterion(data, f"{tmp_path}/l.py:x")
