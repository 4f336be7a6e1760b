"""Sequences end to end, from the command line: a transformer on modadd with a step budget and a grid of weight
decays, a user's GRU on a text file with per-token targets and --metric-fn, a VAE with its own ELBO loss, label
smoothing, and the bad input of each, refused with one line before anything trains."""

import json

import pandas as pd
import pytest

GRU = """
from torch import nn

class CharGru(nn.Module):
    def __init__(self, vocab_size, n_classes, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.gru = nn.GRU(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.head(self.gru(self.embed(x))[0])

def token_accuracy(output, target):
    return (output.argmax(-1) == target).float().mean(1)   # one number per example
"""

VAE = """
import numpy as np
import torch
from torch import nn

class Vae(nn.Module):
    def __init__(self, input_shape, n_outputs):
        super().__init__()
        self.enc = nn.Linear(input_shape[0], 4)
        self.dec = nn.Linear(2, n_outputs)

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape) if self.training else mu
        return self.dec(z), mu, logvar

def elbo(output, target):
    recon, mu, logvar = output
    return ((recon - target) ** 2).sum(1) - 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)

def wrong_length(output, target):
    return output[0].sum(1)[:2]

def points():
    x = np.random.RandomState(0).randn(200, 6).astype("float32")
    return x, x
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequences")
    (root / "gru.py").write_text(GRU)
    (root / "vae.py").write_text(VAE)
    (root / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    (root / "empty.txt").write_text("")
    (root / "binary.txt").write_bytes(b"\x00\xff\xfe" * 50)
    return root


def test_a_transformer_groks_on_a_grid_of_weight_decays_with_a_step_budget(cli, tmp_path):
    code, out, _ = cli("compare", "--dataset", "modadd", "--data-arg", "p=7", "--data-arg", "train_fraction=0.5",
                       "--model", "transformer", "--model-arg", "d_model=16", "--model-arg", "n_head=2",
                       "--model-arg", "n_layer=1", "--opts", "adamw", "--inits", "default", "--weight-decays", "0,1",
                       "--steps", "30", "--eval-every", "10", "--seeds", "2", "--out", tmp_path / "r",
                       "--wide")  # every column, however wide the table: perplexity and bits among them
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "r" / "metrics.csv")
    assert sorted(set(metrics["step"])) == [0, 10, 20, 30] and set(metrics["hyper"].fillna("")) == {
        "weight_decay=0", "weight_decay=1"}
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert {"final_val_perplexity_mean", "final_val_bits_per_token_mean"} <= set(summary.columns)
    assert "settings" in out and "val perplexity" in out and "reach 0.9 (step" in out
    doc = json.loads((tmp_path / "r" / "config.json").read_text())
    assert doc["data"]["per_token"] and doc["data"]["vocab"] == 8 and doc["data"]["info"]["p"] == 7
    assert (tmp_path / "r" / "curves_steps.png").exists()


def test_a_users_gru_learns_characters_of_a_text_file(cli, files, tmp_path):
    code, out, _ = cli("train", "--dataset", f"text:{files}/text.txt", "--block-size", "16", "--model",
                       f"{files}/gru.py:CharGru", "--opt", "adam", "--lr", "0.01", "--steps", "40",
                       "--metric-fn", f"{files}/gru.py:token_accuracy", "--out", tmp_path / "t")
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "t" / "metrics.csv")
    assert metrics["val_loss"].iloc[-1] < metrics["val_loss"].iloc[0]
    # --metric-fn's token accuracy (no padding in a text) is the per-token accuracy nncmp measures itself.
    assert metrics["val_metric"].tolist() == pytest.approx(metrics["val_acc"].tolist(), abs=1e-6)
    doc = json.loads((tmp_path / "t" / "config.json").read_text())
    assert doc["data"]["token"] == "character" and "vocabulary" in doc["data"]["info"]


def test_a_vae_trains_on_its_own_elbo(cli, files, tmp_path):
    code, out, _ = cli("train", "--dataset", f"{files}/vae.py:points", "--model", f"{files}/vae.py:Vae",
                       "--loss", f"{files}/vae.py:elbo", "--epochs", "3", "--out", tmp_path / "v")
    assert code == 0, out
    metrics = pd.read_csv(tmp_path / "v" / "metrics.csv")
    assert metrics["val_loss"].iloc[-1] < metrics["val_loss"].iloc[0] and metrics["val_acc"].isna().all()


def test_label_smoothing_changes_the_loss_not_the_rest(cli, tmp_path):
    args = ["train", "--dataset", "digits", "--hidden", "16", "--epochs", "1"]
    assert cli(*args, "--out", tmp_path / "a")[0] == 0
    assert cli(*args, "--label-smoothing", "0.1", "--out", tmp_path / "b")[0] == 0
    plain, smooth = (pd.read_csv(tmp_path / n / "metrics.csv") for n in ("a", "b"))
    assert smooth["val_loss"].iloc[0] != plain["val_loss"].iloc[0]  # same weights at epoch 0, a smoothed loss
    assert smooth["val_acc"].iloc[0] == plain["val_acc"].iloc[0]


@pytest.mark.parametrize("args, message", [
    (["--loss", "{f}/vae.py:nothing"], "vae.py has no"),
    (["--loss", "{f}/vae.py:wrong_length"], "returned a tensor of shape (2,) on a batch of 8"),
    (["--dataset", "text:{f}/text.txt", "--block-size", "5000", "--model", "gru"], "block"),
    (["--dataset", "text:{f}/empty.txt", "--model", "gru"], "empty"),
    (["--dataset", "text:{f}/binary.txt", "--model", "gru"], "binary"),
    (["--dataset", "text:{f}/missing.txt", "--model", "gru"], "no such file"),
])
def test_bad_sequence_input_is_one_line_before_training(cli, files, tmp_path, args, message):
    base = ["train", "--out", str(tmp_path / "x")]
    if "--dataset" not in args:
        base += ["--dataset", f"{files}/vae.py:points", "--model", f"{files}/vae.py:Vae"]
    code, out, _ = cli(*base, *[a.format(f=files) for a in args])
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "x" / "metrics.csv").exists()


def test_python_takes_a_loss_function_and_token_arrays(tmp_path):
    """In Python, a loss is a function like a model: nncmp.train(loss=fn) with token arrays handed over."""
    import numpy as np
    import torch.nn.functional as F

    import nncmp

    def smoothed(output, target):
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1), label_smoothing=0.1)

    rng = np.random.RandomState(0)
    x = rng.randint(0, 6, (60, 5)).astype(np.int64)
    y = (x + 1) % 6
    result = nncmp.train(data=(x[:48], y[:48], x[48:], y[48:]), model="gru", loss=smoothed, steps=5,
                         out=tmp_path / "p", plot=False)
    assert result.metrics["step"].tolist()[-1] == 5 and "loss=smoothed" in result.metrics["run_id"].iloc[0]
