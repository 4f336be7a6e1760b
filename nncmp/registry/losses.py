"""Losses and what is measured beside them: name (or a user's function) → a Criterion every engine uses.

One criterion per run, built from the data's task and the run's --loss, --label-smoothing and --metric-fn, so
that the single-run engine, the stacked engines and evaluation cannot disagree about what a loss or an
accuracy is. Built in, all from torch.nn.functional:

    cross-entropy   logits (N, ..., C) against integer labels (N, ...): one label per example, or per token
                    (class dimension last); labels of IGNORE_INDEX (-100) count for nothing;
                    --label-smoothing. The default for integer labels.
    mse             mean squared error over every output. The default for float targets.
    huber           Huber loss (delta 1): quadratic near 0, linear far from it.
    bce             binary cross-entropy on logits against 0/1 targets (multi-label).

Standardised targets (--standardize, registry/data.py): mse and huber then train the model to predict each
output standardised with the training split's mean and standard deviation, and everything reported (the val
and train losses, RMSE, R², a --metric-fn) is in the targets' own units: the model's output de-standardised
(output × std + mean), the loss of each output multiplied by its variance. For mse that is exactly the mean
squared error of the de-standardised predictions against the original targets; for huber, Huber's loss with
delta one standard deviation (delta 1 on the standardised scale), in the targets' units — the loss trained,
not another one. bce (0/1 targets) and a user's loss always see the targets as given.

A user's loss is a function (output, target) → a scalar (the mean over the batch), or a vector of one loss
per example (nncmp takes its mean). `output` is what the model returned: a tensor, or a tuple/dict (a VAE's
reconstruction, mean and log-variance) whose first item is the prediction that accuracy and the built-in
losses read; `target` is the data's targets as given (never standardised: nncmp cannot know what a loss of
yours expects of them). Loss sums over a split weight each batch by its size, so a split's loss is the mean
per example (per token, where targets are per token and the loss is built in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError
from nncmp.registry.closest import unknown
from nncmp.registry.data import IGNORE_INDEX
from nncmp.registry.user import guarded, is_ref, resolve, split_ref

if TYPE_CHECKING:
    import torch

    from nncmp.registry.data import Data

LOSSES = ("cross-entropy", "mse", "huber", "bce")
DEFAULTS = {"classification": "cross-entropy", "regression": "mse"}
# What each built-in loss needs of the targets: class labels (integers) or values (floats).
NEEDS = {"cross-entropy": "classification", "mse": "regression", "huber": "regression", "bce": "regression"}
# The losses of a value's distance from its target, which train against standardised targets when the data has
# their statistics; their value in the targets' units is the standardised one times the output's variance.
SCALED = ("mse", "huber")


def check_name(loss: str | None) -> None:
    """SpecError for a --loss that is neither a built-in's name nor a reference to a user's function."""
    if loss is not None and loss not in LOSSES and not is_ref(loss):
        raise SpecError(unknown("loss", loss, LOSSES, more=", or your own as file.py:NAME or module:NAME"))


def first(output: Any) -> torch.Tensor:
    """The prediction in what a model returned: the tensor itself, or the first item of a tuple, list or
    dict."""
    if isinstance(output, (tuple, list)):
        return output[0]
    if isinstance(output, dict):
        return next(iter(output.values()))
    return output


def with_first(output: Any, prediction: torch.Tensor) -> Any:
    """What a model returned, with `prediction` in place of its first item (or of itself)."""
    if isinstance(output, (tuple, list)):
        return type(output)([prediction, *output[1:]])
    if isinstance(output, dict):
        return {k: prediction if i == 0 else v for i, (k, v) in enumerate(output.items())}
    return prediction


def detached(output: Any) -> Any:
    """What a model returned without its graph: a tensor, or a tuple, list or dict of them."""
    if isinstance(output, (tuple, list)):
        return type(output)(detached(o) for o in output)
    if isinstance(output, dict):
        return {k: detached(v) for k, v in output.items()}
    return output.detach() if hasattr(output, "detach") else output


@dataclass(frozen=True)
class Criterion:
    """A run's loss and accuracy on batches. `name`: a built-in's, or a user's reference; `task`: the data's;
    `per_token`: labels per position; `smoothing`: cross-entropy's label smoothing; `fn`: a user's loss
    function (None: built in); `metric`: a user's metric function (--metric-fn), or None; `scale`: each output's
    (means, standard deviations) of the training targets, which mse and huber train against standardised
    (None: the targets as given).

    `mean` (and `members`) is what is backpropagated; `reported` (`sum`, `members(reported=True)`) is what the
    records hold: the same loss, in the targets' own units."""

    name: str
    task: str
    per_token: bool = False
    smoothing: float = 0.0
    fn: Callable[..., Any] | None = None
    metric: Callable[..., Any] | None = None
    metric_name: str = ""
    scale: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    # `scale` as tensors, by (device, dtype): made once, not per step (on a GPU each would be a copy to it).
    _tensors: dict[Any, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, compare=False, hash=False,
                                                                   repr=False)

    @property
    def classification(self) -> bool:
        """Accuracy is measured: class labels and a loss over class logits (built-in cross-entropy, or a user's
        loss on class labels)."""
        return self.task == "classification"

    @property
    def log_likelihood(self) -> bool:
        """The loss is the mean negative log-likelihood per target (nats), so perplexity and bits per token
        follow from it: built-in cross-entropy without label smoothing."""
        return self.name == "cross-entropy" and self.smoothing == 0

    def _scale(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`scale` as tensors on `like`'s device, in its dtype: (mean, std), one value per output."""
        import torch

        key = (like.device, like.dtype)
        if key not in self._tensors:
            assert self.scale is not None
            self._tensors[key] = tuple(torch.tensor(v, dtype=like.dtype, device=like.device)  # type: ignore[assignment]
                                       for v in self.scale)
        return self._tensors[key]

    def standardised(self, y: torch.Tensor) -> torch.Tensor:
        """The targets as the model learns them: standardised where `scale` is given, else as they are."""
        if self.scale is None:
            return y
        mean, std = self._scale(y)
        return (y - mean) / std

    def restored(self, output: Any) -> Any:
        """What the model returned with its prediction in the targets' own units (output × std + mean): what a
        --metric-fn receives, and what the reported loss is of."""
        if self.scale is None:
            return output
        out = first(output)
        mean, std = self._scale(out)
        return with_first(output, out * std + mean)

    def _elements(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """mse's or huber's loss of each output of each example, against the standardised targets."""
        import torch.nn.functional as F

        loss = F.mse_loss if self.name == "mse" else F.huber_loss
        return loss(out, self.standardised(y), reduction="none")

    def mean(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        """The batch's mean loss, what is backpropagated: per example, or per token that has a target; against
        standardised targets where `scale` is given."""
        import torch.nn.functional as F

        if self.fn is not None:
            return self._user(output, y)
        out = first(output)
        if self.name == "cross-entropy":
            if self.per_token:
                # Summed and divided by the tokens with a target: a batch with none has loss 0, not 0/0.
                flat = y.reshape(-1)
                total = F.cross_entropy(out.reshape(len(flat), -1), flat, ignore_index=IGNORE_INDEX,
                                        label_smoothing=self.smoothing, reduction="sum")
                return total / (flat != IGNORE_INDEX).sum().clamp(min=1)
            return F.cross_entropy(out, y, label_smoothing=self.smoothing)
        if self.name == "mse":
            return F.mse_loss(out, self.standardised(y))
        if self.name == "huber":
            return F.huber_loss(out, self.standardised(y))
        return F.binary_cross_entropy_with_logits(out, y.to(out.dtype))

    def reported(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        """The batch's mean loss in the targets' own units, as the records hold it: `mean` itself, or with
        standardised targets each output's loss times its variance (mse: the mean squared error of the
        de-standardised prediction)."""
        if self.scale is None:
            return self.mean(output, y)
        return (self._elements(first(output), y) * self._scale(y)[1] ** 2).mean()

    def sum(self, output: Any, y: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(the batch's reported loss summed over what it averages, how many of them): examples, or for built-in
        losses on per-token targets the tokens that have one (a tensor). mean × count: the same numbers to the
        bit as the engines have always summed."""
        mean = self.reported(output, y)
        if self.per_token and self.fn is None:
            count = (y != IGNORE_INDEX).sum()
            return mean * count, count
        return mean * len(y), len(y)

    def members(self, output: Any, y: torch.Tensor, reported: bool = False) -> torch.Tensor:
        """Each member's mean loss, for K runs stacked along the first dimension of `output` and `y`: [K]; what
        is backpropagated, or (`reported`) in the targets' own units as `reported` gives it."""
        import torch
        import torch.nn.functional as F

        out = first(output)
        k, n = y.shape[:2]
        if self.fn is None and self.scale is not None:
            each = self._elements(out, y)
            return (each * self._scale(y)[1] ** 2 if reported else each).reshape(k, -1).mean(1)
        if self.fn is None and self.name == "cross-entropy":
            if not self.per_token:
                return F.cross_entropy(out.reshape(k * n, -1), y.reshape(-1), reduction="none",
                                       label_smoothing=self.smoothing).view(k, n).mean(1)
            flat = y.reshape(k, -1)
            each = F.cross_entropy(out.reshape(flat.numel(), -1), flat.reshape(-1), ignore_index=IGNORE_INDEX,
                                   label_smoothing=self.smoothing, reduction="none").view(k, -1)
            return each.sum(1) / (flat != IGNORE_INDEX).sum(1).clamp(min=1)
        if self.fn is None and self.name == "mse":
            return F.mse_loss(out, y, reduction="none").reshape(k, -1).mean(1)
        # Everything else member by member: exact, and a user's loss sees one run's batch, as in a single run.
        return torch.stack([self.mean(_index(output, j), y[j]) for j in range(k)])

    def hits(self, output: Any, y: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(correct predictions, predictions counted): per example, or per token (positions without a target
        excluded); for bce, per label."""
        out = first(output)
        if self.name == "bce":
            return ((out > 0) == (y > 0.5)).sum(), y.numel()
        guess = out.argmax(-1)
        if self.per_token:
            real = y != IGNORE_INDEX
            return ((guess == y) & real).sum(), real.sum()
        return (guess == y).sum(), len(y)

    def member_hits(self, output: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | int]:
        """hits for K stacked members: ([K] correct, [K] or one count)."""
        out = first(output)
        k = y.shape[0]
        guess = out.argmax(-1)
        if self.per_token:
            real = y != IGNORE_INDEX
            return ((guess == y) & real).reshape(k, -1).sum(1), real.reshape(k, -1).sum(1)
        return (guess == y).sum(1), y.shape[1]

    def _user(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        value = self.fn(output, y)  # type: ignore[misc]
        return _scalar(value, len(y), f"--loss {self.name}")


def _index(output: Any, j: int) -> Any:
    if isinstance(output, (tuple, list)):
        return type(output)(o[j] for o in output)
    if isinstance(output, dict):
        return {k: v[j] for k, v in output.items()}
    return output[j]


def _scalar(value: Any, n: int, what: str) -> torch.Tensor:
    """A user's loss or metric value as a scalar tensor: a scalar as it is, a vector of n (per example)
    averaged; anything else is an error that says what was returned."""
    import torch

    if not isinstance(value, torch.Tensor):
        if isinstance(value, (int, float)):
            return torch.tensor(float(value))
        raise SpecError(f"{what} returned a {type(value).__name__}, not a tensor")
    if value.ndim == 0:
        return value
    if value.ndim == 1 and len(value) == n:
        return value.mean()
    raise SpecError(f"{what} returned a tensor of shape {tuple(value.shape)} on a batch of {n}; it must return a "
                    f"scalar (the batch's mean) or one loss per example ({n},)")


def metric_value(model: Any, crit: Criterion, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """--metric-fn of `model` on (x, y): the user's function on each chunk (a number, or one per example),
    averaged weighting each chunk by its examples; it receives the model's output with its prediction in the
    targets' own units (Criterion.restored) and the targets as given."""
    import torch

    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            yb = y[i:i + chunk]
            out = crit.restored(model(x[i:i + chunk]))
            value = _scalar(crit.metric(out, yb), len(yb), f"--metric-fn {crit.metric_name}")  # type: ignore[misc]
            total += float(value) * len(yb)
            n += len(yb)
    return total / max(n, 1)


def user_function(ref: str, what: str) -> Callable[..., Any]:
    """A user's loss or metric function, imported (SpecError, one line, if it cannot be)."""
    fn = resolve(ref, what)
    if not callable(fn):
        raise SpecError(f"{what}: {split_ref(ref)[1]} is a {type(fn).__name__}, not a function")
    return fn


def criterion(data: Data, loss: str | None = None, smoothing: float = 0.0, metric_fn: str | None = None) -> Criterion:
    """The criterion of a run on `data`: --loss (None: the task's default), --label-smoothing, --metric-fn."""
    name = loss or DEFAULTS[data.task]
    check_name(name)
    if smoothing and name != "cross-entropy":
        raise SpecError(f"--label-smoothing applies to the cross-entropy loss, not {name}")
    if name in LOSSES and NEEDS[name] != data.task and not (name == "bce" and data.task == "classification"):
        raise SpecError(f"--loss {name} needs {'class labels' if NEEDS[name] == 'classification' else 'float targets'}"
                        f"; {data.name}'s targets are {'class labels' if data.task == 'classification' else 'values'}")
    fn = user_function(name, f"--loss {name}") if name not in LOSSES else None
    metric = user_function(metric_fn, f"--metric-fn {metric_fn}") if metric_fn else None
    task = "classification" if name == "cross-entropy" or (fn is not None and data.task == "classification") \
        else "regression"
    scaling = data.scaling
    scale = (scaling.target_mean, scaling.target_std) if name in SCALED and scaling.target_std else None
    return Criterion(name, task, data.per_token, smoothing, fn, metric, split_ref(metric_fn)[1] if metric_fn else "",
                     scale)


def check_on_batch(crit: Criterion, output: Any, y: torch.Tensor, what: str) -> None:
    """SpecError, before training, when the loss cannot be computed on one batch, is not a finite-capable
    number, or has no gradient."""
    with guarded(what, f"the loss {crit.name} on a batch", SpecError):  # a user's loss, a shape mismatch
        value = crit.mean(output, y)
    if value.ndim != 0:
        raise SpecError(f"{what}: the loss {crit.name} is not a scalar (shape {tuple(value.shape)})")
    if not value.requires_grad:
        raise SpecError(f"{what}: the loss {crit.name} does not depend on the model's output (no gradient)")
    if crit.metric is not None:
        with guarded(f"--metric-fn {crit.metric_name}", "on a batch it", SpecError):
            _scalar(crit.metric(crit.restored(output), y), len(y), f"--metric-fn {crit.metric_name}")


def describe(data: Data, crit: Criterion) -> dict[str, Any]:
    """What results need to know of the data and the loss, for config.json's "data" and the measures derived
    from a validation loss (results/measures.py): the task, whether targets are per token and what a token is,
    the loss and whether it is a log-likelihood, the validation targets' variance (R² = 1 − MSE / it; the loss is
    in the targets' units whether or not they were standardised for training), and what --standardize did."""
    variance = None
    if data.task == "regression":
        y = data.y_val.double().reshape(len(data.y_val), -1)
        variance = float(((y - y.mean(0)) ** 2).mean())  # pooled over outputs: R² of the mean squared error
    return {"name": data.name, "task": data.task, "per_token": data.per_token, "token": data.token,
            "classes": data.classes, "vocab": data.vocab, "loss": crit.name, "label_smoothing": crit.smoothing,
            "log_likelihood": crit.log_likelihood, "target_variance": variance,
            "n_train": data.n_train, "n_val": len(data.x_val), "standardize": standardize(data, crit),
            **({"info": dict(data.info)} if data.info else {})}


def standardize(data: Data, crit: Criterion) -> dict[str, Any]:
    """config.json's data.standardize: the --standardize mode, whether the features were standardised (and how
    many of their values were constant over the training split, so only centred), and whether the targets
    were, with each output's training mean and standard deviation."""
    scaling = data.scaling
    targets = crit.scale is not None
    return {"mode": scaling.mode, "features": scaling.features, "constant_features": scaling.constant,
            "targets": targets, "target_mean": list(scaling.target_mean) if targets else None,
            "target_std": list(scaling.target_std) if targets else None}
