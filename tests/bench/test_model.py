"""`nncmp bench --model` on a built-in sequence model: the transformer on modadd (per-token targets, -100 where a
position has none), stacked against one by one and nncmp's single run against the plain PyTorch loop."""

import json
import math

import pandas as pd
import pytest

CASES = ["stacked", "one by one", "nncmp single run", "plain PyTorch loop"]
TINY = ("--model", "transformer", "--dataset", "modadd", "--data-arg", "p=11", "--data-arg", "train_fraction=0.3",
        "--model-arg", "n_layer=1", "--model-arg", "d_model=16", "--model-arg", "n_head=2", "--batch-size", "8",
        "--epochs", "2", "--repeats", "1")


def test_bench_the_transformer_on_modadd_stacked_one_by_one_and_against_the_plain_loop(cli, tmp_path):
    code, out, _ = cli("bench", *TINY, "--out", tmp_path / "b")
    assert code == 0, out
    assert "8 runs stacked with torch.func" in out and "stacked vs one by one" in out and "plain PyTorch loop" in out
    cases = pd.read_csv(tmp_path / "b" / "bench.csv")
    assert list(cases["case"]) == CASES
    assert list(cases["runs"]) == [8, 8, 1, 1]
    assert ((cases["seconds"] > 0) & (cases["samples/s"] > 0)).all()
    # --data-arg reached the data: p=11, train_fraction 0.3 is round(0.3 · 121) = 36 training sequences
    assert (cases["samples/s"] * cases["seconds"]).round().tolist() == [8 * 36 * 2, 8 * 36 * 2, 36 * 2, 36 * 2]
    figures = pd.read_csv(tmp_path / "b" / "figures.csv").set_index("figure")["value"]
    assert set(figures.index) == {"stacked_vs_one_by_one", "nncmp_vs_plain_loop"}
    assert all(math.isfinite(v) and v > 0 for v in figures)
    by_case = cases.set_index("case")["seconds"]
    assert figures["stacked_vs_one_by_one"] == pytest.approx(by_case["one by one"] / by_case["stacked"])
    assert figures["nncmp_vs_plain_loop"] == pytest.approx(by_case["plain PyTorch loop"] / by_case["nncmp single run"])


def test_bench_the_transformer_json(cli, tmp_path):
    code, out, _ = cli("bench", *TINY, "--json", "--out", tmp_path / "b")
    assert code == 0, out
    doc = json.loads(out)
    assert [c["case"] for c in doc["cases"]] == CASES
    for figure in ("stacked_vs_one_by_one", "nncmp_vs_plain_loop"):
        assert math.isfinite(doc[figure]) and doc[figure] > 0, figure
    assert "stacked with torch.func" in doc["how"]


def test_the_plain_loop_trains_per_token_targets():
    from nncmp.bench.model import plain_loop_seconds
    from nncmp.config.run import RunSpec
    from nncmp.registry.datasets import load

    data = load("modadd", args=(("p", 7),))
    spec = RunSpec(dataset="modadd", model="transformer", model_args=(("d_model", 16), ("n_head", 2), ("n_layer", 1)),
                   epochs=1, batch_size=4).resolved(data.n_train)
    seconds = plain_loop_seconds(spec, data)
    assert math.isfinite(seconds) and seconds > 0
