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
