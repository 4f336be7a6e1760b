"""A run: the frozen, validated description of one training run (RunSpec), and its step arithmetic.

Every field is declared once (config/fields.py): its help, option, grid dimension, id part and column are
read from the declaration. The fields are in the order compare's grid loops over them (optimizer, init,
activation, normalisation, schedule, learning rate, batch size), which is also the order of the optional
parts of a config id. Every check raises SpecError, which the command line shows as one line and exit
code 2 before anything trains. Names and numbers only: no torch, no files.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nncmp.config.checks import DEFAULT_HIDDEN, Checks, option_name, user_data, user_model
from nncmp.config.fields import at_least, check_values, declared, one_of, option
from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry import schedules, user
from nncmp.registry.closest import unknown
from nncmp.registry.data import STANDARDIZE
from nncmp.registry.datasets import DATASETS, TEXT, is_text
from nncmp.registry.inits import ALIASES, INITS, canonical_init
from nncmp.registry.losses import LOSSES
from nncmp.registry.model_spec import MODEL_ARGS, PARAMS
from nncmp.registry.models import ACTIVATIONS, BUILT_IN_NORM, HAS, MODELS
from nncmp.registry.optimizers import OPTIMIZERS, format_args, format_value

MAX_SEED = 2**32 - 1
NORMS = ("none", "batchnorm")
TASKS = ("classification", "regression")


def check_name(kind: str, value: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise SpecError(unknown(kind, value, choices))


def widths_text(hidden: tuple[int, ...]) -> str:
    """Hidden-layer widths as ids and columns write them: 256,128; ten layers of 256 as 256x10."""
    if len(hidden) >= 2 and len(set(hidden)) == 1:
        return f"{hidden[0]}x{len(hidden)}"
    return ",".join(map(str, hidden))


def parse_widths(text: str) -> tuple[int, ...]:
    """One architecture: '256,128' or '256x10'; ValueError otherwise."""
    text = text.strip()
    if "x" in text:
        width, depth = text.split("x")
        return (int(width),) * int(depth)
    return tuple(int(w) for w in text.split(","))


def _loss_label(ref: str) -> str:
    """A loss (or metric) in an id: its name, or a user's function's name (the file's path stays in config.json)."""
    return user.split_ref(ref)[1] if user.is_ref(ref) else ref


def hyperparameter(name: str) -> Any:
    """A RunSpec field declared by its row of the hyperparameter table (registry/hyperparameters.py)."""
    h = hp.row(name)
    grid = {"grid": h.grid, "key": h.grid.lstrip("-").replace("-", "_"), "grid_help": h.grid_help,
            "grid_item": float} if h.grid else {}
    return option(None, flag=h.flag, item=float, kind="numbers", help=h.help, show_default=h.show_default, **grid)


def _widths(hidden: tuple[int, ...]) -> str | None:
    return None if all(h >= 1 for h in hidden) else f"--hidden widths must be >= 1, got {','.join(map(str, hidden))}"


@dataclass(frozen=True)
class RunSpec(Checks):
    dataset: str = option("mnist5k", flag="--dataset", column="dataset",
                          help=f"Dataset: {', '.join(DATASETS)}; or your own: data.npz, data.csv (with "
                               "--target-column), "
                               "file.py:NAME or module:NAME (a function returning the arrays).")
    model: str = option("mlp", flag="--model", column="model",
                        help=f"Model: {', '.join(MODELS)}; or your own: file.py:NAME or module:NAME (an "
                             "nn.Module class or a function returning one).")
    # --model-arg: a user's model's arguments, sorted by key
    model_args: tuple[tuple[str, Any], ...] = option(
        (), column="model_args", label=lambda args: "/".join(f"model.{k}={format_value(v)}" for k, v in args) or None,
        help="An argument of your --model, repeatable: KEY=VALUE (numbers, true/false, words, tuples as 'a,b').")
    # Not --target: compare's --target is the accuracy a run must reach.
    target_column: str | None = option(
        None, flag="--target-column", show_default="none",
        help="--dataset data.csv: the column to predict (the other columns are the features).")
    task: str | None = option(None, flag="--task", show_default="classification for integer labels, else regression",
                              help="Your dataset's task: classification or regression.",
                              check=lambda v: None if v in TASKS else
                              f"--task must be classification or regression, got {v!r}")
    hidden: tuple[int, ...] = option(
        DEFAULT_HIDDEN, flag="--hidden", item=int, kind="integers", show_default="256,128", check=_widths,
        grid="--hiddens", key="hiddens", grid_item=parse_widths, grid_sep=";", column="hidden",
        grid_kind="architectures (each widths 'a,b' or WIDTHxDEPTH)",
        label=lambda v: None if v == DEFAULT_HIDDEN else f"hidden={widths_text(v)}",
        help="mlp hidden-layer widths, comma-separated.",
        grid_help="mlp architectures to compare, separated by ';': each a comma-separated list of widths, or "
                  "WIDTHxDEPTH (e.g. \"256,128;512;64x3\").")
    width: int | None = option(
        None, grid="--widths", key="widths", column="width", item=int, kind="integers",
        # not in the id: what it sets (--hidden, or a --model-arg) is; checked in check_width, before use
        help="Widths to compare, comma-separated (with --lrs, the best rate per width: transfer.csv): the mlp's "
             "hidden layers (each this wide, as many as --hidden or --depth has), the cnn's channels (width, 2·width), "
             "the transformer's d_model, the gru's and lstm's hidden units, your model's --width-arg.")
    param: str = option(
        "sp", flag="--param", grid="--params", key="params", column="param", kind="parametrisations",
        label=lambda v: None if v == "sp" else f"param={v}", check=one_of("--param", PARAMS),
        help="Parametrisation: sp (standard: the init's scales, one learning rate for every layer) or mup (maximal "
             "update, Yang et al. 2022: the output layer scaled by base width / width, per-layer learning rates, "
             "attention by 1/d, so the best rate stays put as the width grows; equal to sp at --base-width).",
        grid_help="Parametrisations to compare, comma-separated: sp, mup (see --param).")
    base_width: int | None = option(
        None, flag="--base-width", column="base_width", label=lambda v: f"base={v}" if v else None,
        applies=lambda run: run.param == "mup",
        show_default="compare: the smallest of --widths; train: the model's own width",
        help="--param mup: the width at which μP equals the standard parametrisation (its rates are tuned there).",
        check=at_least("--base-width", 1))
    width_arg: str | None = option(
        None, flag="--width-arg", show_default="mlp: hidden layers; cnn: width; transformer: d_model; gru,lstm: hidden",
        help="Your --model's argument that sets its width (what --widths and --param mup change).")
    dropout: float = option(
        0.0, flag="--dropout", grid="--dropouts", key="dropouts", item=float, kind="numbers", column="dropout",
        label=lambda v: None if v == 0 else f"dropout={v:g}",
        help="Dropout probability after each hidden layer, in [0, 1).",
        grid_help="Dropout probabilities to compare, comma-separated, each in [0, 1).",
        check=lambda v: None if 0.0 <= v < 1.0 else f"--dropout must be in [0, 1), got {v:g}")
    optimizer: str = option(
        "adam", flag="--opt", grid="--opts", key="optimizers", column="optimizer", label=str, always=True,
        kind="optimizer names", grid_default="sgd,minibatch,rmsprop,adam",
        help=f"Optimizer: {', '.join(OPTIMIZERS)}, {optim.OPT_HELP}.",
        grid_help=f"Optimizers, comma-separated: {', '.join(OPTIMIZERS)}, {optim.OPT_HELP}.")
    init: str = option(
        "default", flag="--init", grid="--inits", key="inits", column="init", label=str, always=True,
        kind="init names", grid_default="xavier,he",
        help=f"Weight init: {', '.join(INITS)} (aliases: {', '.join(f'{a}={c}' for a, c in ALIASES.items())}).",
        grid_help=f"Inits, comma-separated: {', '.join(INITS)}, xavier, he.")
    act: str = option("relu", flag="--act", grid="--acts", key="acts", column="act",
                      label=lambda v: None if v == "relu" else f"act={v}", kind="activation names",
                      help=f"Activation: {', '.join(ACTIVATIONS)}.",
                      grid_help=f"Activations to compare, comma-separated: {', '.join(ACTIVATIONS)}.")
    batchnorm: bool = option(False, flag="--batchnorm", grid="--norms", key="norms", column="norm",
                             grid_value=lambda v: v == "batchnorm", label=lambda v: "norm=batchnorm" if v else None,
                             kind="normalisations", help="BatchNorm1d after each mlp hidden layer.",
                             grid_help="Normalisations to compare, comma-separated: none, batchnorm (BatchNorm1d "
                                       "after each mlp hidden layer).")
    schedule: str = option("constant", flag="--schedule", grid="--schedules", key="schedules", column="schedule",
                           label=lambda v: None if v == "constant" else f"sched={v}", kind="schedule names",
                           help=f"Learning-rate schedule over all steps: {', '.join(schedules.SCHEDULES)}.",
                           grid_help="Learning-rate schedules to compare, comma-separated: "
                                     f"{', '.join(schedules.SCHEDULES)}.")
    lr: float | None = option(
        None, flag="--lr", grid="--lrs", key="lrs", column="lr", item=float, kind="numbers (or 'auto')", always=True,
        grid_help="Learning rates, comma-separated, or every power of two in a range (2^-14..2^-2), or 'auto': tune "
                  "each optimizer's rate on a split of the training data (7 rates over 3 decades around its default, "
                  "then 2 more beyond the edge nearest the best, one seed), then run the default and the tuned rate "
                  "with every seed.",
        label=lambda v: f"lr={v:g}" if v else "lr=default", show_default=hp.row("lr").show_default,
        help=hp.row("lr").help, check=lambda v: None if v > 0 else f"--lr must be > 0, got {v:g}")
    batch_size: int | None = option(
        None, flag="--batch-size", grid="--batch-sizes", key="batch_sizes", column="batch_size", item=int,
        kind="integers", grid_help="Batch sizes, comma-separated.", always=True,
        label=lambda v: f"bs={v or 'default'}", help="Examples per step.",
        show_default="optimizer's default: gd all, sgd 1, others 64", check=at_least("--batch-size", 1))
    epochs: int = option(10, flag="--epochs", help="Passes over the training set.", check=at_least("--epochs", 1))
    seed: int = option(0, flag="--seed", help="Random seed (weights, batch order, dropout).", column="seed",
                       check=lambda v: None if 0 <= v <= MAX_SEED else
                       f"--seed must be in [0, {MAX_SEED}] (NumPy's seed range), got {v}")
    n: int | None = option(None, flag="--n", help="Examples in the synthetic dataset.", show_default="5000",
                           check=lambda v: None if v >= 10 else
                           f"--n must be >= 10 (one example per class at least), got {v}")
    # --data-arg: a dataset's arguments (a built-in's, or a user's loader function's), sorted by key
    data_args: tuple[tuple[str, Any], ...] = option(
        (), label=lambda args: "/".join(f"data.{k}={format_value(v)}" for k, v in args) or None,
        help="An argument of the dataset, repeatable: KEY=VALUE (`nncmp datasets` lists each built-in's; your "
             "loader function's keyword arguments).")
    # Changes the numbers, so it is part of the id when not auto (auto's ids are those of folders from before it).
    standardize: str = option(
        "auto", flag="--standardize", label=lambda v: None if v == "auto" else f"standardize={v}",
        help="Standardise float features with the training split's mean and standard deviation (per column or "
             "input value; constant ones only centred), and regression targets for the mse and huber losses, whose "
             "losses, RMSE and R² are still reported in the targets' own units: auto = your data (npz, CSV, "
             "Python) standardised, built-in datasets as their definitions scale them (images in [-1, 1], "
             "toy-regression's raw values); on = every dataset; off = every dataset as given. Token ids and "
             "class labels are never changed.",
        check=one_of("--standardize", STANDARDIZE))
    classes: int | None = option(
        None, flag="--classes", label=lambda v: f"classes={v}" if v else None, show_default="counted from the labels",
        help="Your dataset's number of classes (or vocabulary size): labels are then used as they are, 0..N-1, "
             "never renumbered.", check=at_least("--classes", 2))
    block_size: int | None = option(
        None, flag="--block-size", label=lambda v: f"block={v}" if v else None, show_default="128",
        help="--dataset text:FILE: characters per training sequence.", check=at_least("--block-size", 1))
    loss: str | None = option(
        None, flag="--loss", label=lambda v: f"loss={_loss_label(v)}" if v else None,
        show_default="cross-entropy for integer labels, mse for float targets",
        help=f"The loss: {', '.join(LOSSES)}; or your own: file.py:NAME or module:NAME, a function (output, "
             "target) → a scalar, or a vector of one loss per example, which nncmp averages.")
    label_smoothing: float = option(
        0.0, flag="--label-smoothing", label=lambda v: f"smooth={v:g}" if v else None,
        help="cross-entropy: label smoothing, in [0, 1).",
        check=lambda v: None if 0.0 <= v < 1.0 else f"--label-smoothing must be in [0, 1), got {v:g}")
    metric_fn: str | None = option(
        None, flag="--metric-fn", label=lambda v: f"metric={_loss_label(v)}" if v else None, show_default="none",
        help="A metric of your own recorded beside the loss: file.py:NAME or module:NAME, a function (output, "
             "target) → a number, higher is better (name it *_loss or *_error if lower is).")
    steps: int | None = option(
        None, flag="--steps", show_default="none: --epochs", check=at_least("--steps", 1),
        help="A budget in optimizer steps instead of --epochs; evaluated every --eval-every steps.")
    eval_every: int | None = option(
        None, flag="--eval-every", show_default="--steps / 10", check=at_least("--eval-every", 1),
        help="--steps: evaluate (and record a row) every this many steps.")
    clip_grad_norm: float | None = option(
        None, flag="--clip-grad-norm", label=lambda v: f"clip={v:g}" if v else None, show_default="none",
        help="Clip each step's gradient to this total norm (torch.nn.utils.clip_grad_norm_).",
        check=lambda v: None if v > 0 else f"--clip-grad-norm must be > 0, got {v:g}")
    decay_all: bool = option(
        False, flag="--decay-all", label=lambda v: "decay=all" if v else None,
        help="Decoupled weight decay (adamw, lion, muon's AdamW part, ...) on every parameter; by default only on "
             "parameters of 2 or more dimensions (weight matrices, embeddings), not on biases or normalisation "
             "gains, as nanoGPT does.")
    # The optimizers' own hyperparameters: their rows of the hyperparameter table declare them.
    momentum: float | None = hyperparameter("momentum")
    betas: tuple[float, float] | None = hyperparameter("betas")
    alpha: float | None = hyperparameter("alpha")
    eps: float | None = hyperparameter("eps")
    weight_decay: float | None = hyperparameter("weight_decay")
    # --opt-arg: the optimizer's other arguments, sorted by key; only values the user set
    opt_args: tuple[tuple[str, Any], ...] = option(
        (), column="opt_args", label=lambda args: "/".join(f"{k}={format_value(v)}" for k, v in args) or None,
        help="Another argument of the optimizer, repeatable: numbers, true/false, words, tuples as 'a,b' (e.g. "
             "--opt-arg amsgrad=true --opt-arg betas=0.9,0.95 is --betas). `nncmp optimizers` lists each "
             "optimizer's arguments. On compare each goes to the optimizers that take it.")
    warmup: float | None = hyperparameter("warmup")

    def __post_init__(self) -> None:
        # A name a package registers (entry points nncmp.models / nncmp.datasets) stands for its 'module:NAME'.
        if self.model not in MODELS and not user_model(self.model):
            object.__setattr__(self, "model", user.from_entry_point(self.model, "models") or self.model)
        if self.dataset not in DATASETS and not user_data(self.dataset) and not is_text(self.dataset):
            object.__setattr__(self, "dataset", user.from_entry_point(self.dataset, "datasets") or self.dataset)
        if is_text(self.dataset):
            path = self.dataset[len(TEXT):]
            if not path:
                raise SpecError("--dataset text:FILE needs the text file's path after 'text:'")
            object.__setattr__(self, "dataset", TEXT + str(Path(path).expanduser().resolve()))
        elif not user_data(self.dataset):
            check_name("dataset", self.dataset, DATASETS)
        if not user_model(self.model):
            check_name("model", self.model, MODELS)
        object.__setattr__(self, "dataset", user.canonical(self.dataset) if user_data(self.dataset) else self.dataset)
        object.__setattr__(self, "model", user.canonical(self.model))
        margs = dict(self.model_args) if not isinstance(self.model_args, dict) else self.model_args
        if margs and not user_model(self.model):
            takes = MODEL_ARGS.get(self.model, {})
            unknown = [k for k in margs if k not in takes]
            if unknown:
                offered = f"it takes: {', '.join(takes)}" if takes else \
                    "--model-arg applies to your own --model (file.py:NAME) and to the built-ins that take arguments"
                raise SpecError(f"--model-arg {unknown[0]}: the built-in model {self.model} takes no argument "
                                f"{unknown[0]!r} ({offered})")
        margs = {k: tuple(v) if isinstance(v, list) else v for k, v in margs.items()}
        object.__setattr__(self, "model_args", tuple(sorted(margs.items())))
        self.check_data_options()
        if self.target_column is not None and not self.dataset.endswith(".csv"):
            raise SpecError("--target-column names the column to predict of a --dataset data.csv")
        if self.dataset.endswith(".csv") and not self.target_column:
            raise SpecError(f"--dataset {self.dataset} needs --target-column COLUMN: the column to predict")
        if self.task is not None and not user_data(self.dataset):
            raise SpecError(f"--task applies to your own --dataset; {self.dataset} is a "
                            f"{'language-model' if is_text(self.dataset) else DATASETS[self.dataset].task} dataset")
        check_name("activation", self.act, ACTIVATIONS)
        check_name("init", self.init, [*INITS, *ALIASES])
        object.__setattr__(self, "optimizer", optim.resolve(self.optimizer))
        object.__setattr__(self, "init", canonical_init(self.init))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        self.check_width()
        if self.betas is not None:
            object.__setattr__(self, "betas", tuple(self.betas))
        args = dict(self.opt_args) if not isinstance(self.opt_args, dict) else self.opt_args
        # Lists from config.json become tuples again, so a spec read back equals the one written.
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        if args:
            args = optim.check_args(self.optimizer, args)
        # --opt-arg betas=... is --betas: the hyperparameters with options of their own live in their fields.
        for key in [k for k in args if k in hp.optimizer_own()]:
            if getattr(self, key) is not None:
                raise SpecError(f"{option_name(key)} and --opt-arg {key} both give {key}; use one")
            object.__setattr__(self, key, args.pop(key))
        object.__setattr__(self, "opt_args", tuple(sorted(args.items())))
        schedules.check(self.schedule, self.warmup)
        check_values(self)
        self.check_hyperparameters()
        self.check_combination()

    def mup_base(self) -> int | None:
        """μP's base width (None under sp): --base-width, else the model's own width (μP then equals sp)."""
        return None if self.param != "mup" else self.base_width or self.model_width()

    def at_width(self, width: int) -> RunSpec:
        """The same run with its model `width` wide (μP's base and delta models are built from it)."""
        return replace(self, width=width)

    def data_kwargs(self) -> dict[str, Any]:
        """What registry.datasets.load needs of the run besides the dataset's name."""
        return {"n": self.n, "target": self.target_column, "task": self.task, "args": self.data_args,
                "classes": self.classes, "block_size": self.block_size, "standardize": self.standardize}

    def effective_batch_size(self) -> int | None:
        return self.batch_size or optim.entry(self.optimizer).batch_size

    def resolved(self, n_train: int) -> RunSpec:
        """The same run with every default filled in, as recorded in results: the learning rate, the batch
        size (full-batch: the training set; never more than it) and the optimizer's hyperparameters.
        Resolving a resolved spec on the same or a smaller training set changes only the batch size."""
        entry = optim.entry(self.optimizer)
        batch = min(self.effective_batch_size() or n_train, n_train)
        hyper = {k: v if getattr(self, k) is None else getattr(self, k) for k, v in entry.defaults.items()}
        return replace(self, lr=self.lr or entry.lr, batch_size=batch, **hyper)

    @property
    def config_id(self) -> str:
        """The configuration a run belongs to: every declared part of the id but the seed — the optimizer,
        init, rate and batch size always, the others when not at their defaults; last, the optimizer's
        hyperparameters (--momentum, --betas, ...) and --warmup where they differ from the defaults, so
        tuned runs that differ only there (budgeted tuning) never share an id."""
        return "/".join(self._id_parts() + self.hyper_labels())

    @property
    def legacy_config_id(self) -> str:
        """The config id of folders written before the hyperparameters were part of it (their resume)."""
        return "/".join(self._id_parts())

    def _id_parts(self) -> list[str]:
        parts, extra = [], []
        for name, d in declared(type(self)).items():
            if d.label is None or (d.applies is not None and not d.applies(self)):
                continue
            text = d.label(getattr(self, name))
            if text:
                (parts if d.always else extra).append(text)
        return parts + extra

    def hyper_labels(self) -> list[str]:
        """`name=value` for each hyperparameter but the rate (its part comes first) given and not at its default:
        the optimizer's, or for the warm-up the schedules' (schedules.DEFAULT_WARMUP)."""
        defaults = {**optim.entry(self.optimizer).defaults, "warmup": schedules.DEFAULT_WARMUP}
        return [f"{h.name}={_exact(getattr(self, h.name))}" for h in hp.TABLE if h.belongs != hp.RATE
                and getattr(self, h.name) is not None and getattr(self, h.name) != defaults.get(h.name)]

    @property
    def norm(self) -> str:
        """The normalisation the model has: --batchnorm's, or the one it is built with (the cnn's); empty for a
        user's model, whose layers nncmp does not describe."""
        if user_model(self.model):
            return ""
        return BUILT_IN_NORM.get(self.model) or ("batchnorm" if self.batchnorm else "none")

    @property
    def run_id(self) -> str:
        return f"{self.config_id}/seed={self.seed}"

    @property
    def legacy_run_id(self) -> str:
        return f"{self.legacy_config_id}/seed={self.seed}"

    def columns(self) -> dict[str, Any]:
        """The run's identity columns of metrics.csv (a resolved spec), by the declarations."""
        has = HAS.get(self.model, frozenset())
        # A setting the model does not have is empty, not its default: a user's model's dropout is its own code's.
        values = {"norm": self.norm, "opt_args": format_args(self.opt_args), "model_args": format_args(self.model_args),
                  "hidden": widths_text(self.hidden) if "hidden" in has else "",
                  "act": self.act if "act" in has else "", "dropout": self.dropout if "dropout" in has else "",
                  "width": self.model_width() or "", "base_width": self.mup_base() or ""}
        out = {d.column: values.get(d.column, getattr(self, name))
               for name, d in declared(type(self)).items() if d.column}
        # The hyperparameters not at the optimizer's defaults (a grid's --weight-decays, a tuned trial's), as the
        # config id ends with them: '' where every one is the default.
        out["hyper"] = " ".join(self.hyper_labels())
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hyper_differ(specs: list[RunSpec]) -> bool:
    """Whether the runs' optimizer settings (the hyperparameter table's optimizer_settings()) differ."""
    varying = hp.optimizer_settings()
    return len({tuple(getattr(s, f) for f in varying) for s in specs}) > 1


def _exact(value: Any) -> str:
    """A hyperparameter in an id: 10 significant digits, so 0.9999877 and 0.9999876 stay two ids."""
    if isinstance(value, tuple):
        return ",".join(_exact(v) for v in value)
    return f"{value:.10g}" if isinstance(value, float) else format_value(value)
