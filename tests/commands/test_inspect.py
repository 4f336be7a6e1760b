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
