"""What the commands share: the locked results folder, loading the data, the device and the threads, and
the checks of a grid that need the data (steps, optimizer settings, the baseline)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.config.budget import check_steps
from nncmp.config.run import RunSpec
from nncmp.results import store

if TYPE_CHECKING:
    from torch import nn

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


def load_data(spec: RunSpec, data_dir: str | Path | None = None, download: bool = False) -> Data:
    """The data of a run (every run of a grid has the same): a built-in dataset or the user's."""
    from nncmp.registry.datasets import load

    return load(spec.dataset, data_dir=data_dir, download=download, **spec.data_kwargs())


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


def check_tuned(specs: list[RunSpec], data: Data, grid: bool, baseline: str | None = None,
                defaults: bool = True) -> None:
    """What can be checked of a tuned comparison before its tuning trains anything: the tuning split is large
    enough to score on, and --baseline names one configuration whatever rates the tuning chooses. `specs`
    resolved on `data`; `grid`: --lrs auto (else --tune); `defaults`: the runs at the defaults are reported too."""
    # lazy: tuning.search imports the training machinery (torch); compare has loaded the data by now anyway
    from nncmp.tuning.search import check_split

    check_split(data, "--lrs auto" if grid else "--tune")
    if baseline is not None and defaults:
        _baseline_whatever_tuned(specs, baseline, grid)


def _baseline_whatever_tuned(specs: list[RunSpec], baseline: str, grid: bool) -> None:
    """BaselineError unless --baseline names exactly one configuration at the optimizers' defaults and no other
    whatever the tuning chooses: a name that stops before the rate matches the tuned configuration too (ambiguous
    unless the tuning happens to choose the default), and a tuned configuration is known only once the tuning
    chose it (it may choose another). So the check after the tuning (check_baseline) never refuses what this one
    let through, and a refusal never leaves a half-written folder."""
    from dataclasses import replace

    from nncmp.errors import BaselineError
    from nncmp.registry.optimizers import entry
    from nncmp.results.stats import find_config, matching

    at_default = {replace(s, lr=entry(s.optimizer).lr).config_id: s for s in specs}
    found = matching(at_default, baseline)
    if len(found) > 1:
        find_config(at_default, baseline)  # its message: ambiguous, and what it matches
    if len(found) == 1:
        spec = at_default[found[0]]
        # The tuned configuration's id: the rate differs (--lrs auto: only it, and a tuned rate equal to the default
        # is the same configuration); --tune: its other numbers are parts after these, whatever its rate.
        tuned = [replace(spec, lr=entry(spec.optimizer).lr * 10).config_id] + ([] if grid else [found[0] + "/…"])
        if found[0] != baseline and matching(tuned, baseline):
            raise BaselineError(f"--baseline {baseline!r} is ambiguous: it matches {found[0]} (the default rate) and, "
                                f"after tuning, {spec.optimizer} at its tuned rate; name the default one in full "
                                f"(--baseline {found[0]})")
        return
    raise BaselineError(f"--baseline {baseline!r} matches no configuration at the default rates (a tuned one is known "
                        f"only once the tuning chose it); choose from: {', '.join(at_default)}")


def check_backend(spec: RunSpec, backend: str) -> None:
    """The process and Ray backends import a user's model and data in each worker: an object handed over
    from Python (a class defined in a notebook) cannot travel there."""
    from nncmp.errors import SpecError
    from nncmp.registry.user import in_process_only

    for kind, ref in (("model", spec.model), ("dataset", spec.dataset)):
        if backend != "local" and in_process_only(ref):
            raise SpecError(f"--backend {backend} imports your {kind} in each worker, and {ref.split(':')[1]} "
                            "exists only in this Python process; put it in a file and pass 'file.py:NAME', or "
                            "use the local backend")


def code_records(spec: RunSpec) -> dict[str, Any]:
    """config.json's record of a user's model and data files: path and sha256 (a resume checks them)."""
    from nncmp.registry.user import code_record

    code = {kind: rec for kind, ref in (("model", spec.model), ("dataset", spec.dataset))
            if (rec := code_record(ref)) is not None}
    return {"code": code} if code else {}


def check_code(saved: dict[str, Any], allow_changed: bool, say: Say = quiet) -> None:
    """A resume with the user's model or data file changed since the comparison started is refused (its runs
    would mix two versions of the code), unless allowed."""
    from nncmp.errors import SpecError
    from nncmp.registry.user import changed

    for kind, record in (saved.get("code") or {}).items():
        why = changed(record)
        if why and not allow_changed:
            raise SpecError(f"the {kind} of this comparison: {why}; resuming would mix its runs with runs of "
                            "other code (--allow-changed-code resumes anyway)")
        if why:
            say(f"note: the {kind} of this comparison: {why}; resuming anyway (--allow-changed-code)")


def check_models(specs: list[RunSpec], data: Data, track_weights: bool = False, say: Say = quiet) -> None:
    """Each run's model builds and maps a batch of the data to the right shape, and its loss (and --metric-fn)
    computes on it, before anything trains: (batch, classes), per-token (batch, positions..., classes),
    regression (batch, outputs) or (batch,). SpecError otherwise. With --track-weights, a user's model must
    have no buffers (landscape evaluates weights alone)."""
    from nncmp.config.run import user_data, user_model

    seen = set()
    for spec in specs:
        mup = (spec.param, spec.base_width, spec.optimizer) if spec.param == "mup" else None
        key = (spec.model, spec.model_args, spec.hidden, spec.act, spec.batchnorm, spec.dropout, spec.loss,
               spec.label_smoothing, spec.metric_fn, mup)
        if key in seen:
            continue
        seen.add(key)
        if not (user_model(spec.model) or user_data(spec.dataset) or spec.loss or spec.metric_fn or data.vocab
                or data.per_token or mup):
            continue  # a built-in model on a built-in dataset, with its default loss: checked by construction
        model = _check_model(spec, data, say)
        if mup:  # μP's shapes against width (in the build) and the optimizer's rule, Adam's or SGD's
            from nncmp.training.stepping import mup_scales

            mup_scales(spec.resolved(data.n_train), model)
        if not user_model(spec.model):
            continue
        from torch import nn

        from nncmp.errors import SpecError

        if track_weights and any(True for _ in model.buffers()):
            raise SpecError(f"--track-weights: --model {spec.model} has buffers (BatchNorm's running statistics, "
                            "...), which are not weights, so nncmp landscape could not evaluate it")
        norms = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        for s in specs:
            bs = s.batch_size or data.n_train
            if norms and s.model == spec.model and bs < data.n_train and data.n_train % bs == 1:
                raise SpecError(f"--model {spec.model} has BatchNorm and batch size {bs} leaves a last batch of one "
                                f"example of the {data.n_train}, which BatchNorm cannot normalise; choose another "
                                "--batch-size")


def _check_model(spec: RunSpec, data: Data, say: Say = quiet) -> nn.Module:
    import torch

    from nncmp.errors import SpecError, UserCodeStopped
    from nncmp.registry.losses import check_on_batch, criterion, first
    from nncmp.registry.models import MODELS, TOKENS, build_model, model_is
    from nncmp.registry.user import guarded, one_line

    what = f"--model {spec.model}"
    if data.vocab and spec.model in MODELS and not model_is(spec.model, TOKENS):
        takes = [m for m in MODELS if model_is(m, TOKENS)]
        raise SpecError(f"{data.name} holds token ids (integer inputs), which the {spec.model} model cannot read; "
                        f"use {', '.join(takes)} or your own model with an nn.Embedding (pass floats if the inputs "
                        "are values)")
    try:
        model = build_model(spec, data.shape, data.n_out, data.task, data.vocab)
    except SpecError:
        raise
    except ValueError as e:  # a built-in model on data of another shape
        raise SpecError(f"{what} on {data.name}: {e}") from None
    if not any(p.requires_grad for p in model.parameters()):
        raise SpecError(f"{what}: it has no trainable parameters, so there is nothing to optimize")
    n = min(8, data.n_train)
    batch, labels = data.x_train[:n].cpu(), data.y_train[:n].cpu()
    model.eval()  # BatchNorm on a few examples: its running statistics, no update
    try:
        with guarded(what, f"its forward pass on a batch of {data.name}"):
            returned = model(batch)
    except UserCodeStopped:
        raise
    except Exception as e:  # noqa: BLE001 -- the user's forward may raise anything
        raise SpecError(f"{what}: its forward pass on a batch of {data.name} (shape "
                        f"{tuple(batch.shape)}, {str(batch.dtype).replace('torch.', '')}) raised {one_line(e)}") \
            from None
    out = first(returned)
    if not isinstance(out, torch.Tensor):
        raise SpecError(f"{what}: its forward pass returned a {type(returned).__name__} whose first item is not a "
                        "tensor (a model returns its output, or a tuple/dict whose first item is)")
    crit = criterion(data, spec.loss, spec.label_smoothing, spec.metric_fn)
    if crit.fn is None:
        if data.per_token:
            expected = (n, *labels.shape[1:], data.n_out)
            needs = f"{data.n_out} classes at each of its {'x'.join(map(str, labels.shape[1:]))} positions"
        else:
            expected = (n, data.n_out)
            needs = f"{data.n_out} {'classes' if data.task == 'classification' else 'outputs'}"
        if tuple(out.shape) != expected:
            hint = ""
            if out.ndim == 3 and not data.per_token and data.task == "classification":
                hint = "; its output is per position but the labels are one per example: pool it (the built-in " \
                       "sequence models: --model-arg pool=last)"
            elif out.ndim == 2 and data.per_token:
                hint = "; the labels are per position: return (batch, positions, classes)"
            raise SpecError(f"{what}: its output has shape {tuple(out.shape)} on a batch of {n}; {data.name} needs "
                            f"{expected} ({needs}){hint}")
    if not out.dtype.is_floating_point:
        raise SpecError(f"{what}: its output is {out.dtype}, not floating point")
    if not out.requires_grad:
        raise SpecError(f"{what}: its output does not depend on its parameters (no gradient reaches them: a "
                        ".detach(), torch.no_grad() or .item() in forward?)")
    check_on_batch(crit, returned, labels, what)
    if crit.name == "cross-entropy" and out.ndim >= 2:
        sums = out.detach().sum(-1)
        if bool((out.detach() >= 0).all()) and bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-4)):
            say(f"warning: {what} returns probabilities (each row is >= 0 and sums to 1); cross-entropy takes "
                "logits or log-probabilities, so this trains badly: drop the final softmax")
    return model


def check_runs(specs: list[RunSpec], n_train: int, tuned: bool = False, baseline: str | None = None) -> None:
    """The checks that need the data, before anything trains: each schedule fits its run's steps (on the
    holdout split too, when the rates are tuned), each library optimizer accepts its settings, and (untuned) the
    baseline names one configuration; a tuned comparison's other checks are check_tuned's. `specs` resolved on
    `n_train`."""
    from nncmp.registry.datasets import holdout_size
    from nncmp.training.stepping import check_settings

    check_settings(specs)
    check_steps(specs, n_train)
    if tuned:  # tuning runs train on a split of the training set: fewer steps
        check_steps(specs, holdout_size(n_train))
    else:
        check_baseline(specs, baseline)


def bfloat16_note(specs: list[RunSpec], device: str) -> str | None:
    """A note when torch's Muon, whose Newton–Schulz iteration casts to bfloat16, would train on a CPU that only
    emulates bfloat16 (hundreds of milliseconds a step on the course MLP): which optimizer, and the fix."""
    from nncmp.registry import optimizers as optim

    slow = sorted({s.optimizer for s in specs if (e := optim.entry(s.optimizer)).module == "torch.optim"
                   and e.torch_class == "Muon"})
    if not slow or device not in ("cpu", "auto"):
        return None
    import torch

    from nncmp.registry.muon_cpu import native_bf16

    if (device == "auto" and torch.cuda.is_available()) or native_bf16():
        return None
    return (f"{', '.join(slow)}: torch's Muon orthogonalises in bfloat16, which this CPU only emulates (no "
            "AVX512-BF16 or AMX): about 0.6 s a step on the course MLP against AdamW's 2 ms; pytorch-optimizer:muon "
            "runs the same iteration in float32 here, ten times AdamW's step (nncmp optimizers: ns-float32-cpu)")
