"""What a run costs: its parameters, its optimizer's state, its peak memory and its time per step.

Measured while the recorder trains a group (recorder.record_runs) and kept in runs.csv (COST_COLUMNS,
results/schema.py), never in metrics.csv: a run's records are the same whatever it cost, and they travel
as before — the costs ride on the list of a run's records (Recorded), which compares equal to the plain
list. For a stack (several runs trained as one), each member's values are its own where they can be
(its parameters, its slices of the optimizer state) and its share of the group's where they cannot (peak
memory and step times: the stack's, divided by its members). A value an engine cannot measure is None
(empty in runs.csv), never a guess.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from nncmp.results.schema import COST_COLUMNS

SAMPLED = 3  # steps timed per round (epoch, or a step budget's round): a sample, not every step
SKIP = 1  # the run's first steps are never timed: the optimizer allocates its state there
MIB = 2 ** 20


class Recorded(list):  # type: ignore[type-arg]
    """One run's records (a list of dicts, equal to the plain list) and what the run cost (`costs`)."""

    costs: dict[str, Any]


def tensor_bytes(value: Any, k: int = 1) -> int:
    """Bytes of the tensors in `value` (an optimizer's state entry: tensors, numbers, lists, dicts); with `k`
    > 1 (a stack's state), each tensor whose leading dimension is the stack's counted as one member's share
    (its bytes / k), the others (a step counter every member would have alone) whole."""
    if torch.is_tensor(value):
        shared = k > 1 and value.dim() >= 1 and value.shape[0] == k
        return value.numel() * value.element_size() // (k if shared else 1)
    if isinstance(value, dict):
        return sum(tensor_bytes(v, k) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v, k) for v in value)
    return 0


def state_bytes(optimizer: Any, k: int = 1) -> int:
    """The bytes of `optimizer.state` (torch.optim's; a Pair's both), per member of a stack of `k`."""
    return sum(tensor_bytes(entry, k) for entry in dict(optimizer.state).values())


class StepTimer:
    """Times a sample of steps, split into forward+backward and the optimizer step: the first SAMPLED steps
    of each round after the run's first SKIP. On a GPU it synchronises on those steps only. A stack's
    times are divided by its members (`share`)."""

    def __init__(self, device: str = "cpu"):
        self.cuda = str(device).startswith("cuda")
        self.forward = self.update = 0.0
        self.count = self.steps = self.in_round = 0
        self.marks: list[float] = []

    def new_round(self) -> None:
        self.in_round = 0

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self) -> None:
        """Before a step's forward pass."""
        self.steps += 1
        self.marks = []
        if self.steps > SKIP and self.in_round < SAMPLED:
            self.in_round += 1
            self.marks.append(self._now())

    def backward_done(self) -> None:
        if self.marks:
            self.marks.append(self._now())

    def step_done(self, share: int = 1) -> None:
        """After the optimizer step (with clipping and the schedule's update) of a stack of `share` runs."""
        if len(self.marks) == 2:
            end = self._now()
            self.forward += (self.marks[1] - self.marks[0]) / share
            self.update += (end - self.marks[1]) / share
            self.count += 1
        self.marks = []

    def costs(self) -> dict[str, float | None]:
        if not self.count:
            return {"ms_fwd_bwd": None, "ms_opt_step": None, "ms_step": None}
        fb, step = 1000 * self.forward / self.count, 1000 * self.update / self.count
        return {"ms_fwd_bwd": fb, "ms_opt_step": step, "ms_step": fb + step}


def _status_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory since PeakMemory last reset the mark (VmHWM; None off Linux)."""
    return _status_bytes("VmHWM")


class PeakMemory:
    """The peak memory a group adds while it trains: on a GPU, torch.cuda.max_memory_allocated over what
    was allocated at the start; on the CPU (Linux), the process's peak RSS (VmHWM, reset at the start) over
    its RSS at the start — approximate: the whole process's, allocator caching included. None where
    neither can be read (macOS, Windows)."""

    def __init__(self, device: str = "cpu"):
        self.device = str(device)
        self.base: int | None = None
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # the peak (high-water mark) back to the current RSS
        except OSError:
            return
        self.base = _status_bytes("VmRSS")

    def increase(self) -> int | None:
        if self.base is None:
            return None
        peak = torch.cuda.max_memory_allocated(self.device) if self.device.startswith("cuda") \
            else peak_rss_bytes()
        return None if peak is None else max(peak - self.base, 0)


def run_costs(params: int | None, state: int | None, peak: int | None, members: int,
              times: dict[str, float | None]) -> dict[str, Any]:
    """One run's COST_COLUMNS: `peak` is the group's, shared among its `members`."""
    per_param = state / params if state is not None and params else None
    out = {"params": params, "state_bytes": state, "state_bytes_per_param": per_param,
           "peak_mib": None if peak is None else peak / members / MIB, **times}
    return {c: out[c] for c in COST_COLUMNS}
