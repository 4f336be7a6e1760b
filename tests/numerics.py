"""How far two float32 computations of the same training run may drift apart: the one place every
equivalence test takes its tolerance from.

Same machine, same torch thread count, same group size: nncmp is deterministic, and records are
byte-identical (tests compare those exactly). Everything else — a run trained alone or stacked with
others (batched instead of plain matrix products), another thread count (BLAS splits its sums at other
places), another backend (workers get other thread counts), another CPU (other BLAS blocking) — does
the same arithmetic with its sums in another order. Float32 rounds every partial sum, so the results
differ by rounding, and by rounding only. How much:

1. One sum. A float32 sum (dot product) of d terms carries a relative error of at most γ_d ≈ d·u in the
   worst case, u = 2⁻²⁴ the unit roundoff (Higham, Accuracy and Stability of Numerical Algorithms, 2002,
   §3.1). Rounding errors behave as independent random variables, which bounds it by λ·√d·u with
   probability at least 1 − 2d·exp(−λ²/2) (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019). λ = 6 makes
   that 1 − 3·10⁻⁵ for d = 784. Two orders of the same sum: at most twice that apart.
2. One step. Every number of a training step (activations, logits, gradients, the update) comes out of
   such sums, of length at most d = max(fan-in, batch size): one step differs by ε = 2·λ·√d·u.
3. S steps. An error of one step is carried into the weights of the next. While training is stable (a
   step does not magnify a small perturbation of the weights), the errors of S steps add up to S·ε:

       rtol(S, d) = S · 2λ√d · u

   The losses nncmp records are means of positive per-example losses, so they inherit that relative error.
4. Optimizers that normalise each coordinate (Adam, AdamW, RMSProp) take near-unit steps whatever the
   gradient's size, so a coordinate whose gradient sum cancels to within rounding of zero can step
   either way. Their step is at most lr·(1−β₁)/√(1−β₂) where plain SGD's would be lr·|g| (Kingma & Ba,
   2015, §2.1; RMSProp: β₁ = 0, β₂ = α), so their tolerance is that factor larger: 3.2 for Adam's
   defaults, 10 for RMSProp's. Adagrad's step never exceeds lr (its denominator includes the current
   gradient): factor 1.
5. Accuracy counts examples. An example changes class only when its logit margin lies within rounding
   of zero: accuracies may differ by one example, plus the fraction rtol of them.

Nothing here comes from what one CPU printed: a test that fails these bounds has found a difference that
is not rounding. Where training magnifies perturbations without bound (a diverging run, a far too high
learning rate) no rounding bound holds, and no test relies on one there.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

U = 2.0**-24  # float32 unit roundoff
LAMBDA = 6.0  # probabilistic rounding bound, step 1 above
# Torch thread counts every equivalence test runs at: 1 (no split sums at all) and 3 (an odd split no
# common core count gives), so two BLAS blockings are exercised on every machine.
THREADS = (1, 3)
METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


def steps_of(n_train: int, batch_size: int, epochs: int) -> int:
    return epochs * math.ceil(n_train / batch_size)


def rtol(steps: int, width: int) -> float:
    """Relative tolerance after `steps` steps whose longest sum has `width` terms (step 3 above)."""
    return max(steps, 1) * 2 * LAMBDA * math.sqrt(width) * U


def acc_tol(n_examples: int, relative: float) -> float:
    """Accuracy tolerance (step 4 above)."""
    return 1 / n_examples + relative


def amplification(spec) -> float:
    """Step 4 above, for a resolved RunSpec."""
    from nncmp.registry.optimizers import OPTIMIZERS

    if spec.optimizer not in OPTIMIZERS:  # a library's: bounded like Adam where it has betas, else like SGD
        betas = spec.betas
        torch_class = "Adam" if betas is not None and len(betas) == 2 and max(betas) < 1 else "SGD"
    else:
        torch_class = OPTIMIZERS[spec.optimizer].torch_class
    if torch_class in ("Adam", "AdamW"):
        b1, b2 = spec.betas
        return max(1.0, (1 - b1) / math.sqrt(1 - b2))
    if torch_class == "RMSprop":
        return 1 / math.sqrt(1 - spec.alpha)
    return 1.0


def spec_rtol(spec, n_train: int, features: int) -> float:
    """rtol for a resolved RunSpec of an MLP trained on `features` inputs."""
    width = max([features, *spec.hidden, spec.batch_size])
    return amplification(spec) * rtol(steps_of(n_train, spec.batch_size, spec.epochs), width)


def close(a: float | None, b: float | None, relative: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if not (math.isfinite(a) and math.isfinite(b)):
        return not math.isfinite(a) and not math.isfinite(b)
    return abs(a - b) <= relative * max(abs(a), abs(b)) + U


def assert_same_records(expected: list[dict], got: list[dict], relative: float, n_val: int, n_train: int) -> float:
    """Same epochs, outcome and counts; metrics within rounding. Returns the largest relative loss gap."""
    assert [r["epoch"] for r in got] == [r["epoch"] for r in expected]
    worst = 0.0
    for a, b in zip(expected, got):
        assert b["status"] == a["status"] and b["run_id"] == a["run_id"] and b["examples"] == a["examples"]
        assert b["diverged_step"] == a["diverged_step"]
        for col in METRICS:
            x, y = a[col], b[col]
            if "acc" in col:
                n = n_val if col == "val_acc" else n_train
                assert (x is None and y is None) or abs(x - y) <= acc_tol(n, relative), (col, a["epoch"], x, y)
            else:
                assert close(x, y, relative), (col, a["epoch"], x, y, relative)
                if x is not None and math.isfinite(x) and x != 0:
                    worst = max(worst, abs(x - y) / abs(x))
    return worst


@contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def row_rtol(row: dict, n_train: int, features: int, hidden: tuple[int, ...] = (256, 128)) -> float:
    """rtol for one row of metrics.csv or layers.csv (its run's optimizer, batch size and epoch)."""
    from nncmp.config.run import RunSpec

    spec = RunSpec(optimizer=row["optimizer"], batch_size=int(row["batch_size"]), hidden=hidden,
                   epochs=max(int(row["epoch"]), 1)).resolved(n_train)
    return spec_rtol(spec, n_train, features)


def assert_frames_close(expected, got, n_train: int, n_val: int, features: int,
                        hidden: tuple[int, ...] = (256, 128)) -> float:
    """Two metrics.csv frames of the same runs: identical apart from the metrics (and time), and those
    within rounding row by row. Returns the largest relative loss gap."""
    keys = [c for c in expected.columns if c not in (*METRICS, "seconds")]
    assert expected[keys].equals(got[keys])
    worst = 0.0
    for a, b in zip(expected.to_dict("records"), got.to_dict("records")):
        relative = row_rtol(a, n_train, features, hidden)
        for col in METRICS:
            x, y = a[col], b[col]
            if "acc" in col:
                n = n_val if col == "val_acc" else n_train
                assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= acc_tol(n, relative), (a["run_id"], col)
            else:
                assert close(x, y, relative), (a["run_id"], a["epoch"], col, x, y, relative)
                worst = max(worst, abs(x - y) / abs(x) if x else 0.0)
    return worst


def assert_layers_close(expected, got, n_train: int, features: int, hidden: tuple[int, ...]) -> None:
    """Two layers.csv frames of the same runs (--track-layers): the statistics within their run's rounding
    bound. A mean can sit near zero, so each is measured against the scale of its kind (act_, grad_,
    weight_) in the same layer; a dead or saturated fraction may differ by one unit of the layer."""
    import re

    keys = [c for c in expected.columns if c != "value"]
    assert expected[keys].equals(got[keys])
    frame = expected.assign(other=got["value"].to_numpy(), kind=expected["statistic"].str.split("_").str[0])
    scale = frame.groupby(["run_id", "epoch", "layer", "kind"])["value"].transform(lambda v: v.abs().max())
    for row, s in zip(frame.to_dict("records"), scale):
        batch = int(re.search(r"/bs=(\d+)", row["config"]).group(1))
        relative = row_rtol({**row, "batch_size": batch}, n_train, features, hidden)
        x, y = row["value"], row["other"]
        if row["statistic"] in ("dead", "saturated"):
            assert abs(x - y) <= 1 / min(hidden) + relative, row
        else:
            assert abs(x - y) <= relative * max(abs(x), abs(y), s) + U, (row, y, relative)
