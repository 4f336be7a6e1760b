"""nncmp paths end to end: the walks, the table and the figures it writes, its options, and bad input."""

import pandas as pd
import pytest

from nncmp.explore import paths as walks


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


def test_paths_takes_explicit_rates_a_start_and_a_schedule(cli, tmp_path):
    code, out, _ = cli("paths", "--fn", "toy-regression", "--opts", "gd,sgd", "--lrs", "0.01,0.03",
                       "--start", "0,0", "--steps", "30", "--schedule", "cosine", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    summary = pd.read_csv(tmp_path / "paths_summary.csv")
    assert len(summary) == 4 and set(summary["lr"]) == {0.01, 0.03}  # every optimizer at each rate
    frame = pd.read_csv(tmp_path / "paths.csv")
    assert (frame.loc[frame["step"] == 0, ["x", "y"]] == 0).all().all()


# Cases refused while the options are checked, before torch is imported.
FAST = pytest.mark.fast


@pytest.mark.parametrize("args, message", [
    pytest.param(["--fn", "himmelblau"], "unknown function 'himmelblau'; choose from: rosenbrock", marks=FAST),
    pytest.param(["--steps", "0"], "--steps must be >= 1", marks=FAST),
    pytest.param(["--start", "1"], "--start needs two finite numbers 'x,y', got '1'", marks=FAST),
    pytest.param(["--start", "1,inf"], "--start needs two finite numbers", marks=FAST),
    pytest.param(["--lrs", "0.1,-1"], "--lrs must be finite numbers > 0", marks=FAST),
    pytest.param(["--tol", "0"], "--tol must be a finite number > 0", marks=FAST),
    pytest.param(["--fn", "quadratic", "--condition", "0.5"], "--condition must be a finite number >= 1", marks=FAST),
    pytest.param(["--opts", "lino"], "unknown optimizer 'lino'; closest: lion", marks=FAST),
    (["--opts", "adamuon"], "adamuon trains hidden weight matrices"),
    (["--opts", "adam", "--opt-arg", "foo=1"], "adam has no such argument"),
    (["--opts", "gd,momentum", "--opt-arg", "amsgrad=true"],
     "--opt-arg amsgrad applies to none of the optimizers gd, momentum"),
    pytest.param(["--schedule", "cosin"], "unknown schedule 'cosin'", marks=FAST),
])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    code, out, result = cli("paths", *args, "--out", tmp_path)
    assert code == 2, out
    assert message in result.stderr, result.stderr
    assert "Traceback" not in out
