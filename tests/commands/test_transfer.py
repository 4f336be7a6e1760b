"""compare over --widths and --params sp,mup end to end: μP equals sp at its base width, differs above it,
transfer.csv and transfer.png are written and shown (terminal, report, HTML, the API), and a user's model takes
its width from --width-arg; bad input is refused before anything trains."""

import textwrap

import pandas as pd
import pytest

import nncmp
from nncmp.results import transfer
from tests.conftest import PNG_MAGIC

SWEEP = ["--dataset", "digits", "--opts", "adam,minibatch", "--inits", "default", "--widths", "16,64",
         "--params", "sp,mup", "--lrs", "0.01,0.1", "--seeds", "1", "--epochs", "1"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("sweep")
    code, text, _ = run_cli("compare", *SWEEP, "--out", out)
    assert code == 0, text
    return out, text


def test_mup_equals_sp_at_its_base_width_and_differs_above_it(swept):
    out, _ = swept
    metrics = pd.read_csv(out / "metrics.csv")
    final = metrics[metrics["epoch"] == 1].assign(key=lambda t: t["optimizer"] + t["lr"].astype(str))
    sp, mup = (final[final["param"] == p].set_index(["width", "key"]) for p in ("sp", "mup"))
    assert (mup["base_width"] == 16).all() and sp["base_width"].isna().all()
    # The same seed, the same weights, the same batches: at the base width μP is the standard parametrisation
    # (sp's runs train stacked, μP's alone: equal to float32 rounding over one epoch's 23 steps).
    assert mup.loc[16, "val_loss"].to_numpy() == pytest.approx(sp.loc[16, "val_loss"].to_numpy(), rel=1e-4)
    assert (abs(mup.loc[64, "val_loss"] / sp.loc[64, "val_loss"] - 1) > 1e-3).all()


def test_the_transfer_table_figure_and_lines_are_written_and_shown(swept):
    out, text = swept
    table = pd.read_csv(out / "transfer.csv")
    assert list(table.columns) == transfer.COLUMNS
    assert sorted(set(table["series"])) == ["adam mup", "adam sp", "minibatch mup", "minibatch sp"]
    assert sorted(set(table["width"])) == [16, 64] and set(table["best_lr"]) <= {0.01, 0.1}
    assert (out / "transfer.png").read_bytes()[:8] == PNG_MAGIC
    assert "learning-rate transfer across width (final_val_acc; transfer.csv, transfer.png):" in text
    assert "  adam sp: best rate" in text and "slope" in text
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["param"]) == {"sp", "mup"} and set(summary["width"]) == {16, 64}


def test_report_html_and_the_api_show_the_transfer(swept, tmp_path):
    from tests.conftest import run_cli

    out, _ = swept
    code, text, _ = run_cli("report", out)
    assert code == 0 and "learning-rate transfer across width" in text and "  minibatch mup: best rate" in text
    page = tmp_path / "report.html"
    code, _, _ = run_cli("report", out, "--html", page)
    assert code == 0 and "Learning-rate transfer across width" in page.read_text()
    result = nncmp.compare(**{"dataset": "digits", "opts": "adam", "inits": "default", "widths": "16,64",
                              "lrs": [0.01, 0.1], "seeds": 1, "epochs": 1, "out": tmp_path / "api"})
    assert result.transfer is not None and list(result.transfer["width"]) == [16, 64]
    fig = result.plot("transfer")
    assert len(fig.axes) == 2 and (tmp_path / "api" / "transfer.png").is_file()


MODEL = textwrap.dedent("""
    from torch import nn

    class Net(nn.Module):
        def __init__(self, input_shape, n_classes, width=32):
            super().__init__()
            n = 1
            for d in input_shape:
                n *= d
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(n, width), nn.ReLU(), nn.Linear(width, width),
                                      nn.ReLU())
            self.head = nn.Linear(width, n_classes)

        def forward(self, x):
            return self.head(self.body(x))

    class Fixed(nn.Module):
        def __init__(self, input_shape, n_classes, width=32):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, n_classes))

        def forward(self, x):
            return self.net(x)
""")


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


def test_a_users_model_takes_its_width_from_width_arg(cli, model_file, tmp_path):
    code, text, _ = cli("compare", "--dataset", "digits", "--model", f"{model_file}:Net", "--width-arg", "width",
                        "--widths", "16,32", "--params", "sp,mup", "--opts", "adam", "--inits", "default",
                        "--lrs", "0.01,0.03", "--seeds", "1", "--epochs", "1", "--no-plot", "--out", tmp_path / "o")
    assert code == 0, text
    metrics = pd.read_csv(tmp_path / "o" / "metrics.csv")
    assert set(metrics["model_args"]) == {"width=16", "width=32"} and set(metrics["width"]) == {16, 32}
    final = metrics[metrics["epoch"] == 1]
    at16 = final[final["width"] == 16].groupby("param")["val_loss"].apply(list)
    assert at16["sp"] == at16["mup"]  # base width 16: μP is sp
    assert (tmp_path / "o" / "transfer.csv").is_file()


@pytest.mark.parametrize("extra, message", [
    (["--model", "{file}:Net"], "--widths on your own model needs --width-arg NAME: the argument of Net"),
    (["--model", "{file}:Net", "--width-arg", "size"], "--model-arg size: Net takes no argument 'size'"),
    (["--model", "{file}:Fixed", "--width-arg", "width", "--params", "mup"],
     "--param mup: the model does not change shape with its width argument"),
    # padam's update grows as the gradient to the power 3/4: neither Adam's rule nor SGD's
    (["--params", "mup", "--opts", "padam"], "--param mup: padam"),
])
def test_bad_width_input_is_one_line_before_training(cli, model_file, tmp_path, extra, message):
    args = [a.format(file=model_file) for a in extra]
    opts = [] if "--opts" in args else ["--opts", "adam"]
    code, out, result = cli("compare", "--dataset", "digits", "--widths", "16,32", "--lrs", "0.01,0.1", "--seeds",
                            "1", "--epochs", "1", *opts, *args, "--out", tmp_path / "o")
    assert code == 2, out
    assert message in result.stderr and "Traceback" not in out
    assert not (tmp_path / "o" / "metrics.csv").exists()


def test_the_cnn_widens_its_channels_and_is_its_sp_twin_at_the_base_width():
    import torch

    from nncmp.config.run import RunSpec
    from nncmp.registry.models import build_model

    def built(**kw):
        torch.manual_seed(0)
        return build_model(RunSpec(dataset="digits", model="cnn", **kw), (1, 8, 8), 10)

    wide = built(width=32)
    assert [m.out_channels for m in wide if isinstance(m, torch.nn.Conv2d)] == [32, 64]
    assert wide[-1].in_features == 128  # the Linear before the output: 4 × width
    assert dict(RunSpec(model="cnn", dataset="digits", width=32).model_args) == {"width": 32}
    x = torch.randn(5, 1, 8, 8)
    sp, mup = built(width=16).eval(), built(width=16, param="mup").eval()
    assert torch.equal(sp(x), mup(x))  # μP at its base width is the standard parametrisation
    wider = built(width=64, param="mup", base_width=16).eval()
    assert wider(x).shape == (5, 10)


def test_a_residual_mlp_scales_its_blocks_by_one_over_the_root_of_depth_and_trains_alone():
    import torch

    from nncmp.config.run import RunSpec
    from nncmp.registry.blocks import Residual
    from nncmp.registry.datasets import load
    from nncmp.registry.models import build_model
    from nncmp.training.plan import unstackable

    spec = RunSpec(dataset="digits", hidden=(16,) * 4, model_args={"residual": "depth-mup"})
    model = build_model(spec, (64,), 10)
    blocks = [m for m in model if isinstance(m, Residual)]
    assert len(blocks) == 3 and {b.scale for b in blocks} == {0.5}  # the first hidden layer has no skip
    plain = build_model(RunSpec(dataset="digits", hidden=(16,) * 4, model_args={"residual": "plain"}), (64,), 10)
    assert {m.scale for m in plain if isinstance(m, Residual)} == {1.0}
    x = torch.randn(3, 64)
    block = blocks[0]
    assert torch.equal(block(x[:, :16]), x[:, :16] + 0.5 * block.branch(x[:, :16]))
    assert "model.residual=depth-mup" in spec.run_id
    assert "residual" in unstackable(spec.resolved(100), load("digits"))


def test_transfer_is_compare_with_a_sweeps_defaults(cli, tmp_path):
    code, text, _ = cli("transfer", "--dataset", "digits", "--widths", "16,32", "--lrs", "2^-6..2^-4", "--epochs",
                        "1", "--no-plot", "--out", tmp_path)
    assert code == 0, text
    table = pd.read_csv(tmp_path / "transfer.csv")
    assert list(dict.fromkeys(table["series"])) == ["adam sp", "adam mup"]  # Adam, both parametrisations
    assert set(table["n_lrs"]) == {3} and set(table["n_seeds"]) == {2}  # 2^-6, 2^-5, 2^-4; two seeds
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert set(metrics["init"]) == {"default"} and metrics["epoch"].max() == 1
    code, _, _ = cli("report", tmp_path)  # a compare folder: report (and resume) read it as one
    assert code == 0
