"""Bad input: every case is one clear line on stderr, exit 2 (usage) or 1 (runtime), and no traceback."""

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncmp.results import store

USAGE = [
    (["train", "--opt", "adamm"], "unknown optimizer 'adamm'; closest: adam"),
    # Width transfer and μP (a user's model's cases: tests/commands/test_transfer.py).
    (["compare", "--widths", "64"], "--widths needs two widths or more to compare"),
    (["inspect", "--coord-check", "--widths", "64,128", "--lr", "inf"], "--lr must be a finite number, got inf"),
    (["train", "--model-arg", "residual=depth-mup"], "--model-arg residual=depth-mup needs hidden layers of one width"),
    (["train", "--model-arg", "residual=yes", "--depth", "3"], "the mlp's residual is one of none, plain, depth-mup"),
    (["compare", "--lrs", "2^-3..2^-5"], "--lrs: '2^-3..2^-5' is not a range of powers of two such as 2^-14..2^-2"),
    (["compare", "--lrs", "0.1..0.5"], "is not a range of powers of two"),
    (["compare", "--widths", "0,64"], "--widths must be >= 1, got 0"),
    (["compare", "--params", "sp,xp"], "--param: unknown value 'xp'; choose from: sp, mup"),
    (["compare", "--widths", "64,128", "--model", "logreg"], "--widths: the logreg model has no width to change"),
    (["train", "--width-arg", "d"], "--width-arg names your own --model's width argument; the built-in mlp's"),
    (["compare", "--widths", "64,128", "--hiddens", "64;128"], "--widths sets the mlp's hidden layers"),
    (["train", "--param", "mup", "--opt", "muon", "--depth", "2"], "--param mup: muon orthogonalises its updates"),
    (["train", "--param", "mup"], "--param mup on the mlp needs hidden layers of one width"),
    (["train", "--param", "mup", "--opt", "a2grad", "--depth", "2"], "a2grad computes its own step size"),
    (["compare", "--widths", "64,128", "--params", "sp,mup", "--model", "transformer", "--dataset", "modadd",
      "--model-arg", "tie=true"], "--param mup: a tied embedding and output layer"),
    (["train", "--base-width", "0", "--param", "mup", "--depth", "2"], "--base-width must be >= 1"),
    # Optimizers beyond the built-ins, --opt-arg and schedules.
    (["train", "--opt", "lino"], "unknown optimizer 'lino'; closest: lion"),
    (["train", "--opt", "torch:lion"], "torch has no optimizer 'lion'"),
    (["train", "--opt", "keras:adam"], "unknown optimizer library 'keras'"),
    (["train", "--opt", "lion", "--opt-arg", "foo=1"], "--opt-arg foo: lion has no such argument; it takes: betas"),
    (["train", "--opt", "lion", "--opt-arg", "betas=0.9"],
     "--opt-arg betas=0.9: lion takes 2 comma-separated values for betas (default 0.9,0.99)"),
    (["train", "--opt", "adam", "--opt-arg", "amsgrad=2"], "adam takes true or false for amsgrad"),
    (["train", "--opt", "lion", "--opt-arg", "betas"], "--opt-arg needs KEY=VALUE, got 'betas'"),
    (["train", "--opt", "adam", "--opt-arg", "amsgrad=true", "--opt-arg", "amsgrad=false"],
     "--opt-arg amsgrad is given more than once"),
    (["train", "--opt", "adam", "--betas", "0.9,0.99", "--opt-arg", "betas=0.9,0.9"],
     "--betas and --opt-arg betas both give betas"),
    (["compare", "--opts", "sgd,adam", "--opt-arg", "weight_decouple=true"],
     "--opt-arg weight_decouple applies to none of the optimizers sgd, adam"),
    (["train", "--opt", "distributedmuon"], "distributedmuon cannot run here: needs torch.distributed"),
    (["train", "--opt", "adalomo"], "adalomo cannot run here: takes the model instead of its parameters"),
    (["train", "--opt", "muon", "--model", "logreg"], "muon trains hidden weight matrices; the model logreg has none"),
    (["train", "--opt", "a2grad", "--schedule", "cosine"], "a2grad computes its own step size"),
    (["train", "--schedule", "cosin"], "unknown schedule 'cosin'; closest: cosine; choose from: constant"),
    (["compare", "--schedules", "cosine,cosin"], "unknown schedule 'cosin'"),
    (["compare", "--schedules", "cosine,cosine"], "--schedules lists cosine more than once"),
    (["train", "--schedule", "warmup-cosine", "--warmup", "-1"], "--warmup must be a fraction in [0, 1)"),
    (["train", "--schedule", "warmup-cosine", "--warmup", "2.5"], "or a whole number of steps, got 2.5"),
    (["train", "--schedule", "cosine", "--warmup", "0.1"], "--warmup applies to the schedules warmup-cosine, wsd"),
    (["compare", "--warmup", "0.1"], "--warmup applies to the schedules warmup-cosine, wsd; the grid has constant"),
    (["train", "--opt", "gd", "--epochs", "1", "--schedule", "cosine"],
     "--schedule cosine on full-batch gd for 1 epoch is one step"),
    (["train", "--dataset", "digits", "--schedule", "wsd", "--warmup", "200", "--epochs", "1"],
     "--warmup 200 is 200 warm-up steps; the run has 23 steps in all"),
    (["train", "--init", "glorotx"], "unknown init 'glorotx'; closest: glorot; choose from: default"),
    (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'; choose from: mnist5k"),
    (["train", "--model", "resnet"], "unknown model 'resnet'; choose from: mlp"),
    (["train", "--act", "gelu"], "unknown activation 'gelu'; closest: elu, relu; choose from: relu"),
    # Every option that takes one of a list of names says the closest (registry/closest.py), and a list given with
    # spaces says that a list takes commas.
    (["train", "--init", "xaver"], "unknown init 'xaver'; closest: xavier"),
    (["compare", "--inits", "he,Xavier-Normal2"], "closest: xavier-normal"),
    (["train", "--dataset", "digts"], "unknown dataset 'digts'; closest: digits"),
    (["train", "--model", "mpl"], "unknown model 'mpl'; closest: mlp"),
    (["compare", "--acts", "relu,tahn"], "unknown activation 'tahn'; closest: tanh"),
    (["compare", "--norms", "batchnrom"], "unknown normalisation 'batchnrom'; closest: batchnorm"),
    (["train", "--loss", "huberr"], "unknown loss 'huberr'; closest: huber"),
    (["compare", "--metric", "final_val_ac"], "--metric: unknown value 'final_val_ac'; closest: final_val_acc"),
    (["compare", "--backend", "proceses"], "--backend: unknown value 'proceses'; closest: processes"),
    (["compare", "--tune", "haltn"], "--tune: unknown sampler 'haltn'; closest: halton"),
    (["compare", "--opts", "adam", "sgd"], "Got unexpected extra argument(s) (sgd); a list takes commas, not spaces: "
                                          "--opts adam,sgd"),
    (["compare", "--opts", "adam", "sgd", "lion", "--epochs", "1"], "a list takes commas, not spaces: "
                                                                   "--opts adam,sgd,lion"),
    (["compare", "--hiddens", "16", "32"], "a list takes ';' between its items, not spaces: --hiddens '16;32'"),
    (["train", "--betas", "0.9", "0.99"], "a list takes commas, not spaces: --betas 0.9,0.99"),
    (["suite", "--opts", "adam", "sgd", "nadam"], "a list takes commas, not spaces: --opts adam,sgd,nadam"),
    (["train", "--lr", "0"], "--lr must be > 0"),
    (["train", "--lr", "-0.1"], "--lr must be > 0"),
    (["train", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["train", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "--dropout", "1"], "--dropout must be in [0, 1)"),
    (["train", "--dropout", "-0.5"], "--dropout must be in [0, 1)"),
    (["train", "--hidden", "256,,x"], "--hidden: '256,,x' is not a comma-separated list of integers"),
    (["train", "--betas", "0.9"], "--betas needs exactly two numbers"),
    (["train", "--betas", "0.9,abc"], "--betas: '0.9,abc' is not a comma-separated list of numbers"),
    (["train", "--opt", "sgd", "--betas", "0.9,0.99"], "--betas does not apply to sgd"),
    (["train", "--opt", "sgd", "--batchnorm"], "--batchnorm needs a batch size of at least 2"),
    (["train", "--model", "cnn", "--dataset", "toy-regression"], "cnn needs images or 1-D signals"),
    (["compare", "--seeds", "0"], "--seeds must be >= 1"),
    (["compare", "--opts", "sgd,foo"], "unknown optimizer 'foo'"),
    (["compare", "--lrs", "0.1,-1"], "--lr must be > 0"),
    (["compare", "--opts", "sgd", "--betas", "0.9,0.99"], "--betas applies to none of the optimizers sgd"),
    (["compare", "--target", "2"], "--target must be a val accuracy in [0, 1]"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/nncmp-test"], "--download"),
    (["train", "--threads", "0"], "--threads must be >= 1"),
    (["compare", "--group-size", "0"], "--group-size must be >= 1"),
    (["bench", "--n", "50"], "--n must be >= 100"),
    (["bench", "--n", "1000", "--n-bs1", "2000"], "--n-bs1 must be between 1 and --n (1000)"),
    (["bench", "--repeats", "0"], "--repeats must be >= 1"),
    (["train", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["train", "--hidden", "0"], "--hidden widths must be >= 1"),
    (["train", "--seed", "4294967296"], "--seed must be in [0, 4294967295]"),
    (["train", "--seed", "-1"], "--seed must be in [0, 4294967295]"),
    (["train", "--opt", "momentum", "--momentum", "-0.5"], "--momentum must be >= 0"),
    (["train", "--opt", "adam", "--eps", "-1"], "--eps must be >= 0"),
    (["train", "--dataset", "synthetic", "--n", "5"], "--n must be >= 10"),
    (["train", "--n", "100"], "--n applies only to --dataset synthetic"),
    (["train", "--no-such-option"], "No such option: --no-such-option"),
    (["compare", "--seed", "4294967295", "--seeds", "2"], "--seed + --seeds - 1 must be <= 4294967295"),
    (["compare", "--opts", ""], "--opts: '' is not a comma-separated list of optimizer names"),
    (["compare", "--inits", "xavier,xavier-normal"], "--inits lists xavier-normal more than once"),
    (["compare", "--lrs", "0.1,0.1"], "--lrs lists 0.1 more than once"),
    (["compare", "--lrs", "fast"], "--lrs: 'fast' is not a comma-separated list of numbers"),
    (["compare", "--batch-sizes", "64,x"], "--batch-sizes: '64,x' is not a comma-separated list of integers"),
    (["compare", "--metric", "speed"], "--metric: unknown value 'speed'"),
    (["compare", "--x", "hours"], "--x: unknown value 'hours'"),
    (["compare", "--threads", "0"], "--threads must be >= 1"),
    (["compare", "--resume", "{done}", "--overwrite"], "cannot be combined with --overwrite"),
    (["compare", "--out", "{other}"], "is not empty; add --resume to continue it or --overwrite"),
    (["compare", "--out", "{other}", "--overwrite"], "not an nncmp results folder (no config.json)"),
    (["compare", "--resume", "{other}"], "is not an nncmp results folder (no config.json), and not empty"),
    (["report", "{tmp}/nothing"], "is not a results folder: it has neither metrics.csv nor config.json"),
    (["report", "{done}", "--by", "seed"], "--by: unknown value 'seed'"),
    (["report", "{badtuning}"], "tuning.csv: not an nncmp file (missing columns: lr, chosen"),
    (["report", "{emptytuning}"], "tuning.csv: not a readable CSV"),
    (["resume", "{tmp}/nothing"], "config.json: no such file"),
    (["resume", "{broken}"], "config.json: not valid JSON"),
    (["train", "--dataset", "mnist", "--data-dir", "{corrupt}"], "are corrupt or truncated"),
    (["train", "--dataset", "mnist", "--data-dir", "{small}"], "have shape 1x20x20, expected 1x28x28"),
    # Non-finite values: bad input for every float option, never a run that diverges at its second step.
    (["train", "--clip-grad-norm", "nan"], "--clip-grad-norm must be a finite number"),
    (["compare", "--clip-grad-norm", "inf"], "--clip-grad-norm must be a finite number"),
    (["train", "--clip-grad-norm", "0"], "--clip-grad-norm must be > 0, got 0"),
    (["train", "--clip-grad-norm", "-1"], "--clip-grad-norm must be > 0, got -1"),
    (["train", "--label-smoothing", "nan"], "--label-smoothing must be a finite number"),
    (["compare", "--label-smoothing", "inf"], "--label-smoothing must be a finite number"),
    (["train", "--label-smoothing", "1"], "--label-smoothing must be in [0, 1), got 1"),
    (["train", "--label-smoothing", "-0.1"], "--label-smoothing must be in [0, 1), got -0.1"),
    (["train", "--label-smoothing", "0.1", "--dataset", "toy-regression", "--model", "linear"],
     "--label-smoothing applies to class labels"),
    (["train", "--label-smoothing", "0.1", "--loss", "mse"], "--label-smoothing applies to the cross-entropy loss"),
    (["train", "--loss", "hinge"], "unknown loss 'hinge'; choose from: cross-entropy, mse, huber, bce"),
    (["train", "--metric-fn", "accuracy"], "--metric-fn names your function as file.py:NAME"),
    (["train", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["compare", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["train", "--eval-every", "5"], "--eval-every applies to a budget in steps: give --steps too"),
    (["train", "--steps", "10", "--eval-every", "20"], "--eval-every 20 is more than --steps 10"),
    (["train", "--block-size", "8"], "--block-size applies to --dataset text:FILE"),
    (["train", "--classes", "5"], "--classes applies to your own --dataset"),
    (["train", "--classes", "1", "--dataset", "data.npz"], "--classes must be >= 2, got 1"),
    (["train", "--data-arg", "q=3", "--dataset", "modadd", "--model", "transformer"],
     "--data-arg q: the dataset modadd takes no argument 'q'"),
    (["train", "--data-arg", "p=3"], "--data-arg p: the dataset mnist5k takes no argument 'p' (it takes none)"),
    (["train", "--dataset", "modadd"], "modadd gives token ids, which the mlp model cannot read"),
    (["train", "--model", "transformer", "--model-arg", "width=3"],
     "--model-arg width: the built-in model transformer takes no argument 'width'"),
    (["train", "--model", "mlp", "--model-arg", "width=3"], "--model-arg width: the built-in model mlp takes no"),
    (["compare", "--opts", "adam", "--momenta", "0.5,0.9"], "--momenta applies to none of the optimizers"),
    (["compare", "--opts", "momentum", "--momentum", "0.5", "--momenta", "0.5,0.9"],
     "--momentum and --momenta both give momentum"),
    (["compare", "--weight-decays", "0,nan"], "--weight-decay must be a finite number"),
    (["train", "--lr", "inf"], "--lr must be a finite number, got inf"),
    (["train", "--lr", "nan"], "--lr must be a finite number, got nan"),
    (["train", "--lr", "-inf"], "--lr must be a finite number, got -inf"),
    (["train", "--opt", "momentum", "--momentum", "inf"], "--momentum must be a finite number"),
    (["train", "--opt", "rmsprop", "--alpha", "nan"], "--alpha must be a finite number"),
    (["train", "--opt", "adam", "--eps", "inf"], "--eps must be a finite number"),
    (["train", "--opt", "adam", "--weight-decay", "inf"], "--weight-decay must be a finite number"),
    (["train", "--dropout", "nan"], "--dropout must be a finite number"),
    (["train", "--betas", "inf,0.9"], "--betas must be finite numbers"),
    (["compare", "--lrs", "0.1,inf"], "--lr must be a finite number, got inf"),
    (["compare", "--target", "nan"], "--target must be a val accuracy in [0, 1], got nan"),
    (["compare", "--target", "inf"], "--target must be a val accuracy in [0, 1], got inf"),
    (["compare", "--lr", "nan"], "--lr must be a finite number, got nan"),
    (["compare", "--opts", "momentum", "--momentum", "nan"], "--momentum must be a finite number"),
    (["compare", "--opts", "rmsprop", "--alpha", "inf"], "--alpha must be a finite number"),
    (["compare", "--opts", "adam", "--eps", "nan"], "--eps must be a finite number"),
    (["compare", "--opts", "adam", "--weight-decay", "-inf"], "--weight-decay must be a finite number"),
    (["compare", "--dropout", "inf"], "--dropout must be a finite number"),
    (["compare", "--opts", "adam", "--betas", "0.9,nan"], "--betas must be finite numbers"),
    (["report", "{done}", "--target", "inf"], "--target must be a val accuracy in [0, 1], got inf"),
    (["train", "--schedule", "wsd", "--warmup", "inf"], "--warmup must be a fraction"),
    (["compare", "--schedules", "wsd", "--warmup", "nan"], "--warmup must be a fraction"),
    (["train", "--opt", "adam", "--opt-arg", "eps=inf"], "--opt-arg eps must be finite"),
    (["paths", "--fn", "quadratic", "--condition", "inf"], "--condition must be a finite number >= 1"),
    (["compare", "--backend", "ray", "--gpus-per-task", "inf"], "--gpus-per-task must be a finite number >= 0"),
    (["paths", "--tol", "nan"], "--tol must be a finite number > 0"),
    (["suite", "--calibrate", "--slack", "nan"], "--slack must be in (0, 1], got nan"),
    (["suite", "--calibrate", "--slack", "1.5"], "--slack must be in (0, 1], got 1.5"),
    (["suite", "--opts", "sgd", "--backend", "ray", "--gpus-per-task", "inf"],
     "--gpus-per-task must be a finite number >= 0"),
    (["suite", "--opts", "sgd", "--slack", "0.9"], "--slack applies only with --calibrate"),
    (["suite", "--opts", "sgd", "--baselines", "adam"], "--baselines applies only with --calibrate"),
    (["suite", "nope", "--opts", "sgd"], "unknown suite 'nope': give a built-in one (default, large)"),
    (["suite", "--opts", "sgd", "--by", "epochs"], "--by: unknown measure 'epochs'; choose from: steps"),
    (["suite", "--opts", "sgd,adam", "--reference", "lion"], "--reference lion is not one of --opts (sgd, adam)"),
    (["suite", "--opts", "sgd", "--trials", "4"], "--trials applies only with --tune"),
    (["suite", "--opts", "sgd", "--lrs", "auto", "--tune", "halton"], "--tune and --lrs auto both tune"),
    (["suite", "--resume", "{done}", "--overwrite"], "--resume DIR continues DIR"),
    (["paths", "--schedule", "wsd", "--warmup", "inf"], "--warmup must be a fraction"),
    # Options a model does not have are refused, so no label names what it lacks.
    (["train", "--model", "logreg", "--dropout", "0.5"], "--dropout does not apply to the logreg model"),
    (["train", "--model", "logreg", "--batchnorm"], "--batchnorm does not apply to the logreg model"),
    (["train", "--model", "logreg", "--depth", "7"], "--hidden (or --depth, --width) does not apply to the logreg"),
    (["train", "--model", "logreg", "--act", "tanh"], "--act does not apply to the logreg model"),
    (["compare", "--model", "logreg", "--acts", "relu,tanh"], "--act does not apply to the logreg model"),
    (["train", "--dataset", "toy-regression", "--model", "linear", "--hidden", "8"],
     "does not apply to the linear model"),
    (["train", "--dataset", "digits", "--model", "cnn", "--depth", "5"],
     "--hidden (or --depth, --width) does not apply to the cnn model"),
    (["train", "--dataset", "digits", "--model", "cnn", "--batchnorm"], "--batchnorm does not apply to the cnn"),
    (["compare", "--dataset", "digits", "--model", "cnn", "--dropouts", "0,0.2", "--norms", "none,batchnorm"],
     "--batchnorm does not apply to the cnn model"),
    # Architecture and dropout as grid dimensions.
    (["compare", "--depths", "2,x"], "--depths: '2,x' is not a comma-separated list of integers"),
    (["compare", "--depths", "0,2"], "--depths must be >= 1"),
    (["compare", "--depths", "2", "--hidden", "64"], "--depths gives the architectures"),
    (["compare", "--hiddens", "256;;64"], "is not a ';'-separated list of architectures"),
    (["compare", "--hiddens", "256;0,4"], "--hidden widths must be >= 1"),
    (["compare", "--dropouts", "0,1"], "--dropout must be in [0, 1), got 1"),
    (["compare", "--dropouts", "0.2,0.2"], "--dropouts lists 0.2 more than once"),
    (["compare", "--dropouts", "0,nan"], "--dropout must be a finite number, got nan"),
    # Budgeted tuning.
    (["compare", "--tune", "halton", "--trials", "0"], "--trials must be >= 1, got 0"),
    (["compare", "--tune", "halton", "--studies", "0"], "--studies must be >= 1, got 0"),
    (["compare", "--trials", "8"], "--trials applies only with --tune halton|random|tpe"),
    (["compare", "--space", "s.json"], "--space applies only with --tune"),
    (["compare", "--tune", "sobol"], "--tune: unknown sampler 'sobol'; choose from: halton, random, tpe"),
    (["compare", "--tune", "tpe", "--lrs", "auto"], "--tune and --lrs auto both tune the learning rate"),
    (["compare", "--tune", "tpe", "--lrs", "0.1,0.01"], "--tune tunes the rate: the grid cannot list rates too"),
    (["compare", "--tune", "halton", "--space", "{broken}/config.json"], "is not valid JSON"),
    (["compare", "--tune", "halton", "--space", "/nonexistent/space.json"], "No such file"),
    # Issue 30: a config.json naming no nncmp command was reported as nothing, with exit 0.
    (["report", "{alien}"], "config.json: written by 'frobnicate', not by an nncmp command (compare, train"),
    (["report", "{alien}", "--format", "html"], "config.json: written by 'frobnicate'"),
    (["resume", "{alien}"], "holds the results of nncmp frobnicate, not of compare"),
]


FAST = pytest.mark.fast
# Cases refused only after data is loaded or an optimizer class is imported (both import torch). Every
# other case without a folder is refused while the options are parsed and checked: the fast tier.
NEEDS_TORCH = {
    # an optimizer's signature (pytorch-optimizer's or torch's class)
    "--opt-arg foo: lion has no such argument; it takes: betas",
    "--opt-arg betas=0.9: lion takes 2 comma-separated values for betas (default 0.9,0.99)",
    "adam takes true or false for amsgrad",
    "--betas and --opt-arg betas both give betas",
    "--opt-arg weight_decouple applies to none of the optimizers sgd, adam",
    "--opt-arg eps must be finite",
    "distributedmuon cannot run here: needs torch.distributed",
    "adalomo cannot run here: takes the model instead of its parameters",
    "muon trains hidden weight matrices; the model logreg has none",
    "a2grad computes its own step size",
    "--param mup: muon orthogonalises its updates",
    # the data (its size, or its files)
    "--warmup 200 is 200 warm-up steps; the run has 23 steps in all",
    "--download",
}


def tier(case):
    """A USAGE case, in the fast tier unless it needs torch or a folder."""
    args, message = case
    if message in NEEDS_TORCH or any("{" in a for a in args):
        return case
    return pytest.param(*case, marks=FAST)


@pytest.fixture(scope="module")
def made_folders(tmp_path_factory):
    """Folders the cases refer to: {done} a finished compare, {other} someone else's files, {broken} a
    corrupt config.json, {trained} a train folder, {corrupt}/{small} bad MNIST files, {alien} a compare folder
    whose config.json names no nncmp command."""
    import torch

    from nncmp.cli.app import app
    from nncmp.registry.datasets import write_mnist_files
    from tests.conftest import run_cli

    tmp = tmp_path_factory.mktemp("bad-input")
    paths = {"tmp": tmp, **{name: tmp / name for name in ("done", "other", "broken", "trained", "corrupt", "small")}}
    assert app is not None
    code, out, _ = run_cli("compare", "--dataset", "digits", "--opts", "adam", "--inits", "he", "--seeds", "1",
                           "--epochs", "1", "--no-plot", "--quiet", "--out", paths["done"])
    assert code == 0, out
    code, out, _ = run_cli("train", "--dataset", "toy-regression", "--model", "linear", "--epochs", "1",
                           "--no-plot", "--out", paths["trained"])
    assert code == 0, out
    import shutil

    for name, text in (("badtuning", "optimizer,init,batch_size\nadam,he-normal,64\n"), ("emptytuning", "")):
        paths[name] = tmp / name
        shutil.copytree(paths["done"], paths[name])
        (paths[name] / "tuning.csv").write_text(text)
    paths["alien"] = tmp / "alien"  # a comparison's files under a config.json that another program wrote
    shutil.copytree(paths["done"], paths["alien"])
    config = paths["alien"] / "config.json"
    config.write_text(config.read_text().replace('"command": "compare"', '"command": "frobnicate"'))
    paths["other"].mkdir()
    (paths["other"] / "thesis.tex").write_text("mine")
    paths["broken"].mkdir()
    (paths["broken"] / "config.json").write_text("{not json")
    labels = torch.arange(20) % 10
    for name, size in (("corrupt", 28), ("small", 20)):
        images = torch.randint(0, 256, (20, size, size), dtype=torch.uint8)
        write_mnist_files(paths[name], "MNIST", images, labels, train=True)
        write_mnist_files(paths[name], "MNIST", images, labels, train=False)
    raw = paths["corrupt"] / "MNIST" / "raw" / "train-images-idx3-ubyte"
    raw.write_bytes(raw.read_bytes()[:1000])  # truncated
    return paths


@pytest.fixture
def folders(request):
    """made_folders for a case that refers to one; a case that names no folder gets none, so it makes
    nothing (and needs no torch: the fast tier)."""
    case = getattr(request.node, "callspec", None)
    if case is not None and not any("{" in a for a in case.params.get("args", ["{"])):
        return {}
    return request.getfixturevalue("made_folders")


@pytest.mark.parametrize("args, message", [tier(case) for case in USAGE])
def test_usage_errors_are_one_line_and_exit_2(cli, folders, args, message):
    args = [a.format(**folders) for a in args]
    code, out, result = cli(*args)
    assert code == 2, out
    assert message in result.stderr, result.stderr
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1


@FAST
@pytest.mark.parametrize("content", [bytes(range(256)), b"\xff\xfe[adam]\n"])
def test_a_binary_space_file_is_one_line_before_anything_is_written(cli, tmp_path, content):
    """Was: UnicodeDecodeError's traceback."""
    space = tmp_path / "space.toml"
    space.write_bytes(content)
    code, out, result = cli("compare", "--opts", "adam", "--tune", "halton", "--space", space, "--out", tmp_path / "o")
    assert code == 2 and "Traceback" not in out, out
    assert result.stderr.strip() == f"Error: --space {space} is not a text file (TOML or JSON, UTF-8)"
    assert not (tmp_path / "o").exists()


@FAST
def test_every_float_option_has_a_non_finite_case():
    """A float option added without a case for inf/nan above fails here."""
    import typer.main

    from nncmp.cli.app import app

    click_app = typer.main.get_command(app)
    # Lists of floats are parsed by nncmp itself, so click does not know their type.
    wanted = {("train", "--betas"), ("compare", "--lrs"), ("compare", "--betas")}
    for name, command in click_app.commands.items():
        for param in command.params:
            described = getattr(getattr(param, "type_descriptor", None), "annotation", None)  # typer >= 0.16
            if described is float or getattr(getattr(param, "type", None), "name", "") == "float":
                wanted.add((name, param.opts[0]))
    assert {("train", "--lr"), ("compare", "--target"), ("report", "--target")} <= wanted
    covered = {(args[0], flag) for args, _ in USAGE for flag in args if flag.startswith("--")
               if any(v in ("inf", "-inf", "nan") or "inf" in v.split(",") or "nan" in v.split(",")
                      for v in args[args.index(flag) + 1:args.index(flag) + 2])}
    aliases = {("compare", "--lr"): ("compare", "--lrs")}  # --lr is compare's alias of --lrs
    covered |= {aliases.get(c, c) for c in covered}
    # transfer is compare with other defaults: the same options, checked by the same request builder
    covered |= {("transfer", flag) for command, flag in covered if command == "compare"}
    assert wanted <= covered, sorted(wanted - covered)


def test_a_locked_folder_is_a_runtime_error_exit_1(cli, folders):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folders["done"] / store.LOCK).write_text(f"{holder.pid}\n")
        code, out, result = cli("resume", folders["done"])
        assert code == 1 and "in use by process" in result.stderr and "Traceback" not in out
        assert len([line for line in result.stderr.splitlines() if line.startswith("Error:")]) == 1
    finally:
        holder.kill()
        holder.wait()
        (folders["done"] / store.LOCK).unlink()


@pytest.mark.slow
def test_errors_reach_a_real_terminal_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nncmp", "compare", "--lrs", "0.1,0.1"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "Error: --lrs lists 0.1 more than once"


@pytest.mark.parametrize("args, message", [
    pytest.param(["report", "/nonexistent/dir"], "is not a results folder", marks=FAST),
    pytest.param(["compare", "--metric", "accuracy"], "--metric: unknown value 'accuracy'", marks=FAST),
    pytest.param(["compare", "--x", "minutes"], "--x: unknown value 'minutes'", marks=FAST),
    (["compare", "--baseline", "lbfgs"], "--baseline 'lbfgs' matches no configuration"),  # loads the data first
    (["compare", "--baseline", "adam"], "--baseline 'adam' is ambiguous"),
    pytest.param(["compare", "--lrs", "auto,0.1"], "--lrs: 'auto,0.1' is not a comma-separated list", marks=FAST),
])
def test_bad_report_and_compare_options(cli, args, message):
    code, text, _ = cli(*args)
    assert code == 2, text
    assert message in text and "Traceback" not in text


@pytest.mark.parametrize("args, message", [
    (["--dataset", "digits", "--baseline", "minibatch"], "--baseline 'minibatch' is ambiguous: it matches "
                                                         "minibatch/he-normal/lr=0.01/bs=64 (the default rate)"),
    (["--dataset", "digits", "--baseline", "sgd"], "--baseline 'sgd' matches no configuration"),
    (["--dataset", "synthetic", "--n", "200"], "--lrs auto: tuning would score its trials on 32 examples held out"),
])
def test_a_tuned_comparison_is_refused_before_its_tuning_and_writes_nothing(cli, tmp_path, args, message):
    out = tmp_path / "out"
    code, text, result = cli("compare", "--opts", "minibatch,adam", "--inits", "he", "--lrs", "auto", *args,
                             "--out", out)
    assert code == 2 and message in result.stderr and "Traceback" not in text
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error:")]) == 1
    assert not out.exists()


def test_bad_report_choices(compared, cli):
    out, _ = compared
    for args, message in [(["--by", "seed"], "--by: unknown value 'seed'"),
                          (["--format", "xml"], "--format: unknown value 'xml'"),
                          (["--baseline", "rmsprop"], "matches no configuration")]:
        code, text, _ = cli("report", out, *args, "--no-plot")
        assert code == 2 and message in text, text


@FAST
def test_depth_width_and_hidden_conflict(cli):
    code, _, result = cli("train", "--depth", "3", "--hidden", "64,32")
    assert code == 2 and "--hidden and --depth/--width" in result.stderr
    code, _, result = cli("train", "--depth", "0")
    assert code == 2 and "--depth must be >= 1" in result.stderr
    code, _, result = cli("inspect", "--width", "0")
    assert code == 2 and "--width must be >= 1" in result.stderr


TEXT = st.text(alphabet="0123456789.,-eE xabn", max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lr=TEXT, batch_size=TEXT, hidden=TEXT, seed=st.integers(-(2**40), 2**40).map(str), dropout=TEXT,
       betas=TEXT)
def test_the_cli_never_shows_a_traceback(cli, tmp_path_factory, lr, batch_size, hidden, seed, dropout, betas):
    out_dir = tmp_path_factory.mktemp("prop")
    code, out, result = cli("train", "--dataset", "toy-regression", "--opt", "adam", "--epochs", "1", "--no-plot",
                            "--quiet", "--lr", lr, "--batch-size", batch_size, "--hidden", hidden, "--seed", seed,
                            "--dropout", dropout, "--betas", betas, "--out", out_dir)
    assert code in (0, 2), (code, out)
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if code == 2:
        assert len([line for line in result.stderr.splitlines() if line.startswith("Error:")]) == 1
