"""The landscape figures' looks: read from the config ids, by the rule of every nncmp figure."""

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from nncmp.explore.landscape_plots import interpolation_figure, landscape_figure
from nncmp.output import style

CONFIGS = ["adam/he-normal/lr=0.001/bs=64", "adam/xavier-normal/lr=0.001/bs=64", "lion/he-normal/lr=0.0001/bs=64",
           "lion/he-normal/lr=0.001/bs=64"]


def _lines(ax) -> dict[str, tuple[str, object, object]]:
    return {line.get_label(): (to_hex(line.get_color()), line.get_linestyle(), line.get_marker())
            for line in ax.get_lines() if line.get_label() in CONFIGS}


def _check(looks: dict[str, tuple[str, object, object]]) -> None:
    assert set(looks) == set(CONFIGS) and len(set(looks.values())) == len(CONFIGS)
    for config, (colour, _, _) in looks.items():
        assert colour == style.colour(config.split("/")[0])
    assert looks[CONFIGS[0]][1] != looks[CONFIGS[1]][1]  # two inits of adam: two line styles
    assert looks[CONFIGS[2]][1] == looks[CONFIGS[3]][1]  # lion's two rates: one init, one style...
    assert looks[CONFIGS[2]][2] != looks[CONFIGS[3]][2]  # ... and two markers


def test_landscape_and_interpolation_lines_take_the_look_of_their_configuration(tmp_path):
    a, b = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    surface = pd.DataFrame({"panel": "p", "a": a.ravel(), "b": b.ravel(), "loss": 1 + a.ravel() ** 2 + b.ravel() ** 2})
    trajectories = pd.DataFrame([{"panel": "p", "config": c, "a": t * k / 4, "b": t * (k - 2) / 4}
                                 for k, c in enumerate(CONFIGS) for t in (0.0, 0.5, 1.0)])
    fig = landscape_figure(surface, trajectories, {"p": ("PC1", "PC2")}, tmp_path / "l.png", "t")
    _check(_lines(fig.axes[0]))
    interpolation = pd.DataFrame([{"config": c, "alpha": x, "loss": 1 + k + x} for k, c in enumerate(CONFIGS)
                                  for x in np.linspace(-0.2, 1.2, 8)])
    _check(_lines(interpolation_figure(interpolation, tmp_path / "i.png").axes[0]))
