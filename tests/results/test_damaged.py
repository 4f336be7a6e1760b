"""A damaged results file is never taken as truth: metrics.csv, runs.csv, tuning.csv, budget.csv,
tuning_metrics.csv and a suite's times.csv cut at many points (about every 7% of their bytes, in a line and at a
line's end) or with a value replaced by text. `report` refuses (exit 2, one line) or shows only whole runs with a
warning naming the lines; a resume drops what is damaged, trains it again, and ends equal to an uninterrupted run.
Each reference is made once per module; the comparisons are tiny (digits, --hidden 8, 1–2 epochs)."""

import json
import shutil

import pandas as pd
import pytest

from nncmp.results import checked
from tests.conftest import run_cli, without_time

# --group-size 1: a run trained again alone gives the same bytes as in the reference (tests/numerics.py).
COMPARE = ["compare", "--dataset", "digits", "--hidden", "8", "--epochs", "2", "--seeds", "1", "--opts", "sgd,adam",
           "--inits", "he,xavier", "--group-size", "1", "--no-plot", "--quiet"]
AUTO = ["compare", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--seeds", "1", "--opts", "sgd,adam",
        "--inits", "he", "--lrs", "auto", "--group-size", "1", "--no-plot", "--quiet"]
TUNE = ["compare", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--seeds", "1", "--opts", "adam",
        "--inits", "he", "--tune", "halton", "--trials", "3", "--group-size", "1", "--no-plot", "--quiet"]


def made(tmp_path_factory, args):
    out = tmp_path_factory.mktemp("reference") / "run"
    code, text, _ = run_cli(*args, "--out", out)
    assert code == 0, text
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return made(tmp_path_factory, COMPARE)


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    return made(tmp_path_factory, AUTO)


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    return made(tmp_path_factory, TUNE)


def points(path) -> list[int]:
    """Where to cut a file: every 1/14 of its bytes, in its last line, and at the end of the line before it."""
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    return sorted({len(data) * k // 14 for k in range(1, 14)} | {last + (len(data) - last) // 2, last})


def copy(reference, to):
    shutil.copytree(reference, to)
    return to


def cut(path, at: int) -> None:
    path.write_bytes(path.read_bytes()[:at])


def replaced(path, line: int, column: str, value: str) -> None:
    """The value of `column` in line `line` (1: the header) of a CSV replaced by `value`."""
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields) + "\n"
    path.write_text("".join(lines))


def whole_runs(path, at: int) -> set[str]:
    """The runs of a metrics file all of whose rows lie before byte `at`."""
    data = path.read_bytes()
    ends: dict[str, int] = {}
    offset = data.index(b"\n") + 1
    for line in data[offset:].splitlines(keepends=True):
        offset += len(line)
        ends[line.split(b",")[0].decode()] = offset
    return {run for run, end in ends.items() if end <= at}


def summary_rows(text: str) -> dict[str, dict]:
    return {r["config"]: {k: v for k, v in r.items() if k != "rank"} for r in json.loads(text)["summary"]}


def resumed_equal(folder, reference, *args):
    """Resume (`args`: another command line than nncmp resume) and check it equals the uninterrupted run."""
    code, text, _ = run_cli(*(args or ("resume",)), folder)
    assert code == 0, text
    assert without_time(folder) == without_time(reference)
    columns = ["run", "run_id", "status"]
    assert pd.read_csv(folder / "runs.csv")[columns].equals(pd.read_csv(reference / "runs.csv")[columns])
    records, said = checked.run_records(folder)  # every finished run's record is what is on disk
    assert not said and records == checked.written(folder / "metrics.csv")
    return text


def test_a_cut_metrics_csv_is_resumed_to_the_uninterrupted_runs_numbers(clean, tmp_path):
    """The reproduced fault: cut in its last line, report showed the half-written row and resume kept it."""
    metrics = clean / "metrics.csv"
    at = points(metrics)[-1]  # in the last line
    folder = copy(clean, tmp_path / "cut")
    cut(folder / "metrics.csv", at)
    code, _, result = run_cli("report", folder, "--format", "json", "--no-plot")
    assert code == 0 and f"warning: {folder / 'metrics.csv'} line 13: cut short" in result.stderr
    assert set(summary_rows(result.stdout)) == {r.rsplit("/seed=", 1)[0] for r in whole_runs(metrics, at)}
    assert run_cli("report", folder)[0] == 0 and not list(folder.glob("*.png"))  # no figure of a part
    text = resumed_equal(folder, clean)
    said = " ".join(text.split())  # the console wraps long lines
    assert "line 13: cut short" in said and "1 run(s) dropped from it, to train again" in said
    assert "resuming: 3 of 4 training runs already finished" in said


@pytest.mark.slow
def test_metrics_csv_cut_anywhere_report_shows_only_whole_runs_and_resume_equals_the_reference(clean, tmp_path):
    metrics = clean / "metrics.csv"
    reference = summary_rows(run_cli("report", clean, "--format", "json", "--no-plot")[2].stdout)
    for i, at in enumerate(points(metrics)):
        folder = copy(clean, tmp_path / f"cut{i}")
        cut(folder / "metrics.csv", at)
        kept = whole_runs(metrics, at)
        code, _, result = run_cli("report", folder, "--format", "json", "--no-plot")
        if not kept:
            assert code == 2 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, at
            assert "no run in it is whole" in result.stderr
        else:
            assert code == 0 and result.stderr.startswith(f"warning: {folder / 'metrics.csv'}"), at
            rows = summary_rows(result.stdout)  # exactly the whole runs, each with the reference's numbers
            assert rows == {c: reference[c] for c in {r.rsplit("/seed=", 1)[0] for r in kept}}, at
        resumed_equal(folder, clean, *(COMPARE + ["--resume"] if i % 2 else ["resume"]))


@pytest.mark.parametrize("column", ["val_loss", "epoch", "status", "lr", "seed", "run_id", "config", "examples"])
def test_a_value_replaced_by_text_in_metrics_csv_is_named_and_its_run_trained_again(clean, tmp_path, column):
    folder = copy(clean, tmp_path / "text")
    replaced(folder / "metrics.csv", 6, column, "abc")  # the second run's epoch 1
    code, _, result = run_cli("report", folder, "--no-plot")
    assert code == 0 and result.stderr.startswith(f"warning: {folder / 'metrics.csv'} line ")
    assert "1 run(s) missing from this report" in result.stderr or "2 run(s) missing" in result.stderr
    resumed_equal(folder, clean)


def test_a_number_replaced_by_another_is_found_by_the_runs_checksum(clean, tmp_path):
    folder = copy(clean, tmp_path / "number")
    replaced(folder / "metrics.csv", 6, "val_acc", "0.99")
    code, _, result = run_cli("report", folder, "--no-plot")
    assert code == 0 and "line 5: its rows are not as written" in result.stderr
    resumed_equal(folder, clean)


@pytest.mark.slow
def test_runs_csv_cut_anywhere_is_named_and_resume_equals_the_reference(clean, tmp_path):
    """runs.csv holds each run's completion record: a run whose record is lost is checked by its rows alone in
    report, and trained again by a resume (it is not known to be finished)."""
    for i, at in enumerate(points(clean / "runs.csv")):
        folder = copy(clean, tmp_path / f"cut{i}")
        cut(folder / "runs.csv", at)
        code, _, result = run_cli("report", folder, "--no-plot")
        assert code == 0 and "Traceback" not in result.output, at
        if not (folder / "runs.csv").read_text().endswith("\n"):
            assert f"warning: {folder / 'runs.csv'}" in result.stderr, at
        resumed_equal(folder, clean)


@pytest.mark.slow
def test_tuning_csv_damaged_is_refused_by_report_and_made_again_from_the_trials(auto, tmp_path, monkeypatch):
    """Cut, rows deleted, values replaced by text: report refuses in one line; a resume makes tuning.csv and
    tuning.json again from tuning_metrics.csv, byte for byte, training nothing."""
    from nncmp.training import execute

    monkeypatch.setattr(execute, "run_group", lambda *a, **k: pytest.fail("a finished run trained again"))
    lines = (auto / "tuning.csv").read_text().splitlines(keepends=True)
    damages = [lambda p, at=at: cut(p, at) for at in points(auto / "tuning.csv")]
    damages += [lambda p: p.write_text("".join(lines[:3] + lines[4:])),  # a trial deleted
                lambda p: p.write_text("".join(r for r in lines if ",True,True," not in r)),  # the chosen ones
                *(lambda p, c=c: replaced(p, 5, c, "abc") for c in ("score", "chosen", "lr", "batch_size", "kind"))]
    for i, damage in enumerate(damages):
        folder = copy(auto, tmp_path / f"case{i}")
        damage(folder / "tuning.csv")
        code, _, result = run_cli("report", folder, "--no-plot")
        assert code == 2 and result.stderr.count("\n") == 1, i
        assert result.stderr.startswith(f"Error: {folder / 'tuning.csv'}") and "nncmp resume" in result.stderr, i
        code, text, _ = run_cli("resume", folder)
        assert code == 0, text
        said = " ".join(text.split())
        assert "the trials' records in tuning_metrics.csv" in said and "resuming: 18 of 18 tuning runs" in said
        for name in ("tuning.csv", "tuning.json", "metrics.csv", "runs.csv"):
            assert (folder / name).read_bytes() == (auto / name).read_bytes(), (i, name)


def without_seconds(path) -> str:
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        return json.dumps({k: v for k, v in doc.items() if "seconds" not in k and k != "configurations"})
    return pd.read_csv(path).drop(columns=["seconds"]).to_csv(index=False)


@pytest.mark.slow
def test_tuning_metrics_csv_cut_anywhere_resumes_the_study_to_the_same_choice(studied, tmp_path):
    """A study stopped before it finished (no tuning.csv yet) with its tuning_metrics.csv cut: the damaged trial is
    trained again, never kept with half a row (155 of 156 rows, once), and tuning.csv and budget.csv are the
    uninterrupted run's."""
    for i, at in enumerate(points(studied / "tuning_metrics.csv")):
        folder = copy(studied, tmp_path / f"cut{i}")
        for name in ("tuning.csv", "tuning.json", "budget.csv", "metrics.csv", "runs.csv", "summary.csv"):
            (folder / name).unlink()
        cut(folder / "tuning_metrics.csv", at)
        code, text, _ = run_cli("resume", folder)
        assert code == 0, text
        for name in ("tuning_metrics.csv", "tuning.csv", "budget.csv", "metrics.csv", "tuning.json"):
            assert without_seconds(folder / name) == without_seconds(studied / name), (at, name)


def test_budget_csv_damaged_is_refused_by_report_and_made_again(studied, tmp_path):
    for i, at in enumerate(points(studied / "budget.csv")[::3]):
        folder = copy(studied, tmp_path / f"cut{i}")
        cut(folder / "budget.csv", at)
        code, _, result = run_cli("report", folder, "--no-plot", "--format", "json")  # the table shows no budgets
        assert code == 2 and result.stderr.startswith(f"Error: {folder / 'budget.csv'}"), at
        assert result.stderr.count("\n") == 1 and not result.stdout
        code, text, _ = run_cli("resume", folder)
        assert code == 0, text
        assert (folder / "budget.csv").read_bytes() == (studied / "budget.csv").read_bytes()


SUITE = """[suite]
name = "damaged"

[problems.digits]
dataset = "digits"
hidden = [8]
batch_size = 64
epochs = 1
target = 0.5
"""


def test_a_suites_times_csv_cut_is_written_again_from_its_problems(tmp_path):
    """times.csv is made from the problems' metrics.csv (checked) each time the suite's verdict is, and nothing
    reads it back: a suite --resume writes it whole again."""
    (tmp_path / "damaged.toml").write_text(SUITE)
    out = tmp_path / "suite"
    code, text, _ = run_cli("suite", tmp_path / "damaged.toml", "--opts", "sgd,adam", "--seeds", "1", "--out", out,
                            "--no-plot", "--quiet")
    assert code == 0, text
    whole = (out / "times.csv").read_bytes()
    for at in points(out / "times.csv")[::4]:
        cut(out / "times.csv", at)
        code, text, _ = run_cli("suite", "--resume", out, "--no-plot", "--quiet")
        assert code == 0, text
        assert (out / "times.csv").read_bytes() == whole, at
