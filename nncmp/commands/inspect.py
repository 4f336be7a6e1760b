"""inspect: each init's network at initialisation, layer by layer (training/layers.py measures it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import check_models, load_data, pick_device, results_folder
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.results import schema, store

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class InspectRequest:
    base: RunSpec  # the network (an mlp), the dataset and the seed
    inits: tuple[str, ...] = ("xavier-normal", "he-normal", "default")
    batch_size: int = 256  # examples passed forward and backward
    device: str = "auto"
    plot: bool = True
    out: Path | None = None
    overwrite: bool = False
    data_dir: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise SpecError(f"--batch-size must be >= 2 (statistics over a batch), got {self.batch_size}")
        names = [RunSpec(init=i).init for i in self.inits]
        if len(set(names)) != len(names):
            raise SpecError(f"--inits lists an init more than once: {','.join(self.inits)}")
        object.__setattr__(self, "inits", tuple(names))


@dataclass
class InspectResult:
    folder: Path
    layers: pd.DataFrame  # layers.csv: one row per init × layer × statistic
    per_init: dict[str, list[dict[str, Any]]]  # init → one dict of statistics per layer
    title: str  # the network, as the figures name it
    dataset: str
    files: list[str] = field(default_factory=list)


def network_title(spec: RunSpec) -> str:
    """The network as inspect's tables and figures name it."""
    from nncmp.registry.models import HAS, MODELS
    from nncmp.registry.user import split_ref

    if spec.model not in MODELS:
        args = ", ".join(f"{k}={v}" for k, v in spec.model_args)
        return f"{split_ref(spec.model)[1]}({args})"
    if "hidden" not in HAS[spec.model]:  # no hidden layers of --hidden widths to describe
        return f"{spec.model}, {spec.act}"
    # Widths from the input to the output (256,128 is 256 then 128), once if they are all the same.
    widths = spec.hidden[:1] if len(set(spec.hidden)) == 1 else spec.hidden
    layers = "hidden layer" if len(spec.hidden) == 1 else "hidden layers"
    shape = f"{len(spec.hidden)} {layers} of {', '.join(map(str, widths))}"
    return f"{spec.act}{' + batchnorm' if spec.batchnorm else ''}, {shape}"


def inspect(request: InspectRequest) -> InspectResult:
    import pandas as pd

    from nncmp.training import layers
    from nncmp.training.devices import on_device

    base = request.base
    device = pick_device(request.device)
    data = on_device(load_data(base, request.data_dir, request.download), device)
    check_models([base], data)
    with results_folder(request.out, "inspect", overwrite=request.overwrite) as folder:
        per_init, samples = layers.inspect_inits(base, list(request.inits), data, request.batch_size, device)
        frame = pd.DataFrame([row for init, stats in per_init.items() for row in layers.tidy(stats, init=init)])
        store.write_config(folder, "inspect", {"base": base.to_dict(), "inits": list(request.inits),
                                               "batch_size": request.batch_size, "device": device})
        store.write_csv(folder / schema.LAYERS, frame)
        title = network_title(base)
        files = [schema.LAYERS]
        if request.plot:
            from nncmp.output.plots import activation_histograms, layer_profile

            layer_profile(frame, folder / "layers_std.png", title)
            activation_histograms(samples, folder / "layers_hist.png", title)
            files += ["layers_std.png", "layers_hist.png"]
    return InspectResult(folder, frame, per_init, title, data.name, files)
