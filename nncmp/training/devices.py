"""--device: where the engines train. auto = CUDA if available, else MPS if available, else the CPU.

The data moves to the device once per process (on_device caches it); models, optimizers and every tensor
an engine makes live there. Batch orders, initial weights and dropout masks are still drawn on the CPU
from the seed and moved, so a seed gives the same run on any device up to floating-point rounding.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from nncmp.config.comparison import DEVICE, DEVICES
from nncmp.errors import SpecError
from nncmp.training.load import Threads

if TYPE_CHECKING:
    from nncmp.registry.datasets import Data

_MOVED: dict[tuple[int, str], Data] = {}  # (id of a Data on the CPU, device) → that Data on the device

# torch's CPU threads between groups: as many as the load leaves free (load.py); at most what torch starts with.
THREADS = Threads(torch.get_num_threads, torch.set_num_threads)


def check(text: str) -> str:
    """The --device text, checked for its form only (no torch: bad input answers at once)."""
    value = text.strip().lower()
    if not DEVICE.match(value):
        raise SpecError(f"--device: unknown value {text!r}; choose from: {DEVICES}")
    return value


def resolve(text: str) -> str:
    """The device --device names, or SpecError saying why it is not there."""
    value = check(text)
    if value == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if _mps_available():
            return "mps"
        return "cpu"
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            if torch.backends.cuda.is_built():
                why = "torch finds no CUDA GPU (none here, or no NVIDIA driver)"
                fix = "use --device cpu (or auto)"
            else:
                why = "this torch is built without CUDA"
                fix = 'use --device cpu, or install a CUDA build of torch (docs: GPU)'
            raise SpecError(f"--device {value}: {why} (torch {torch.__version__}); {fix}")
        index = int(value.split(":")[1]) if ":" in value else 0
        if index >= torch.cuda.device_count():
            raise SpecError(f"--device {value}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return f"cuda:{index}"
    if value == "mps" and not _mps_available():
        raise SpecError("--device mps: no Apple GPU (MPS) here; use --device cpu")
    return value


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def describe(device: str) -> str:
    """The device as a person reads it: cpu (2 threads), cuda:0 (NVIDIA A100, 80 GB), mps."""
    if device == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(int(device.split(":")[1]))
        return f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GB)"
    return device


def on_device(data: Data, device: str) -> Data:
    """`data` with its tensors on `device`, moved once per process (the CPU data itself on the CPU)."""
    if device == "cpu":
        return data
    key = (id(data), device)
    if key not in _MOVED:
        _MOVED[key] = replace(data, **{k: getattr(data, k).to(device) for k in ("x_train", "y_train", "x_val",
                                                                               "y_val")})
    return _MOVED[key]


def deterministic(on: bool) -> None:
    """--deterministic: torch's deterministic algorithms everywhere (and the cuBLAS workspace they need)."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def synchronize(device: str) -> None:
    """Wait for the device's queued work (timing on a GPU measures nothing without it)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()
