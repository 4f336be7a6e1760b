"""A run's batches: its own order of the training set, pass after pass, cut into the rounds a budget asks for.

An epoch budget trains one pass per round (the order of each drawn when it starts, as always); a step budget
(--steps, --eval-every) trains a number of steps per round, carrying on where the last round stopped and
drawing the next pass's order when one runs out, so a step budget's batches are exactly the epoch budget's
batches, counted differently. The order depends on (seed, dataset, batch size) only: its own generator,
never the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


class Batches:
    """Batch positions for runs that share a training-set size and batch size. `draw()` returns the next
    pass's order ([n], or [K, n] for a stack's members); `steps`: steps per round, None for a pass."""

    def __init__(self, n: int, batch_size: int, draw: Callable[[], torch.Tensor], steps: int | None = None):
        self.n, self.bs, self.draw, self.steps = n, batch_size, draw, steps
        self.order: torch.Tensor | None = None
        self.at = n  # position in the current pass; n: drawn out, the next round draws a new order

    def round(self, steps: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """(step number in this round from 1, the batch's positions in the order: [b] or [K, b]) for one round:
        one pass (steps None), or `steps` steps across passes."""
        if steps is None:
            self.order, self.at = self.draw(), self.n
            for step, i in enumerate(range(0, self.n, self.bs), 1):
                yield step, self.order[..., i:i + self.bs]
            return
        for step in range(1, steps + 1):
            if self.at >= self.n:
                self.order, self.at = self.draw(), 0
            assert self.order is not None
            yield step, self.order[..., self.at:self.at + self.bs]
            self.at += self.bs


def rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t[idx] for positions idx ([b] or [K, b]): the same values, gathered by index_select, which copies whole
    rows (advanced indexing's general kernel took 2–3× as long, a tenth of a small model's step)."""
    if idx.dim() == 1:
        return t.index_select(0, idx)
    return t.index_select(0, idx.reshape(-1)).view(*idx.shape, *t.shape[1:])
