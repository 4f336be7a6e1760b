"""The one dispatcher: which runs of a grid train together, and which engine trains each group, and why.

The plan is made once per run list, from runs already resolved (every default filled in on the data they
train on) and the device the command chose; each Group carries its resolved runs, its engine and its
device, and everything after it (execute.train_with, the engines, the backends) takes them as given.
Four engines train runs (execute.train_with switches on the choice, nowhere else does):

- "fast-sgd": plain SGD at batch size 1 on a classification task, on a model of plain biased Linear layers
              (the mlp, logreg) — no autograd at all (engines/fast_sgd.py), one run or a stack;
- "stacked":  runs that differ only in init, seed and the built-in optimizer's hyperparameters, stacked
              along a leading dimension into one model (engines/stacked.py), one batched matrix product per
              layer (members with other hyperparameters: an optimizer each);
- "stacked-func": the same for a user's model or the transformer, stacked with torch.func
              (engines/func_stacked.py), where that matches single runs to rounding (no buffers, no random
              layers, batch size above 1) and a trial step on a few examples succeeds (vmap has no rule for
              recurrent layers, random numbers drawn inside forward or control flow on the data);
- "single":   the reference engine, one run (engines/single.py): models that do not stack (the cnn), users'
              models that cannot, and everything with --group-size 1 that the fast path does not cover.

Every choice reads the data's task and the model's properties (registry/models.PROPERTIES), never a
dataset's or a model's name. A group is an execution detail: a run's records do not depend on the group it
trained in (to rounding; docs/methodology/how-a-run-is-trained.md says how far).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nncmp.config.run import RunSpec, hyper_differ, user_model
from nncmp.registry import hyperparameters as hp
from nncmp.registry import optimizers as optim
from nncmp.registry.models import FUNC_STACK, PLAIN_LINEAR, STACKABLE, build_user, model_is

if TYPE_CHECKING:
    from nncmp.registry.data import Data

# Bounds a group's memory: a full-batch step holds K × min(n, GRAD_CHUNK) examples' activations.
MAX_GROUP = 16
ENGINES = ("single", "stacked", "fast-sgd", "stacked-func")
# Special handling a stack still gives exactly: an optimizer computing its own step size does so per member.
STACKABLE_HANDLING = {optim.NO_LR}
# Library optimizers whose stacked runs were measured to differ from their single runs (0.1-9% in loss after
# 2 epochs; tests/training/engines/test_members.py checks every other one): they train alone. rprop, alice and
# kate by less (0.02-0.04% after 1-2 epochs) but beyond rounding's bound, on an AVX-512 CPU only: rprop steps by
# the gradient's sign and the step sizes multiply with it, so rounding that flips a sign is magnified.
NOT_STACKABLE = {"gravity", "kron", "soap", "rprop", "alice", "kate"}
FAST_ACTS = ("relu", "tanh", "sigmoid")


@dataclass(frozen=True)
class Group:
    """Runs that train together: which, how, where — all that a backend needs to train them anywhere."""

    indices: tuple[int, ...]  # positions in the planned run list, in its order
    specs: tuple[RunSpec, ...]  # those runs, resolved, in the same order
    engine: str  # one of ENGINES
    why: str  # how it trains and why, for --verbose
    device: str = "cpu"  # where it trains: the command's device (a process pool may spread groups over GPUs)


def unstackable(spec: RunSpec, data: Data) -> str | None:
    """Why this run cannot train in a stack (it then trains alone on the single-run engine), or None. A
    user's model stacks with torch.func when it has no buffers and no random layers, which takes building
    it on `data`."""
    if spec.param == "mup":
        return ("μP gives each layer its own learning rate and scales the output layer; the stacks carry one "
                "rate per member and the model as built")
    if dict(spec.model_args).get("residual", "none") != "none" and not user_model(spec.model):
        return "a residual mlp's blocks are not the stacked engine's chain of Linear layers"
    special = set(optim.entry(spec.optimizer).handling) - STACKABLE_HANDLING
    library = None if spec.optimizer in optim.OPTIMIZERS or not special else (
        f"{spec.optimizer} needs {', '.join(sorted(special))}, which a stack's optimizers (one per member, over "
        "views of its slices) do not give")
    if optim.resolve(spec.optimizer).split(":")[-1] in NOT_STACKABLE:
        library = f"{spec.optimizer}'s stacked runs were measured to differ from its single runs"
    if func_stack(spec.model):
        if spec.optimizer not in optim.OPTIMIZERS:
            return (f"a torch.func stack has one optimizer for every member, exact only for the built-in "
                    f"optimizers, whose updates act on each weight by itself; {spec.optimizer} may not")
        if spec.batch_size == 1:
            return ("a torch.func-stacked model at batch size 1 trains alone: over thousands of steps a stack's "
                    "rounding drifts further from a single run's than the records' tolerance (5.7% in val loss "
                    "after 3 epochs of MNIST-1D)")
        if not user_model(spec.model):
            return "--dropout draws masks inside a torch.func stack that are not a single run's" if spec.dropout \
                else library
        return _user_model_reason(spec.model, spec.model_args, data.shape, data.n_out, data.task, data.vocab)
    if not model_is(spec.model, STACKABLE):
        return f"model {spec.model} trains alone (stacked convolutions do not pay on a CPU)"
    return library


@functools.lru_cache(maxsize=32)
def _user_model_reason(model: str, model_args: tuple[tuple[str, Any], ...], shape: tuple[int, ...], n_out: int,
                       task: str, vocab: int = 0) -> str | None:
    import torch

    from nncmp.training.engines.func_stacked import why_not  # lazy: torch; the plan is torch-free

    with torch.random.fork_rng(devices=[]):  # building draws weights: leave the global generator as it was
        reason = why_not(build_user(model, dict(model_args), shape, n_out, task, vocab))
    return f"a user's model stacks with torch.func, but {reason}" if reason else None


def func_stack(model: str) -> bool:
    """Whether the model's runs stack with torch.func (the stacked-func engine): a user's model (if its build and
    a trial step allow), or a built-in with that property (the transformer)."""
    return user_model(model) or model_is(model, FUNC_STACK)


def _plain_mlp_classifier(spec: RunSpec, task: str, device: str) -> bool:
    """What the engines' hand-written arithmetic assumes (fast_sgd.py, hand_grad.py): a model of plain biased
    Linear layers and an activation with a backward kernel, without BatchNorm/Dropout, trained with plain
    cross-entropy (the output delta is softmax minus one-hot) on a classification task, by a built-in
    optimizer, on the CPU (on a GPU a kernel launch per tiny operation is the opposite of fast, and
    autograd's Python runs ahead of the kernels anyway). `spec`: resolved; `task`: the data's (Data.task)."""
    return (device == "cpu" and task == "classification" and spec.optimizer in optim.OPTIMIZERS
            and spec.param == "sp" and not spec.model_args  # a residual mlp: not a chain of Linear layers
            and model_is(spec.model, PLAIN_LINEAR) and spec.act in FAST_ACTS and not spec.batchnorm
            and spec.dropout == 0 and not spec.loss and not spec.label_smoothing)


def fast_sgd(spec: RunSpec, task: str, device: str = "cpu") -> bool:
    """Batch size 1, SGD without momentum (weight decay allowed), on a plain MLP classifier (above), over
    whole epochs. `spec`: resolved; `task`: the data's (Data.task)."""
    entry = optim.OPTIMIZERS.get(spec.optimizer)
    return (_plain_mlp_classifier(spec, task, device) and entry is not None and entry.torch_class == "SGD"
            and not entry.fixed.get("nesterov") and not spec.opt_args and spec.batch_size == 1
            and not spec.momentum
            # its arithmetic is plain cross-entropy over an epoch: no clipping or step budget
            and not spec.clip_grad_norm and not spec.steps)


def hand_backprop(spec: RunSpec, task: str, device: str = "cpu") -> bool:
    """Runs whose gradient the single-run and stacked engines compute by hand (engines/hand_grad.py): any
    plain MLP classifier (above). Only built-in optimizers: a library's may magnify the rounding the
    hand-written delta differs by beyond the bounds the tests hold engines to (alice did)."""
    return _plain_mlp_classifier(spec, task, device)


def group_key(spec: RunSpec, data: Data, device: str = "cpu") -> tuple[Any, ...] | None:
    """Runs with equal keys can train together on `data`; None: this run trains alone. `spec` must be resolved."""
    if unstackable(spec, data):
        return None
    # The fast path scales each member's update by its own rate and decay, so those may differ there; the stacked
    # engine gives each member an optimizer of its own (engines/members.MemberOptimizers), so the built-in
    # optimizers' hyperparameters may differ (tuning trials), except on the torch.func stack.
    if fast_sgd(spec, data.task, device):
        varying = {"init", "seed", "lr", "weight_decay"}
    elif func_stack(spec.model):
        varying = {"init", "seed"}
    else:
        varying = {"init", "seed", *hp.optimizer_settings()}
    return tuple((k, v) for k, v in sorted(spec.to_dict().items()) if k not in varying)


def plan(specs: Sequence[RunSpec], data: Data, max_group: int = MAX_GROUP, device: str = "cpu") -> list[Group]:
    """Groups in order of each group's first run; runs keep their order inside a group.

    `specs`: resolved on `data` (RunSpec.resolved), as every run id in the files is. `data`: what they train
    on — its task decides the fast path, and a user's model is built on it to tell whether it stacks.
    max_group=1 trains every run alone (each on its fastest single-run path). `device`: where they train, as
    the command resolved it (devices.resolve).
    """
    if max_group < 1:
        raise ValueError("max_group must be >= 1")
    unresolved = next((s for s in specs if s.lr is None or s.batch_size is None), None)
    if unresolved is not None:
        raise ValueError(f"the plan takes resolved runs (RunSpec.resolved); {unresolved.run_id} is not")
    open_groups: dict[tuple, list[int]] = {}
    groups: list[list[int]] = []
    for i, spec in enumerate(specs):
        key = group_key(spec, data, device) if max_group > 1 else None
        if key is None:
            groups.append([i])
            continue
        members = open_groups.get(key)
        if members is None or len(members) >= max_group:
            members = open_groups[key] = []
            groups.append(members)
        members.append(i)
    out = []
    tried: dict[tuple[Any, ...], str | None] = {}
    for members in groups:
        runs = tuple(specs[i] for i in members)
        engine, why = choose(runs, data, max_group, device)
        if engine == "stacked-func":
            key = group_key(runs[0], data, device)
            if key not in tried:
                tried[key] = _trial(list(runs), data)
            if tried[key]:
                out += [Group((i,), (specs[i],), "single", "alone on the single-run engine: a torch.func stack of "
                              f"these runs failed when tried on one batch ({tried[key]})", device) for i in members]
                continue
        out.append(Group(tuple(members), runs, engine, why, device))
    return out


def _trial(runs: list[RunSpec], data: Data) -> str | None:
    from nncmp.training.engines.func_stacked import trial  # lazy: torch; the plan is torch-free

    return trial(runs, data)


def choose(runs: tuple[RunSpec, ...], data: Data, max_group: int = MAX_GROUP, device: str = "cpu") -> tuple[str, str]:
    """The engine of a group (runs sharing one group key) and the reason, in words."""
    n, first = len(runs), runs[0]
    if fast_sgd(first, data.task, device):
        return "fast-sgd", ("batch-1 SGD fast path, " + (f"{n} runs stacked" if n > 1 else "alone")
                            + ": plain SGD at batch size 1 needs no autograd")
    if n > 1 and func_stack(first.model):
        return "stacked-func", (f"{n} runs stacked with torch.func (vmap over the model): they differ only in "
                                "init and seed")
    hand = "; a plain MLP: its gradient computed by hand, without autograd" \
        if hand_backprop(first, data.task, device) else ""
    if n > 1:
        if hyper_differ(list(runs)) or first.optimizer not in optim.OPTIMIZERS:
            return "stacked", (f"{n} runs stacked: they differ only in init, seed and the optimizer's hyperparameters "
                               f"(each member has an optimizer of its own){hand}")
        return "stacked", f"{n} runs stacked: they differ only in init and seed{hand}"
    reason = unstackable(first, data) or ("--group-size 1" if max_group == 1 else "no other run shares its settings")
    return "single", f"alone on the single-run engine: {reason}{hand}"


def fewest_threads(group: Group) -> tuple[int, str] | None:
    """The most torch threads the group's engine runs fastest on whatever the load, and why in words (None:
    every free core). Measured idle and with a core busy (docs: Performance, "A busy core"): the batch-1 SGD
    fast path alone is some twenty operations a step on vectors and small matrices, where a second thread only
    adds the wait for it (step by step, with weight decay, one and two threads measured alike); stacked, its
    products are K times larger and two threads win."""
    if group.engine == "fast-sgd" and len(group.specs) == 1:
        return 1, "the batch-1 SGD fast path alone runs fastest on one thread"
    return None


def as_group(engine: str, specs: Sequence[RunSpec], data: Data, device: str = "cpu") -> Group:
    """`specs` (resolved) as one group on `engine`, chosen by hand rather than by the plan (bench, the engines'
    tests); ValueError where that engine cannot train them together."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    if engine == "single" and len(specs) != 1:
        raise ValueError("the single-run engine trains one run")
    keys = {group_key(s, data, device) for s in specs}
    if engine != "single" and (None in keys or len(keys) != 1):
        raise ValueError("only runs with one shared group key train together")
    if engine == "fast-sgd" and not fast_sgd(specs[0], data.task, device):
        raise ValueError("the fast-sgd engine trains plain SGD at batch size 1 on plain Linear layers, for "
                         "classification, on the CPU only")
    return Group(tuple(range(len(specs))), tuple(specs), engine, f"the {engine} engine, chosen by hand", device)


def runs_of(groups: Sequence[Group]) -> list[RunSpec]:
    """The planned run list back from its groups, in its order (the groups hold every position once)."""
    runs: dict[int, RunSpec] = {}
    for group in groups:
        runs.update(zip(group.indices, group.specs))
    return [runs[i] for i in range(len(runs))]


def describe(number: int, total: int, group: Group) -> str:
    """One line of --verbose: the group, its first run, its engine and why."""
    first = group.specs[0]
    who = f"{first.config_id} and {len(group.indices) - 1} more" if len(group.indices) > 1 else first.run_id
    return f"group {number}/{total}: {who} on the {group.engine} engine ({group.why})"
