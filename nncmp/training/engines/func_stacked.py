"""The torch.func engine: K runs of any model without buffers or random layers (a user's model) trained as
one, each with the numbers it would have alone.

The K models' parameters are stacked along a leading dimension (torch.func.stack_module_state) and one
forward pass is vmap over functional_call: member k sees its own weights and its own batch. Each member's
loss is its batch mean, and their sum is backpropagated, so each member's gradient is its own. One
torch.optim step updates the stack; the built-in optimizers act on each element by itself, so a member's
update does not depend on its neighbours (tests check the records against the single-run engine).

What cannot be stacked this way trains on the single-run engine (plan.py decides): models with buffers
(BatchNorm's running statistics would need vmap-aware in-place updates) or random layers (Dropout's masks
under vmap are not the masks a single run draws), and optimizers that are not torch.optim's built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nncmp.registry.datasets import Data
from nncmp.spec.run import RunSpec
from nncmp.training.engines.single import EVAL_CHUNK, GRAD_CHUNK, make_model
from nncmp.training.engines.stacked import _member_losses
from nncmp.training.recorder import EpochMetrics, first_bad_step

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nncmp.registry.schedules import Schedule


def why_not(model: nn.Module) -> str | None:
    """Why this (built) model cannot train in a torch.func stack, or None."""
    from torch import nn

    if any(True for _ in model.buffers()):
        return "it has buffers (BatchNorm's running statistics, ...), which a torch.func stack cannot update"
    random = [type(m).__name__ for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if random:
        return f"it has random layers ({random[0]}), whose masks in a stack would not be a single run's"
    return None


class FuncStackedRun:
    """Runs of one model that share a group key (they differ in init and seed), as one torch.func stack;
    the recorder's engine contract (see recorder.py)."""

    def __init__(self, specs: list[RunSpec], data: Data):
        import copy

        import torch
        from torch.func import stack_module_state

        from nncmp.registry.schedules import Schedule
        from nncmp.spec.run import total_steps
        from nncmp.training.stepping import build_for

        specs = [s.resolved(data.n_train) for s in specs]
        self.specs, self.data = specs, data
        self.classification = data.task == "classification"
        models = [make_model(s, data) for s in specs]  # each seeded as the single-run engine seeds it
        reason = why_not(models[0])
        if reason:
            raise ValueError(f"this model cannot train in a torch.func stack: {reason}")
        self.base = copy.deepcopy(models[0]).to("meta")  # the architecture only: its weights come stacked
        params, _ = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n].detach().clone().requires_grad_(True) for n in self.names]
        self.optimizer = build_for(specs[0], self.params)
        first = specs[0]
        self.orders = [torch.Generator().manual_seed(s.seed) for s in specs]
        self.steps_done = 0
        self.step_hook: Callable[[int], None] | None = None
        self.schedule: Schedule | None = Schedule(self.optimizer, first.schedule, total_steps(first, data.n_train),
                                                  first.warmup) if first.schedule != "constant" else None

    def _forward(self, x: torch.Tensor, shared: bool) -> torch.Tensor:
        """x: [K, B, ...] (each member its own batch) or [B, ...] (shared) → [K, B, outputs]."""
        from torch.func import functional_call, vmap

        def one(params: tuple[torch.Tensor, ...], xb: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, dict(zip(self.names, params)), (xb,))

        return vmap(one, in_dims=(0, None if shared else 0))(tuple(self.params), x)

    def evaluate(self, split: str) -> tuple[list[float], list[float | None]]:
        import torch

        x, y = (self.data.x_train, self.data.y_train) if split == "train" else (self.data.x_val, self.data.y_val)
        k = len(self.specs)
        total = torch.zeros(k, dtype=torch.float64, device=x.device)
        correct = torch.zeros(k, dtype=torch.long, device=x.device)
        with torch.no_grad():
            for i in range(0, len(x), EVAL_CHUNK):
                xb, yb = x[i:i + EVAL_CHUNK], y[i:i + EVAL_CHUNK]
                # One copy per member: vmap over a shared input (in_dims None) measured 3x slower for Conv1d.
                out = self._forward(xb.unsqueeze(0).expand(k, *xb.shape).contiguous(), shared=False)
                yk = yb.unsqueeze(0).expand(k, *yb.shape)
                total += _member_losses(out, yk, self.classification).double() * len(xb)
                if self.classification:
                    correct += (out.argmax(-1) == yk).sum(1)
        n = len(x)
        return (total / n).tolist(), ((correct.double() / n).tolist() if self.classification else [None] * k)

    def train_epoch(self) -> tuple[EpochMetrics, int]:
        import torch

        data, k = self.data, len(self.specs)
        n, bs = data.n_train, self.specs[0].batch_size
        device = data.x_train.device
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.orders]).to(device)
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, dtype=torch.long, device=device)
        bad_step = torch.zeros(k, dtype=torch.long, device=device)
        seen = 0
        for step, i in enumerate(range(0, n, bs), 1):
            idx = perms[:, i:i + bs]
            width = idx.shape[1]
            self.optimizer.zero_grad(set_to_none=True)
            step_loss = torch.zeros(k, device=device)
            for start in range(0, width, GRAD_CHUNK):  # the single-run engine's chunks of a huge batch
                sub = idx[:, start:start + GRAD_CHUNK]
                xb, yb = data.x_train[sub], data.y_train[sub]
                out = self._forward(xb, shared=False)
                losses = _member_losses(out, yb, self.classification)
                scale = sub.shape[1] / width
                (losses.sum() if scale == 1.0 else losses.sum() * scale).backward()
                step_loss += losses.detach() * sub.shape[1]
                if self.classification:
                    correct += (out.detach().argmax(-1) == yb).sum(1)
            loss_sum += step_loss
            bad_step = first_bad_step(bad_step, step_loss, step)
            self.optimizer.step()
            if self.schedule:
                self.schedule.step()
            self.steps_done += 1
            if self.step_hook:
                self.step_hook(self.steps_done)
            seen += width
        accuracy = (correct.double() / seen).tolist() if self.classification else [None] * k
        return ((loss_sum / seen).tolist(), accuracy, bad_step.tolist()), seen

    def member(self, j: int) -> nn.Module:
        from nncmp.registry.models import build_model

        model = build_model(self.specs[j], self.data.shape, self.data.n_out, self.data.task)
        model.load_state_dict({n: p[j].detach() for n, p in zip(self.names, self.params)})
        return model.to(self.data.x_train.device)

    def drop(self, keep: list[int]) -> None:
        """Keep only the members at positions `keep`, with their slices of the optimizer state."""
        import torch

        index = torch.tensor(keep)
        state = self.optimizer.state
        new = [p.detach()[index].clone().requires_grad_(True) for p in self.params]
        for old, fresh in zip(self.params, new):
            entry = state.pop(old, None)
            if entry is not None:
                state[fresh] = {key: v[index] if (torch.is_tensor(v) and v.shape == old.shape) else v
                                for key, v in entry.items()}
        self.optimizer.param_groups[0]["params"] = new
        self.params = new
        self.specs = [self.specs[j] for j in keep]
        self.orders = [self.orders[j] for j in keep]


def train(specs: list[RunSpec], data: Data, **kwargs: Any) -> list[list[dict[str, Any]]]:
    """The runs' records on this engine (tests and bench)."""
    from nncmp.training.recorder import record_runs

    return record_runs(FuncStackedRun(specs, data), **kwargs)
