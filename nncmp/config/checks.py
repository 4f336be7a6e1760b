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
from nncmp.registry.models import (
    HAS,
    HIDDEN_MATRICES,
    IMAGES,
    MODELS,
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


    def check_model(self) -> None:
        """An option the model does not have is refused, so no label names what it lacks."""
        has = HAS.get(self.model, frozenset())
        what = WHAT.get(self.model) or "your own code; pass its settings with --model-arg KEY=VALUE"
        given = {"hidden": self.hidden != DEFAULT_HIDDEN, "act": self.act != "relu", "batchnorm": self.batchnorm,
                 "dropout": self.dropout > 0}
        flags = {"hidden": "--hidden (or --depth, --width)", "act": "--act", "batchnorm": "--batchnorm",
                 "dropout": "--dropout"}
        for name, set_ in given.items():
            if set_ and name not in has:
                raise SpecError(f"{flags[name]} does not apply to the {self.model} model: it is {what}")
