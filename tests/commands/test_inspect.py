"""nncmp inspect: per-layer statistics of untrained networks, as a table, CSV, figures and JSON."""

import json

import pandas as pd

from nncmp.training.layers import STATISTICS


def test_inspect_shows_the_vanishing_signal_under_xavier(cli, tmp_path):
    code, out, _ = cli("inspect", "--inits", "xavier,he", "--act", "relu", "--depth", "30", "--width", "256",
                       "--out", tmp_path)
    assert code == 0, out
    assert "xavier-normal (relu)" in out and "he-normal (relu)" in out and "dead" in out
    frame = pd.read_csv(tmp_path / "layers.csv")
    assert list(frame.columns) == ["init", "layer", "statistic", "value"]
    assert set(frame["init"]) == {"xavier-normal", "he-normal"} and frame["layer"].max() == 31
    assert set(frame["statistic"]) == set(STATISTICS) - {"saturated"}
    std = frame[frame["statistic"] == "act_std"].pivot(index="layer", columns="init", values="value")
    assert std.loc[30, "xavier-normal"] / std.loc[1, "xavier-normal"] < 1e-3
    assert 0.2 < std.loc[30, "he-normal"] / std.loc[1, "he-normal"] < 5
    for png in ("layers_std.png", "layers_hist.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "xavier-normal: activation std" in out


def test_inspect_json_and_saturation(cli, tmp_path):
    code, out, _ = cli("inspect", "--inits", "default,xavier", "--act", "tanh", "--hidden", "64,64",
                       "--no-plot", "--json", "--out", tmp_path)
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc["inits"]) == {"default", "xavier-normal"}
    assert all(r["saturated"] is not None for r in doc["inits"]["default"][:2])


def test_the_zeros_init_shows_the_symmetry_problem(cli, tmp_path):
    code, out, _ = cli("inspect", "--inits", "zeros,he", "--dataset", "digits", "--hidden", "64,32", "--no-plot",
                       "--out", tmp_path)
    assert code == 0, out  # it divided by the zero spread of its first layer
    text = " ".join(out.split())
    frame = pd.read_csv(tmp_path / "layers.csv")
    zeros = frame[(frame["init"] == "zeros") & (frame["layer"] < 3)].set_index("statistic")["value"]
    assert (zeros[["act_std", "grad_out_std", "grad_w_std", "weight_std"]] == 0).all()  # what torch measured
    assert ("zeros: activation std 0 → 0 and gradient std 0 → 0 from the first to the last hidden layer: every "
            "unit of a hidden layer outputs the same value and gets the same gradient") in text
    assert text.count("(the symmetry problem)") == 1  # he's units differ
    assert "he-normal: activation std" in text and " (×" in text.split("he-normal: activation std")[1]
    # The widths from the input to the output, as --hidden gave them.
    assert "digits, batch of 256, relu, 2 hidden layers of 64, 32" in text


def test_the_networks_title_lists_its_widths_in_order():
    from nncmp.commands.inspect import network_title
    from nncmp.config.run import RunSpec

    assert network_title(RunSpec(hidden=(256, 128))) == "relu, 2 hidden layers of 256, 128"
    assert network_title(RunSpec(hidden=(64, 64, 64), batchnorm=True)) == "relu + batchnorm, 3 hidden layers of 64"
    assert network_title(RunSpec(hidden=(512,), act="tanh")) == "tanh, 1 hidden layer of 512"


# ---------------------------------------------------------------------------------------------- --coord-check


def test_the_coordinate_check_writes_its_table_figure_and_verdict(cli, tmp_path):
    code, out, _ = cli("inspect", "--coord-check", "--widths", "32,64,128", "--params", "sp,mup", "--dataset",
                       "digits", "--lr", "0.01", "--seeds", "2", "--coord-steps", "3", "--out", tmp_path)
    assert code == 0, out
    frame = pd.read_csv(tmp_path / "coord.csv", dtype={"layer": str})
    assert list(frame.columns) == ["param", "width", "seed", "step", "layer", "mean_abs"]
    assert set(frame["param"]) == {"sp", "mup"} and set(frame["width"]) == {32, 64, 128}
    assert set(frame["seed"]) == {0, 1} and set(frame["step"]) == {1, 2, 3}
    assert set(frame["layer"]) == {"1", "3", "output"} and len(frame) == 2 * 3 * 2 * 3 * 3
    assert (tmp_path / "coord.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "layers.csv").exists()  # the layers at initialisation are not inspected then
    text = " ".join(out.split())
    assert "sp: " in text and "mup: " in text and "from width 32 to 128" in text
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["coord_check"] == {"widths": [32, 64, 128], "params": ["sp", "mup"], "seeds": 2, "steps": 3}
    assert config["base"]["optimizer"] == "adam" and config["base"]["init"] == "default"


def test_the_coordinate_check_as_json_and_from_python(cli, tmp_path):
    import nncmp

    code, out, _ = cli("inspect", "--coord-check", "--widths", "16,32", "--params", "mup", "--dataset", "digits",
                       "--seeds", "1", "--coord-steps", "2", "--no-plot", "--json", "--out", tmp_path / "cli")
    assert code == 0, out
    doc = json.loads(out)
    assert {r["layer"] for r in doc["growth"]} == {"1", "3", "output"} and doc["verdict"][0].startswith("mup: ")
    result = nncmp.inspect(coord_check=True, widths=[16, 32], params="mup", dataset="digits", seeds=1,
                           coord_steps=2, plot=False, out=tmp_path / "api")
    assert result.coord.equals(pd.read_csv(tmp_path / "cli" / "coord.csv", dtype={"layer": str}))
    assert result.verdict == doc["verdict"] and result.files == ["coord.csv"]


def test_the_coordinate_check_of_a_transformer_names_its_layers_by_path(cli, tmp_path):
    code, out, _ = cli("inspect", "--coord-check", "--model", "transformer", "--dataset", "modadd", "--widths",
                       "16,32", "--seeds", "1", "--coord-steps", "2", "--no-plot", "--out", tmp_path)
    assert code == 0, out
    layers = set(pd.read_csv(tmp_path / "coord.csv")["layer"])
    assert {"embed", "blocks.0.attn.qkv", "blocks.0.mlp.0", "output"} <= layers


def test_the_coordinate_checks_bad_input_is_one_line(cli, tmp_path):
    for args, message in [([], "--coord-check needs --widths with two widths or more"),
                          (["--widths", "64"], "--coord-check needs --widths with two widths or more"),
                          (["--widths", "64,128", "--params", "sp,muP2"], "--param: unknown value 'muP2'"),
                          (["--widths", "64,64"], "--widths lists 64 more than once"),
                          (["--widths", "0,64"], "--widths must be >= 1"),
                          (["--widths", "64,128", "--inits", "he,xavier"], "--coord-check trains from one init"),
                          (["--widths", "64,128", "--coord-steps", "0"], "--coord-steps must be >= 1"),
                          (["--widths", "64,128", "--model", "logreg"], "the logreg model has no width"),
                          (["--widths", "64,128", "--width", "32"], "give --widths, not --width")]:
        code, _, result = cli("inspect", "--coord-check", *args, "--out", tmp_path / "x")
        assert code == 2 and message in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)
    code, _, result = cli("inspect", "--widths", "64,128", "--out", tmp_path / "x")
    assert code == 2 and "--widths applies to --coord-check" in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_command_lines_default_steps_are_the_commands():
    from nncmp.cli.inspect import DEFAULT_COORD_STEPS as CLI_STEPS
    from nncmp.commands.inspect import DEFAULT_COORD_STEPS

    assert CLI_STEPS == DEFAULT_COORD_STEPS
