"""RunSpec's checks of combinations: each option where it applies (data and loss options, the built-ins'
hyperparameter ranges, optimizer × model, options a model lacks). Each raises SpecError, one line, before
anything trains. Names and numbers only: no torch, no files."""

from __future__ import annotations

from pathlib import Path

from nncmp.errors import SpecError
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry import user
from nncmp.registry.datasets import DATASETS, is_text, sized
from nncmp.registry.losses import check_name as check_loss
from nncmp.registry.model_spec import MODEL_ARGS, WIDTH_ARGS
from nncmp.registry.models import (
    HAS,
    HIDDEN_MATRICES,
    IMAGES,
    MODELS,
    RESIDUAL,
    TOKENS,
    WHAT,
    has_batchnorm1d,
    model_is,
)
from nncmp.registry.optimizers import OPTIMIZERS, format_value

DEFAULT_HIDDEN = (256, 128)


def option_name(name: str) -> str:
    """The option of a field: --weight-decay for weight_decay."""
    return "--" + name.replace("_", "-")


def user_model(model: str) -> bool:
    """A user's model (file.py:NAME, module:NAME, python:NAME), not a built-in."""
    return user.is_ref(model)


def user_data(dataset: str) -> bool:
    """A user's dataset: a reference to a function, or an .npz or .csv file (a text:FILE is a built-in's)."""
    return not is_text(dataset) and (user.is_ref(dataset) or dataset.endswith((".npz", ".csv")))


class Checks:
    """RunSpec's checks, as methods of a base class (RunSpec reads them; this module cannot import it back).
    `self` is the RunSpec being built: its fields are set, some already canonical."""

    def check_data_options(self) -> None:
        """--data-arg, --classes, --block-size, --loss, --metric-fn and the step budget: each where it applies."""
        dargs = dict(self.data_args) if not isinstance(self.data_args, dict) else self.data_args
        dargs = {k: tuple(v) if isinstance(v, list) else v for k, v in dargs.items()}
        if dargs:
            if self.dataset in DATASETS:
                takes = DATASETS[self.dataset].args
                unknown = [k for k in dargs if k not in takes]
                if unknown:
                    offered = f"it takes: {', '.join(f'{k} (default {v})' for k, v in takes.items())}" if takes \
                        else "it takes none"
                    raise SpecError(f"--data-arg {unknown[0]}: the dataset {self.dataset} takes no argument "
                                    f"{unknown[0]!r} ({offered})")
            elif is_text(self.dataset) or self.dataset.endswith((".npz", ".csv")):
                raise SpecError("--data-arg goes to a built-in dataset or your loader function (file.py:NAME); "
                                f"{Path(self.dataset).name} is a file" + (" (its sequence length is --block-size)"
                                                                            if is_text(self.dataset) else ""))
        object.__setattr__(self, "data_args", tuple(sorted(dargs.items())))
        if self.classes is not None and not user_data(self.dataset):
            raise SpecError(f"--classes applies to your own --dataset; {self.dataset} knows its classes")
        if self.block_size is not None and not is_text(self.dataset):
            raise SpecError("--block-size applies to --dataset text:FILE")
        check_loss(self.loss)
        if self.loss is not None and user.is_ref(self.loss):
            object.__setattr__(self, "loss", user.canonical(self.loss))
        if self.metric_fn is not None:
            if not user.is_ref(self.metric_fn):
                raise SpecError(f"--metric-fn names your function as file.py:NAME or module:NAME, got "
                                f"{self.metric_fn!r}")
            object.__setattr__(self, "metric_fn", user.canonical(self.metric_fn))
        if self.label_smoothing and (self.loss or "cross-entropy") != "cross-entropy":
            raise SpecError(f"--label-smoothing applies to the cross-entropy loss, not {self.loss}")
        task = "classification" if is_text(self.dataset) else DATASETS[self.dataset].task \
            if self.dataset in DATASETS else None
        if self.label_smoothing and task == "regression":
            raise SpecError(f"--label-smoothing applies to class labels; {self.dataset} is a regression dataset")
        if self.eval_every is not None and not self.steps:
            raise SpecError("--eval-every applies to a budget in steps: give --steps too")
        if self.eval_every is not None and self.steps and self.eval_every > self.steps:
            raise SpecError(f"--eval-every {self.eval_every} is more than --steps {self.steps}: the run would never "
                            "be evaluated after step 0")


    def check_hyperparameters(self) -> None:
        # The built-ins' ranges; the libraries' optimizers check their own (training.stepping.check_build,
        # from the command layer).
        builtin = self.optimizer in OPTIMIZERS
        for h in hp.TABLE:
            value = getattr(self, h.name)
            problem = h.problem(value, builtin) if value is not None and h.belongs == hp.OPTIMIZER else None
            if problem:
                raise SpecError(problem)


    def check_combination(self) -> None:
        entry = optim.entry(self.optimizer)
        if entry.unavailable:
            raise SpecError(f"{self.optimizer} cannot run here: {entry.unavailable}")
        if {optim.MUON, optim.MATRICES} & set(entry.handling) and self.model in MODELS \
                and not model_is(self.model, HIDDEN_MATRICES):
            raise SpecError(f"{self.optimizer} trains hidden weight matrices; the model {self.model} has none")
        if self.schedule != "constant" and not entry.lr_key:
            raise SpecError(f"{self.optimizer} computes its own step size and has no learning rate to schedule")
        if self.schedule != "constant" and self.effective_batch_size() is None and self.epochs < 2:
            raise SpecError(f"--schedule {self.schedule} on full-batch {self.optimizer} for 1 epoch is one step: "
                            "a schedule needs at least 2 optimizer steps")
        for name in hp.optimizer_own():
            if getattr(self, name) is not None and name not in entry.defaults:
                other = optim.settable(self.optimizer) if self.optimizer not in OPTIMIZERS else {}
                if name in other:
                    raise SpecError(f"{self.optimizer}'s {name} (default {format_value(other[name])}) is not "
                                    f"what {option_name(name)} gives; use --opt-arg {name}=...")
                users = [o for o, e in OPTIMIZERS.items() if name in e.defaults]
                raise SpecError(f"{option_name(name)} does not apply to {self.optimizer} (it applies to: "
                                f"{', '.join(users)})")
        self.check_model()
        if entry.fixed.get("nesterov") and self.momentum == 0:
            raise SpecError("nesterov needs --momentum > 0")
        if self.n is not None and not sized(self.dataset):
            raise SpecError(f"--n applies only to --dataset {', '.join(d for d in DATASETS if sized(d))}")
        entry = DATASETS.get(self.dataset)
        tokens = is_text(self.dataset) or (entry is not None and entry.inputs == "tokens")
        if tokens and self.model in MODELS and not model_is(self.model, TOKENS):
            takes = [m for m in MODELS if model_is(m, TOKENS)]
            raise SpecError(f"{self.dataset} gives token ids, which the {self.model} model cannot read (it takes "
                            f"float features); use {', '.join(takes) or 'a model with an nn.Embedding'} or your own")
        shape = None if entry is None else entry.shape
        if model_is(self.model, IMAGES) and shape is not None and len(shape) not in (2, 3):
            raise SpecError(f"{self.model} needs images or 1-D signals; {self.dataset} examples have shape {shape}")
        if has_batchnorm1d(self) and self.effective_batch_size() == 1:
            raise SpecError("--batchnorm needs a batch size of at least 2 (BatchNorm1d cannot normalise one example)")


    def model_width(self) -> int | None:
        """The model's width: --widths' value, else what the model is built with (the mlp's hidden layers when
        they are of one width, a built-in's width argument, your model's --width-arg); None if it has none."""
        if self.width is not None:
            return self.width
        arg = self.width_arg or WIDTH_ARGS.get(self.model)
        if arg is None:
            return None
        if self.model == "mlp":
            return self.hidden[0] if len(set(self.hidden)) == 1 else None
        value = dict(self.model_args).get(arg, MODEL_ARGS.get(self.model, {}).get(arg))
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def check_width(self) -> None:
        """--widths, --param mup, --base-width and --width-arg where they apply; a width set into what the model
        is built with (--hidden, or the width argument among --model-arg's), so those columns stay true."""
        mine = user_model(self.model)
        if self.width_arg is not None and not mine:
            raise SpecError(f"--width-arg names your own --model's width argument; the built-in {self.model}'s is "
                            f"{WIDTH_ARGS.get(self.model) or 'none: it has no width'}")
        if self.width is None and self.param == "sp":
            return
        if self.width is not None and self.width < 1:
            raise SpecError(f"--widths must be >= 1, got {self.width}")
        wants = "--widths" if self.width is not None else "--param mup"
        if mine and not self.width_arg:
            raise SpecError(f"{wants} on your own model needs --width-arg NAME: the argument of "
                            f"{user.split_ref(self.model)[1]} that sets its width")
        if not mine and self.model not in WIDTH_ARGS:
            raise SpecError(f"{wants}: the {self.model} model has no width to change (it is {WHAT[self.model]})")
        if self.width is not None:
            if self.model == "mlp":
                object.__setattr__(self, "hidden", (self.width,) * len(self.hidden))
            else:
                arg = self.width_arg or WIDTH_ARGS[self.model]
                object.__setattr__(self, "model_args", tuple(sorted({**dict(self.model_args),
                                                                     arg: self.width}.items())))
        if self.param == "mup":
            width = self.model_width()
            if width is None:
                raise SpecError("--param mup on the mlp needs hidden layers of one width (--depth and --width, or "
                                "--widths)" if self.model == "mlp" else
                                f"--param mup: the width argument {self.width_arg} of your model is not an integer")
            entry = optim.entry(self.optimizer)
            if {optim.MUON, optim.MATRICES} & set(entry.handling):
                raise SpecError(f"--param mup: {self.optimizer} orthogonalises its updates, for which μP's rule is "
                                "a spectral one (Bernstein et al.), not the Adam or SGD rule nncmp applies; use "
                                "--param sp")
            if not entry.lr_key:
                raise SpecError(f"--param mup: {self.optimizer} computes its own step size, so per-layer learning "
                                "rates cannot be set; use --param sp")
            if dict(self.model_args).get("tie"):
                raise SpecError("--param mup: a tied embedding and output layer would need two scalings at once; "
                                "use --model-arg tie=false")

    def check_model(self) -> None:
        """An option the model does not have is refused, so no label names what it lacks; the mlp's residual
        blocks need hidden layers of one width."""
        residual = dict(self.model_args).get("residual", "none") if self.model == "mlp" else "none"
        if residual not in RESIDUAL:
            raise SpecError(f"--model-arg residual={residual}: the mlp's residual is one of {', '.join(RESIDUAL)}")
        if residual != "none" and len(set(self.hidden)) > 1:
            raise SpecError(f"--model-arg residual={residual} needs hidden layers of one width (--depth and --width, "
                            f"or --depths), got {','.join(map(str, self.hidden))}")
        has = HAS.get(self.model, frozenset())
        what = WHAT.get(self.model) or "your own code; pass its settings with --model-arg KEY=VALUE"
        given = {"hidden": self.hidden != DEFAULT_HIDDEN, "act": self.act != "relu", "batchnorm": self.batchnorm,
                 "dropout": self.dropout > 0}
        flags = {"hidden": "--hidden (or --depth, --width)", "act": "--act", "batchnorm": "--batchnorm",
                 "dropout": "--dropout"}
        for name, set_ in given.items():
            if set_ and name not in has:
                raise SpecError(f"{flags[name]} does not apply to the {self.model} model: it is {what}")
