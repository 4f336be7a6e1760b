"""The 2-D functions of nncmp paths and the walks of the real optimizers on them."""

import math

import pytest
import torch

from nncmp.explore import paths as walks


@pytest.mark.parametrize("name", walks.NAMES)
def test_every_minimum_has_zero_gradient_and_the_lowest_loss_around_it(name):
    fn = walks.function(name, condition=10.0)
    for mx, my in fn.minima:
        p = torch.tensor([mx, my], dtype=torch.float64, requires_grad=True)
        loss = fn.f(p[0], p[1])
        (grad,) = torch.autograd.grad(loss, p)
        loss = loss.detach()
        assert grad.abs().max() < 1e-9, (name, grad)
        for dx, dy in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):  # a minimum, not a saddle
            assert float(fn.f(torch.tensor(mx + dx), torch.tensor(my + dy))) > float(loss) - 1e-12
        assert float(loss) == pytest.approx(fn.min_loss)


def test_toy_regression_is_the_courses_five_points_and_its_least_squares_solution():
    from nncmp.registry.datasets import load

    data = load("toy-regression")
    solution = torch.linalg.lstsq(data.x_train.double(), data.y_train.double()).solution.flatten().tolist()
    assert walks.function("toy-regression").minima[0] == pytest.approx(tuple(solution))
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)
    expected = ((data.x_train.double() @ w - data.y_train.double().flatten()) ** 2).mean()
    assert float(walks.toy_regression(w[0], w[1])) == pytest.approx(float(expected))


@pytest.mark.parametrize("lr", [0.05, 0.15])
def test_gradient_descent_on_the_quadratic_is_the_closed_form_iterate(lr):
    """x_k = (1 − lr·a)^k x_0 along each axis, a = 1 along x and the condition number along y."""
    condition, steps, start = 10.0, 40, (-4.0, 1.0)
    fn = walks.function("quadratic", condition)
    rows = walks.walk(fn, walks.spec_for("gd", lr, steps), start)
    for r in rows:
        k = r["step"]
        assert r["x"] == pytest.approx((1 - lr) ** k * start[0], rel=1e-12, abs=1e-300)
        assert r["y"] == pytest.approx((1 - lr * condition) ** k * start[1], rel=1e-12, abs=1e-300)
        assert r["loss"] == pytest.approx(0.5 * (r["x"] ** 2 + condition * r["y"] ** 2), rel=1e-12)


def test_momentum_overshoots_where_gradient_descent_does_not():
    fn = walks.function("quadratic", 10.0)
    gd = walks.walk(fn, walks.spec_for("gd", 0.05, 100), fn.start)
    heavy = walks.walk(fn, walks.spec_for("momentum", 0.05, 100), fn.start)
    assert all(r["x"] <= 0 for r in gd)  # it creeps along x from -4 and never crosses 0
    assert any(r["x"] > 0 for r in heavy)  # momentum carries it past the minimum


def test_a_walk_that_diverges_stops_and_loses_the_tuning():
    fn = walks.function("rosenbrock")
    rows = walks.walk(fn, walks.spec_for("gd", 1.0, 50), fn.start)
    assert len(rows) < 51 and not math.isfinite(rows[-1]["loss"])
    assert walks.final_loss(rows) == math.inf
    assert walks.summary_row(fn, "gd", 1.0, rows, 1e-3, False)["status"] == "diverged"


def test_closure_and_hessian_optimizers_walk_too():
    fn = walks.function("rosenbrock")
    for name in ("lbfgs", "adahessian"):
        rows = walks.walk(fn, walks.spec_for(name, None, 15), fn.start)
        assert len(rows) == 16 and rows[-1]["loss"] < rows[0]["loss"], name
