"""TensorBoard: one TensorBoard run per nncmp run, named by its run id (LOGDIR/<run id>/).

Scalars per epoch (step = epoch): train_loss, train_acc, val_loss, val_acc, lr (the rate in force at the
epoch's end); the same under by_examples/ with step = examples seen, so optimizers with different batch
sizes line up; and the run's hyperparameters with its final metrics in the HParams view. `tensorboard` is
an optional extra (nncmp[tensorboard]); without it the flags are bad input that says how to install it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

SCALARS = ("train_loss", "train_acc", "val_loss", "val_acc")
HPARAMS = ("optimizer", "init", "act", "norm", "lr", "batch_size", "seed", "schedule", "opt_args", "dataset",
           "model")


def check_installed() -> None:
    """SpecError (exit 2) saying how to install tensorboard, if it is not."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise SpecError("--tensorboard needs the tensorboard package: pip install 'nncmp[tensorboard]' "
                        "(in this project: .venv/bin/pip install tensorboard)")


def run_dir(logdir: Path, run_id: str) -> Path:
    return Path(logdir) / run_id


def _finite(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def write_run(logdir: Path, records: list[dict[str, Any]]) -> Path:
    """One run's records as a TensorBoard run (its old event files replaced)."""
    from torch.utils.tensorboard import SummaryWriter

    folder = run_dir(logdir, records[0]["run_id"])
    if folder.is_dir():
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for r in records:
            epoch, examples = int(r["epoch"]), int(r["examples"])
            for name in SCALARS:
                if _finite(r[name]):
                    writer.add_scalar(name, float(r[name]), global_step=epoch)
                    writer.add_scalar(f"by_examples/{name}", float(r[name]), global_step=examples)
            if _finite(r.get("lr_end")):
                writer.add_scalar("lr", float(r["lr_end"]), global_step=epoch)
        last = records[-1]
        hparams = {k: (last[k] if isinstance(last[k], (int, float, str, bool)) else str(last[k]))
                   for k in HPARAMS if k in last and _finite(last[k])}
        finals = {f"final/{k}": float(last[k]) for k in SCALARS if _finite(last[k])}
        # run_name=".": the HParams entry goes into the run's own folder, not a timestamped sub-run.
        writer.add_hparams(hparams, finals, run_name=".")
    finally:
        writer.close()
    return folder


def export(metrics: pd.DataFrame, logdir: Path) -> list[Path]:
    """Every run of a metrics table (metrics.csv) into LOGDIR."""
    folders = []
    for _, rows in metrics.sort_values(["run_id", "epoch"], kind="stable").groupby("run_id", sort=False):
        records = rows.to_dict("records")
        for r in records:
            r["opt_args"] = r.get("opt_args") or ""
        folders.append(write_run(logdir, records))
    return folders
