"""inspect: each init's network at initialisation, layer by layer (training/layers.py measures it); with a
CoordCheck, the coordinate check instead: every layer's mean |activation| over the first steps against width,
under each parametrisation (explore/coord.py measures it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nncmp.commands.common import check_models, load_data, pick_device, results_folder
from nncmp.config.grid import DEFAULT_SEEDS, Grid
from nncmp.config.run import RunSpec
from nncmp.errors import SpecError
from nncmp.results import schema, store

if TYPE_CHECKING:
    import pandas as pd

    from nncmp.registry.datasets import Data

DEFAULT_COORD_STEPS = 5  # mup's coordinate checks look at the first few steps: where sp's growth shows first


@dataclass(frozen=True)
class CoordCheck:
    """--coord-check: the runs of every parametrisation × width × seed, the base run's optimizer, rate and init,
    trained `steps` steps each."""

    widths: tuple[int, ...] = ()
    params: tuple[str, ...] = ("sp", "mup")
    seeds: int = DEFAULT_SEEDS
    steps: int = DEFAULT_COORD_STEPS

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise SpecError(f"--coord-steps must be >= 1, got {self.steps}")
        if self.seeds < 1:
            raise SpecError(f"--seeds must be >= 1, got {self.seeds}")
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "params", tuple(self.params))

    def grid(self, base: RunSpec) -> Grid:
        """The runs as compare's --widths and --params make them (Grid's checks: two widths or more, each once,
        a model with a width, μP's base at the smallest width)."""
        if len(self.widths) < 2:
            raise SpecError("--coord-check needs --widths with two widths or more (e.g. --widths 64,128,256)")
        if min(self.widths) < 1:  # before Grid, whose first complaint would be μP's base width (the smallest)
            raise SpecError(f"--widths must be >= 1, got {','.join(map(str, self.widths))}")
        return Grid(base, {"width": self.widths, "param": self.params}, self.seeds)


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
    coord: CoordCheck | None = None  # the coordinate check instead of the layers at initialisation

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise SpecError(f"--batch-size must be >= 2 (statistics over a batch), got {self.batch_size}")
        names = [RunSpec(init=i).init for i in self.inits]
        if len(set(names)) != len(names):
            raise SpecError(f"--inits lists an init more than once: {','.join(self.inits)}")
        object.__setattr__(self, "inits", tuple(names))
        if self.coord is not None:
            if len(names) != 1:
                raise SpecError(f"--coord-check trains from one init; --inits gives {len(names)}")
            # The runs' own batch size is the batch inspect passes forward; every run is checked now.
            object.__setattr__(self, "base", replace(self.base, init=names[0], batch_size=self.batch_size))
            self.coord.grid(self.base)


@dataclass
class InspectResult:
    folder: Path
    layers: pd.DataFrame  # layers.csv: one row per init × layer × statistic
    per_init: dict[str, list[dict[str, Any]]]  # init → one dict of statistics per layer
    title: str  # the network, as the figures name it
    dataset: str
    files: list[str] = field(default_factory=list)
    coord: pd.DataFrame | None = None  # --coord-check: coord.csv, one row per param × width × seed × step × layer
    growth: pd.DataFrame | None = None  # --coord-check: each layer's change from the smallest to the largest width
    verdict: list[str] = field(default_factory=list)  # --coord-check: one line per parametrisation


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


def coord_network(spec: RunSpec) -> str:
    """The network of a coordinate check, without the width its runs vary."""
    from nncmp.registry.models import HAS, MODELS
    from nncmp.registry.user import split_ref

    if spec.model not in MODELS:
        return split_ref(spec.model)[1]
    if "hidden" not in HAS[spec.model]:
        return spec.model
    layers = "hidden layer" if len(spec.hidden) == 1 else "hidden layers"
    return f"{spec.act} mlp, {len(spec.hidden)} {layers}"


def inspect(request: InspectRequest) -> InspectResult:
    import pandas as pd  # lazy: the command line's --help reads this module

    from nncmp.training import layers
    from nncmp.training.devices import on_device

    base = request.base
    device = pick_device(request.device)
    data = on_device(load_data(base, request.data_dir, request.download), device)
    if request.coord is not None:
        return coord_check(request, request.coord, data, device)
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


def coord_check(request: InspectRequest, coord: CoordCheck, data: Data, device: str) -> InspectResult:
    """The coordinate check into its folder: coord.csv, coord.png, and the verdict per parametrisation."""
    import pandas as pd  # lazy: the command line's --help reads this module

    from nncmp.explore import coord as measure  # lazy: torch, through the single-run engine
    from nncmp.training.stepping import check_settings  # lazy: torch

    grid = coord.grid(request.base)
    runs = grid.runs()
    check_models(runs, data)
    check_settings(runs)
    with results_folder(request.out, "inspect", overwrite=request.overwrite) as folder:
        frame = measure.coord_table([s.resolved(data.n_train) for s in runs], data, coord.steps, device)
        growth = measure.growth(frame)
        store.write_config(folder, "inspect", {
            "base": grid.base.to_dict(), "coord_check": {"widths": list(coord.widths), "params": list(coord.params),
                                                         "seeds": coord.seeds, "steps": coord.steps},
            "batch_size": request.batch_size, "device": device})
        store.write_csv(folder / schema.COORD, frame)
        files = [schema.COORD]
        resolved = grid.base.resolved(data.n_train)
        widths = f"widths {min(coord.widths)} to {max(coord.widths)}"
        title = (f"coordinate check: {data.name}, {coord_network(grid.base)} at {widths}, {resolved.optimizer} "
                 f"lr {resolved.lr:g}, batch {resolved.batch_size}, {coord.seeds} seed{'s' if coord.seeds > 1 else ''}")
        if request.plot:
            from nncmp.explore.coord_plots import coord_figure  # lazy: matplotlib

            coord_figure(frame, folder / schema.COORD_PNG, title)
            files.append(schema.COORD_PNG)
    return InspectResult(folder, pd.DataFrame(), {}, title, data.name, files, frame, growth, measure.verdict(growth))
