"""`nncmp bench --model net.py:Net`: a user's model, three ways, in one process so the ratios hold on a busy
machine too: K runs stacked (the torch.func engine, when the model can stack), the same K runs one after
another on the single-run engine, and one run of the plain PyTorch loop (the model, torch.optim, the same
tensors indexed by a shuffled permutation) against nncmp's single run of it. Training seconds only
(evaluation excluded); each case keeps its fastest of `repeats` rounds.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nncmp.config.run import RunSpec

if TYPE_CHECKING:
    from nncmp.registry.data import Data


def plain_loop_seconds(spec: RunSpec, data: Data) -> float:
    """One run of the loop a user writes by hand (the course's), epochs × (shuffle, zero_grad, forward, loss,
    backward, step, and the epoch's loss and accuracy summed as the loop goes, with .item()); the model built
    and initialised as nncmp builds it, the data the same tensors. Targets per token (a language model's,
    modadd's: IGNORE_INDEX where a position has none) the hand-written way: cross-entropy over the flattened
    positions with ignore_index, and accuracy over the positions that have a target. `spec`: resolved on
    `data`."""
    import torch
    import torch.nn.functional as F

    from nncmp.registry.data import IGNORE_INDEX
    from nncmp.registry.losses import first
    from nncmp.training.engines.single import criterion_of, make_model
    from nncmp.training.stepping import build_for

    model = make_model(spec, data)
    optimizer = build_for(spec, model.parameters(), model, data.n_train)
    crit = criterion_of(spec, data)
    per_token = crit.per_token and crit.fn is None and crit.name == "cross-entropy"

    def loss_fn(out: Any, y: torch.Tensor) -> torch.Tensor:
        if not per_token:
            return crit.mean(out, y)
        logits = first(out)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE_INDEX,
                               label_smoothing=crit.smoothing)

    order = torch.Generator().manual_seed(spec.seed)
    classification = data.task == "classification"
    start = time.perf_counter()
    for _ in range(spec.epochs):
        model.train()
        perm = torch.randperm(data.n_train, generator=order)
        running_loss, correct, counted = 0.0, 0, 0
        for i in range(0, data.n_train, spec.batch_size):
            idx = perm[i:i + spec.batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
            if per_token:
                real = y != IGNORE_INDEX
                tokens = real.sum().item()
                running_loss += loss.item() * tokens
                correct += (first(out).argmax(-1)[real] == y[real]).sum().item()
                counted += tokens
                continue
            running_loss += loss.item() * len(idx)
            counted += len(idx)
            if classification:
                correct += (first(out).argmax(1) == y).sum().item()
    return time.perf_counter() - start


def bench_model(base: RunSpec, data: Data, k: int = 8, repeats: int = 2) -> tuple[list[dict[str, Any]],
                                                                                 dict[str, float], str]:
    """Rows (case, runs, seconds, samples/s), the ratios (stacked over one by one; nncmp's single run over
    the plain loop: above 1 is faster) and how the plan trains the K runs (its reason, as --verbose says)."""
    from nncmp.training.execute import train_one, train_together
    from nncmp.training.plan import plan

    specs = [replace(base, seed=base.seed + j) for j in range(k)]
    specs = [s.resolved(data.n_train) for s in specs]
    groups = plan(specs, data, max_group=k)
    how = groups[0].why if len(groups) == 1 else f"{len(groups)} groups: {groups[0].why}"
    examples = data.n_train * base.epochs

    def trained(runs: list[list[dict[str, Any]]]) -> float:
        return sum(r[-1]["seconds"] for r in runs)  # each run carries its share of a group's time

    cases = {
        "stacked": lambda: trained(train_together(specs, data)) if len(groups) == 1 else float("nan"),
        "one by one": lambda: trained([train_one(s, data) for s in specs]),
        "nncmp single run": lambda: trained([train_one(specs[0], data)]),
        "plain PyTorch loop": lambda: plain_loop_seconds(specs[0], data),
    }
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, timed in cases.items():
            seconds = timed()
            best[name] = min(best.get(name, seconds), seconds)
    runs = {"stacked": k, "one by one": k, "nncmp single run": 1, "plain PyTorch loop": 1}
    rows = [{"case": name, "runs": runs[name], "seconds": s, "samples/s": runs[name] * examples / s}
            for name, s in best.items() if s == s]  # a model that cannot stack has no stacked case
    ratios = {"stacked_vs_one_by_one": best["one by one"] / best["stacked"] if len(groups) == 1 else float("nan"),
              "nncmp_vs_plain_loop": best["plain PyTorch loop"] / best["nncmp single run"]}
    return rows, ratios, how
