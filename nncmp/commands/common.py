"""What the commands share: the locked results folder, loading the data, the device and the threads, and
the checks of a grid that need the data (steps, optimizer settings, the baseline)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nncmp.results import store
from nncmp.spec.run import RunSpec, check_steps

if TYPE_CHECKING:
    from nncmp.registry.datasets import Data

Say = Callable[[str], None]


def quiet(_: str) -> None:
    """A `say` that says nothing."""


@contextlib.contextmanager
def results_folder(out: Path | None, command: str, resume: bool = False, overwrite: bool = False) -> Iterator[Path]:
    """The checked results folder, locked against a second process for as long as the command writes."""
    folder = store.new_results_dir(out, command, resume=resume, overwrite=overwrite)
    with store.Lock(folder):
        if overwrite:
            store.clear_results(folder)
        yield folder


def load_data(dataset: str, n: int | None = None, data_dir: str | Path | None = None,
              download: bool = False) -> Data:
    from nncmp.registry.datasets import load

    return load(dataset, n=n, data_dir=data_dir, download=download)


def pick_device(device: str, threads: int | None = None, deterministic: bool = False, say: Say = quiet) -> str:
    """The device `device` names (SpecError if it is not here); --deterministic switched on."""
    from nncmp.training import devices

    resolved = devices.resolve(device)
    if threads is not None and resolved != "cpu":
        say(f"note: --threads sets torch's CPU threads; on {resolved} the training runs on the GPU")
    devices.deterministic(deterministic)
    return resolved


def set_threads(threads: int | None) -> int:
    """Apply --threads and return the number torch will use."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def check_gpu_jobs(backend: str, jobs: int, device: str, share_gpu: bool, say: Say = quiet) -> None:
    """--backend processes on GPUs: no more workers than GPUs, unless --share-gpu says they may share."""
    if backend != "processes" or not device.startswith("cuda"):
        return
    from nncmp.errors import SpecError
    from nncmp.training.devices import gpus

    if jobs > gpus() and not share_gpu:
        raise SpecError(f"--jobs {jobs} with {gpus()} GPU(s): the workers would share a GPU; add --share-gpu "
                        f"to run them so, or use --jobs {gpus()}")
    if jobs > gpus():
        say(f"note: {jobs} workers share {gpus()} GPU(s)")


def check_baseline(specs: list[RunSpec], baseline: str | None) -> None:
    """BaselineError now, before training, if --baseline names no configuration of these (resolved) runs or
    several."""
    if baseline is not None:
        from nncmp.results.stats import find_config

        find_config([s.config_id for s in specs], baseline)


def check_runs(specs: list[RunSpec], n_train: int, tuned: bool = False, baseline: str | None = None) -> None:
    """The checks that need the data, before anything trains: each schedule fits its run's steps (on the
    holdout split too, when the rates are tuned), each library optimizer accepts its settings, and the
    baseline names one configuration. `specs` resolved on `n_train`."""
    from nncmp.registry.datasets import holdout_size
    from nncmp.training.stepping import check_settings

    check_settings(specs)
    check_steps(specs, n_train)
    if tuned:  # tuning runs train on a split of the training set: fewer steps
        check_steps(specs, holdout_size(n_train))
    else:
        check_baseline(specs, baseline)
