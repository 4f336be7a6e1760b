"""nncmp paths: the 2-D functions, the walks of the real optimizers, the command's files and bad input."""

import math

import pandas as pd
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


def test_paths_command_writes_the_walks_the_table_and_the_figures(cli, tmp_path):
    code, out, _ = cli("paths", "--fn", "quadratic", "--opts", "gd,momentum,adam,sam,schedulefreeadamw",
                       "--steps", "60", "--out", tmp_path)
    assert code == 0, out
    frame = pd.read_csv(tmp_path / "paths.csv")
    assert list(frame.columns) == ["fn", "optimizer", "lr", "step", "x", "y", "loss"]
    assert set(frame["optimizer"]) == {"gd", "momentum", "adam", "sam", "schedulefreeadamw"}
    starts = frame[frame["step"] == 0]
    assert (starts["x"] == -4.0).all() and (starts["y"] == 1.0).all()  # the function's default start
    summary = pd.read_csv(tmp_path / "paths_summary.csv")
    for name in ("paths.png", "paths_grid.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert not (tmp_path / "paths.gif").exists()
    assert "Paths on quadratic" in out and "steps to within 0.001" in out
    # --lrs auto chose, per optimizer, the rate of the grid whose walk ends lowest: check one by hand.
    fn = walks.function("quadratic")
    finals = {lr: walks.final_loss(walks.walk(fn, walks.spec_for("momentum", lr, 60), fn.start))
              for lr in walks.rate_grid(0.01)}
    chosen = summary.set_index("optimizer").loc["momentum", "lr"]
    assert finals[chosen] == min(finals.values())


def test_gif_animates_the_walks(cli, tmp_path):
    from PIL import Image

    code, out, _ = cli("paths", "--fn", "saddle", "--opts", "gd,adam", "--lrs", "0.1", "--steps", "15", "--gif",
                       "--no-plot", "--out", tmp_path)
    assert code == 0, out
    with Image.open(tmp_path / "paths.gif") as gif:
        assert gif.n_frames == 16


def test_closure_and_hessian_optimizers_walk_too():
    fn = walks.function("rosenbrock")
    for name in ("lbfgs", "adahessian"):
        rows = walks.walk(fn, walks.spec_for(name, None, 15), fn.start)
        assert len(rows) == 16 and rows[-1]["loss"] < rows[0]["loss"], name


def test_paths_takes_explicit_rates_a_start_and_a_schedule(cli, tmp_path):
    code, out, _ = cli("paths", "--fn", "toy-regression", "--opts", "gd,sgd", "--lrs", "0.01,0.03",
                       "--start", "0,0", "--steps", "30", "--schedule", "cosine", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "paths_summary.csv")
    assert len(summary) == 4 and set(summary["lr"]) == {0.01, 0.03}  # every optimizer at each rate
    frame = pd.read_csv(tmp_path / "paths.csv")
    assert (frame.loc[frame["step"] == 0, ["x", "y"]] == 0).all().all()


@pytest.mark.parametrize("args, message", [
    (["--fn", "himmelblau"], "unknown function 'himmelblau'; choose from: rosenbrock"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--start", "1"], "--start needs two finite numbers 'x,y', got '1'"),
    (["--start", "1,inf"], "--start needs two finite numbers"),
    (["--lrs", "0.1,-1"], "--lrs must be finite numbers > 0"),
    (["--tol", "0"], "--tol must be a finite number > 0"),
    (["--fn", "quadratic", "--condition", "0.5"], "--condition must be a finite number >= 1"),
    (["--opts", "lino"], "unknown optimizer 'lino'; closest: lion"),
    (["--opts", "adamuon"], "adamuon trains hidden weight matrices"),
    (["--opts", "adam", "--opt-arg", "foo=1"], "adam has no such argument"),
    (["--opts", "gd,momentum", "--opt-arg", "amsgrad=true"],
     "--opt-arg amsgrad applies to none of the optimizers gd, momentum"),
    (["--schedule", "cosin"], "unknown schedule 'cosin'"),
])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    code, out, result = cli("paths", *args, "--out", tmp_path)
    assert code == 2, out
    assert message in result.stderr, result.stderr
    assert "Traceback" not in out
