"""Figures in a notebook, as a person sees them: nncmp never switches the user's matplotlib backend nor keeps
pyplot state, and `Comparison.plot()` shows as an image when it is a cell's value, with or without pyplot.

The slow tests execute real notebooks in a Jupyter kernel (nbclient) and read what each cell displayed."""

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tests.conftest import PNG_MAGIC

# A tiny comparison's data as compare writes it: two optimizers × two inits, three epochs (enough for every
# nncmp figure of a folder; the numbers do not matter here).
SYNTHETIC = textwrap.dedent("""
    import pandas as pd

    configs = [(o, i) for o in ("adam", "minibatch") for i in ("he-normal", "xavier-normal")]
    metrics = pd.DataFrame([{"config": f"{o}/{i}", "optimizer": o, "init": i, "seed": s, "epoch": e, "status": "ok",
                             "step": 10 * e, "examples": 640 * e, "seconds": 0.1 * e, "train_loss": 2.0 / (e + 1 + s),
                             "val_loss": 2.1 / (e + 1), "val_acc": 0.1 + 0.25 * e}
                            for o, i in configs for s in (0, 1) for e in range(4)])
    summary = pd.DataFrame([{"rank": k + 1, "config": f"{o}/{i}", "optimizer": o, "init": i, "lr": 0.01,
                             "batch_size": 64, "status": "ok", "final_val_acc_mean": 0.85 - 0.1 * k,
                             "final_val_acc_ci95": 0.02} for k, (o, i) in enumerate(configs)])
""")


def _synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    space: dict = {}
    exec(SYNTHETIC, space)
    return space["metrics"], space["summary"]


def test_nncmp_figures_leave_the_backend_and_pyplots_figures_alone(tmp_path, monkeypatch):
    """A user's pyplot session around nncmp's figures: the same backend, the same figure list, the same
    current figure; matplotlib.use and pyplot.switch_backend never called."""
    import matplotlib
    import matplotlib.pyplot as plt

    from nncmp.explore import path_plots
    from nncmp.explore.paths import function
    from nncmp.output import plots

    backend = matplotlib.get_backend()
    mine = plt.figure()
    before = plt.get_fignums()
    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(("use", a)))
    monkeypatch.setattr(plt, "switch_backend", lambda *a, **k: calls.append(("switch_backend", a)))
    metrics, summary = _synthetic()
    written = plots.write_plots(metrics, summary, tmp_path)
    walks = pd.DataFrame([{"optimizer": o, "lr": 0.1, "step": k, "x": -4 + k * d, "y": 1 - k * d / 4, "loss": 1.0}
                          for o, d in (("gd", 0.5), ("adam", 0.4)) for k in range(9)])
    table = pd.DataFrame([{"optimizer": o, "lr": 0.1, "tuned": False, "final_loss": 1.0} for o in ("gd", "adam")])
    path_plots.paths_figure(function("quadratic"), walks, table, tmp_path / "paths.png")
    assert [p.name for p in written] == ["curves_epochs.png", "final_val_acc.png"]
    assert all((tmp_path / n).read_bytes()[:8] == PNG_MAGIC for n in ("curves_epochs.png", "paths.png"))
    assert not calls
    assert plt.get_fignums() == before and plt.gcf() is mine
    assert matplotlib.get_backend() == backend
    plt.close(mine)


def test_plotting_never_imports_pyplot(tmp_path):
    """In a fresh interpreter: nncmp draws and saves its figures, and pyplot is still not imported (so it
    cannot have picked a backend or kept a figure)."""
    script = SYNTHETIC + textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from nncmp.output import plots

        plots.write_plots(metrics, summary, Path({str(tmp_path)!r}))
        assert "matplotlib.pyplot" not in sys.modules, "nncmp imported pyplot"
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert (tmp_path / "curves_epochs.png").read_bytes()[:8] == PNG_MAGIC


def test_a_figure_shows_in_a_notebook_as_the_png_it_was_saved_as(tmp_path):
    """IPython's display protocol: without pyplot's formatter the notebook calls _repr_png_, which renders the
    figure as save() wrote it (same dpi, same bytes)."""
    from nncmp.output import figure, plots

    metrics, summary = _synthetic()
    fig = plots.curves(metrics, summary, tmp_path / "c.png")
    assert isinstance(fig, figure.ShownFigure)
    assert fig._repr_png_() == (tmp_path / "c.png").read_bytes()
    empty, _ = figure.new((2, 2))
    empty.delaxes(empty.axes[0])
    assert empty._repr_png_() is None  # as IPython's own formatter: no blank image


def _run(tmp_path, monkeypatch, cells: list[str]) -> list[list[dict]]:
    """Execute the cells in a fresh Jupyter kernel (as tests/test_api.py runs the quickstart); each cell's
    outputs. Without MPLBACKEND, as Jupyter starts a kernel: it then picks the inline backend itself."""
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells]
    errors = [o for out in outputs for o in out if o.get("output_type") == "error"]
    assert not errors, "\n".join("\n".join(e.get("traceback", [])) for e in errors)
    return outputs


def _images(outputs: list[dict], kind: str | None = None) -> list[dict]:
    return [o for o in outputs if "image/png" in o.get("data", {}) and (kind is None or o["output_type"] == kind)]


def _text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


COMPARE = ("import nncmp\n"
           "result = nncmp.compare(dataset='digits', epochs=1, opts=['minibatch', 'adam'], inits=['he'], seeds=1,\n"
           "                       progress=False, out='run')")


@pytest.mark.slow
def test_a_notebook_that_imports_pyplot_first_still_plots_after_nncmp(tmp_path, monkeypatch):
    cells = ["import matplotlib\nimport matplotlib.pyplot as plt\nprint(matplotlib.get_backend())",
             "plt.plot([1, 2, 3])\nplt.title('before nncmp');",
             COMPARE,
             "result.plot()",
             "result.plot('final')",
             "plt.plot([3, 2, 1])\nplt.title('after nncmp');",
             "print(matplotlib.get_backend())\nprint(plt.get_fignums())"]
    out = _run(tmp_path, monkeypatch, cells)
    before, after = _text(out[0]).strip(), _text(out[6]).splitlines()[0]
    assert before == after and "inline" in before  # the kernel's inline backend, untouched by nncmp
    assert len(_images(out[1])) == 1 and len(_images(out[5])) == 1  # the user's own plots, before and after
    for cell in (out[3], out[4]):  # the cell's value shows as one image, and only as that
        assert len(_images(cell, "execute_result")) == 1 and len(_images(cell)) == 1
    assert _text(out[6]).splitlines()[1] == "[]"  # nncmp left no figure in pyplot's list
    assert (tmp_path / "run" / "curves_epochs.png").is_file()


@pytest.mark.slow
def test_a_notebook_without_pyplot_shows_the_figure_too(tmp_path, monkeypatch):
    """No pyplot, no %matplotlib: IPython has no image formatter for Figure, and the figure shows through
    its _repr_png_ (the cell below proves the formatter was absent)."""
    cells = [COMPARE,
             "result.plot()",
             "import sys\n"
             "from IPython import get_ipython\n"
             "from matplotlib.figure import Figure\n"
             "print('matplotlib.pyplot' in sys.modules)\n"
             "try:\n"
             "    get_ipython().display_formatter.formatters['image/png'].lookup_by_type(Figure)\n"
             "    print('formatter')\n"
             "except KeyError:\n"
             "    print('no formatter')"]
    out = _run(tmp_path, monkeypatch, cells)
    assert len(_images(out[1], "execute_result")) == 1
    assert _text(out[2]).split() == ["False", "no", "formatter"]


def test_comparison_plot_returns_a_figure_a_notebook_shows(compared):
    import nncmp
    from nncmp.errors import SpecError
    from nncmp.output.figure import ShownFigure

    result = nncmp.load(compared[0])
    for kind in ("curves", "final"):
        fig = result.plot(kind)
        assert isinstance(fig, ShownFigure) and fig._repr_png_()[:8] == PNG_MAGIC
    with pytest.raises(SpecError, match="plot x must be one of"):
        result.plot(x="minutes")
