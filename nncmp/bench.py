"""Speed of the engine per optimizer and batch size, and of the course-style loop for comparison.

The engine is timed through engine.train (its `seconds` column excludes evaluation). The reference is
the loop the course writes: a torchvision dataset with per-sample transforms behind a DataLoader.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from nncmp.data import _TORCHVISION, Data, DataError, torchvision_dataset, write_mnist_files
from nncmp.spec import RunSpec


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class PeakMemory:
    """Peak resident memory of this process during a block, and its rise over the block's start.

    The rise is what the case itself needed; the absolute peak includes torch's libraries (~0.9 GB).
    """

    def __enter__(self) -> PeakMemory:
        self.reset = reset_peak_rss()
        self.start = _status_mb("VmRSS") or peak_rss_mb()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = peak_rss_mb()
        self.rise = max(self.peak - self.start, 0.0) if self.reset else float("nan")


def bench_engine(spec: RunSpec, data: Data) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from nncmp.engine import train

    with PeakMemory() as memory:
        records = train(spec, data)
    last = records[-1]
    seconds = max(last["seconds"], 1e-9)
    epochs = last["epoch"]
    row = {
        "optimizer": spec.optimizer, "batch_size": last["batch_size"], "epochs": epochs,
        "examples": last["examples"], "s/epoch": seconds / max(epochs, 1),
        "samples/s": last["examples"] / seconds, "peak MB": memory.peak, "peak rise MB": memory.rise,
        "status": last["status"],
    }
    return row, records


def course_dataset(data: Data, data_dir: Path | None, workdir: Path) -> Any:
    """The training set as the course loads it: a torchvision dataset with ToTensor + Normalize per sample."""
    import torch
    import torchvision.datasets as tvd
    from torchvision import transforms

    if data.task != "classification" or len(data.shape) != 3:
        raise DataError(f"--reference needs an image dataset; {data.name} has examples of shape {data.shape}")
    channels = data.shape[0]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)])
    if data.name in _TORCHVISION:
        from nncmp.data import default_data_dir

        return torchvision_dataset(data.name, Path(data_dir) if data_dir else default_data_dir(), True, False, transform)
    if channels != 1:
        raise DataError(f"--reference supports single-channel data here, got {channels} channels")

    # Write the in-memory images back as MNIST files so the reference reads them exactly as the course does.
    def to_uint8(x: Any) -> Any:
        return ((x * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)[:, 0]

    write_mnist_files(workdir, "MNIST", to_uint8(data.x_train), data.y_train, train=True)
    write_mnist_files(workdir, "MNIST", to_uint8(data.x_val), data.y_val, train=False)
    return tvd.MNIST(root=str(workdir), train=True, download=False, transform=transform)


def bench_reference(spec: RunSpec, data: Data, dataset: Any) -> dict[str, Any]:
    """Time the course's loop (DataLoader over per-sample transforms) on the same model and batch size."""
    import torch
    from torch.utils.data import DataLoader

    from nncmp.engine import loss_function, make_model
    from nncmp.optim import build_optimizer

    spec = spec.resolved(len(dataset))
    model = make_model(spec, data)
    optimizer = build_optimizer(spec, model.parameters())
    loss_fn = loss_function(data)
    loader = DataLoader(dataset, batch_size=spec.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(spec.seed))
    model.train()
    examples = 0
    with PeakMemory() as memory:
        start = time.perf_counter()
        for _ in range(spec.epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
                examples += len(y)
        seconds = max(time.perf_counter() - start, 1e-9)
    return {"ref samples/s": examples / seconds, "ref s/epoch": seconds / spec.epochs,
            "ref peak rise MB": memory.rise}


def run_bench(specs: list[RunSpec], data: Data, reference: bool, data_dir: Path | None = None,
              on_case: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for the bench table and the engine's records; with `reference`, each row gains the
    course-style loop's speed and the engine's speed-up over it."""
    from nncmp.engine import train

    # Warm-up (first-call allocations, thread pools) so the first case is not penalised.
    train(RunSpec(**{**specs[0].to_dict(), "optimizer": "minibatch", "epochs": 1, "batch_size": None,
                     **{k: None for k in ("momentum", "betas", "alpha", "eps", "weight_decay")}}), data)
    rows, records = [], []
    with tempfile.TemporaryDirectory(prefix="nncmp-ref-") as tmp:
        course = course_dataset(data, data_dir, Path(tmp)) if reference else None
        for spec in specs:
            row, recs = bench_engine(spec, data)
            if course is not None:
                row.update(bench_reference(spec, data, course))
                row["speed-up"] = row["samples/s"] / row["ref samples/s"]
            rows.append(row)
            records.extend(recs)
            if on_case:
                on_case(row)
    return rows, records
