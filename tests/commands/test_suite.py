"""nncmp suite end to end on a tiny suite: calibrate, run, the folders and files, resume, bad input."""

import json
import math
import shutil
import statistics

import pandas as pd
import pytest

from nncmp.commands import suite as suite_command
from nncmp.commands.suite import CalibrateRequest, SuiteRequest, calibrate, run_suite
from nncmp.errors import Interrupted, SpecError, StoreError
from nncmp.suite.problems import load_suite
from tests.conftest import PNG_MAGIC, run_cli

TINY = """# a tiny suite for the tests
[suite]
name = "tiny"

[problems.digits]
dataset = "digits"
hidden = [12]
batch_size = 64
epochs = 2

[problems.synth]
dataset = "synthetic"
n = 700
hidden = [8]
batch_size = 50
epochs = 2
"""


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """The tiny suite, calibrated with two seeds of two baselines."""
    root = tmp_path_factory.mktemp("suite")
    path = root / "tiny.toml"
    path.write_text(TINY)
    result = calibrate(CalibrateRequest(str(path), baselines=("adamw", "nesterov"), seeds=2,
                                        out=root / "calibration"))
    return path, result


@pytest.fixture(scope="module")
def judged(calibrated, tmp_path_factory):
    path, _ = calibrated
    out = tmp_path_factory.mktemp("judged") / "run"
    code, output, _ = run_cli("suite", path, "--opts", "sgd,adam,momentum", "--seeds", "2", "--out", out, "--html",
                              "--quiet")
    assert code == 0, output
    return out, output


def test_calibration_writes_targets_by_the_rule(calibrated):
    path, result = calibrated
    suite = load_suite(path)
    assert not suite.uncalibrated()
    assert "# a tiny suite for the tests" in path.read_text()  # the user's file keeps its comments
    table = result.table
    assert set(table["baseline"]) == {"adamw", "nesterov"} and len(table) == 2 * 2 * 2
    for name, rows in table.groupby("problem"):
        medians = {b: statistics.median(g["best"]) for b, g in rows.groupby("baseline")}
        best = max(medians.values())
        assert suite.problem(name).target == pytest.approx(round(best * 0.99, 4), abs=1e-4)
        assert suite.calibration["problems"][name]["baseline"] in medians
    # calibration trains and scores on the holdout split of the training data: 20% of digits' 1,437
    metrics = pd.read_csv(result.folder / "digits" / "calibration_metrics.csv")
    assert set(metrics["optimizer"]) == {"adamw", "nesterov"}
    assert suite.calibration["seeds"] == 2 and suite.calibration["baselines"] == ["adamw", "nesterov"]
    assert (result.folder / "suite.toml").is_file()


def test_a_suite_folder_holds_a_compare_folder_per_problem(judged, calibrated):
    out, output = judged
    assert "Suite tiny: 2 problems" in output and "speed-up vs sgd" in output
    times = pd.read_csv(out / "times.csv")
    assert len(times) == 2 * 3 * 2 and set(times["problem"]) == {"digits", "synth"}
    table = pd.read_csv(out / "suite.csv")
    assert list(table.columns[:8]) == ["optimizer", "score", "solved", "problems", "within_4x", "speedup",
                                       "speedup_low", "speedup_high"]
    assert set(table["optimizer"]) == {"sgd", "adam", "momentum"}
    assert table["score"].between(0, 1).all() and table["score"].is_monotonic_decreasing
    profiles = pd.read_csv(out / "profiles.csv")
    assert profiles["tau"].min() == 1 and profiles["tau"].max() == 4
    assert (out / "profiles.png").read_bytes()[:8] == PNG_MAGIC
    assert "Performance profiles" in (out / "report.html").read_text()
    for name in ("digits", "synth"):  # ordinary compare folders: report reads them
        code, text, _ = run_cli("report", out / name)
        assert code == 0 and "sgd" in text
    doc = json.loads((out / "config.json").read_text())
    assert doc["command"] == "suite" and doc["finished"] == ["digits", "synth"]


def test_the_verdict_follows_from_the_times(judged):
    out, _ = judged
    times = pd.read_csv(out / "times.csv")
    table = pd.read_csv(out / "suite.csv").set_index("optimizer")
    for opt, g in times.groupby("optimizer"):
        for prob, h in g.groupby("problem"):
            hit = sorted(h["examples"])
            expect = statistics.median(hit) if not math.isinf(hit[len(hit) // 2]) else math.inf
            assert table.loc[opt, f"examples:{prob}"] == expect


def test_json_and_another_measure_on_resume_without_training(judged, monkeypatch):
    out, _ = judged
    monkeypatch.setattr(suite_command, "compare", lambda *a, **k: pytest.fail("a finished problem trained again"))
    code, text, _ = run_cli("suite", "--resume", out, "--by", "steps", "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["by"] == "steps" and {r["optimizer"] for r in doc["table"]} == {"sgd", "adam", "momentum"}
    assert any(k.startswith("steps:") for k in doc["table"][0])


def test_an_interrupted_suite_resumes_where_it_stopped(calibrated, judged, tmp_path, monkeypatch):
    path, _ = calibrated
    out = tmp_path / "cut"
    real = suite_command.compare
    calls = []

    def cut(request, reporter):
        calls.append(request.out.name)
        if request.out.name == "synth" and len(calls) == 2:
            raise Interrupted("training", 0, 4)
        return real(request, reporter)

    monkeypatch.setattr(suite_command, "compare", cut)
    asked = SuiteRequest(str(path), ("sgd", "adam", "momentum"), seeds=2, out=out)
    with pytest.raises(Interrupted) as stop:
        run_suite(asked)
    assert stop.value.folder == out
    result = run_suite(SuiteRequest(out=out, resume=True))  # the suite's own settings
    assert calls == ["digits", "synth", "synth"]  # digits, finished, was not run again
    measured = ["seconds", "budget_seconds", "step_time", "budget_step_time", "ms_step", "peak_mib"]  # vary run to run
    again = result.times.drop(columns=measured).reset_index(drop=True)
    whole = pd.read_csv(judged[0] / "times.csv").drop(columns=measured)
    pd.testing.assert_frame_equal(again, whole, check_dtype=False)
    with pytest.raises(StoreError, match="was run with --opts sgd,adam,momentum"):
        run_suite(SuiteRequest(opts=("sgd",), out=out, resume=True))


def test_a_finished_problem_damaged_since_is_checked_and_retrained_on_resume(judged, tmp_path, monkeypatch):
    """suite --resume skips finished problems, but not one whose metrics.csv was cut since (a copy, a disk): its
    damaged run trains again and the times equal the undamaged suite's."""
    out = tmp_path / "copy"
    shutil.copytree(judged[0], out)
    metrics = out / "digits" / "metrics.csv"
    text = metrics.read_text()
    metrics.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # the last line cut mid-way
    real, calls = suite_command.compare, []

    def counted(request, reporter):
        calls.append(request.out.name)
        return real(request, reporter)

    monkeypatch.setattr(suite_command, "compare", counted)
    result = run_suite(SuiteRequest(out=out, resume=True))
    assert calls == ["digits"]  # synth, whole, was not touched
    measured = ["seconds", "budget_seconds", "step_time", "budget_step_time", "ms_step", "peak_mib"]  # vary run to run
    again = result.times.drop(columns=measured).reset_index(drop=True)
    whole = pd.read_csv(judged[0] / "times.csv").drop(columns=measured)
    pd.testing.assert_frame_equal(again, whole, check_dtype=False)
    assert metrics.read_text().count("\n") == text.count("\n")


def test_a_target_nobody_reaches_is_reported_not_a_crash(calibrated, tmp_path):
    from nncmp.suite.problems import write_targets

    path, _ = calibrated
    hard = tmp_path / "hard.toml"
    shutil.copy(path, hard)
    write_targets(hard, {"digits": 1.0}, {})  # 100% of digits' validation set in two epochs of a tiny MLP
    result = run_suite(SuiteRequest(str(hard), ("sgd", "adam"), problems=("digits",), seeds=1, out=tmp_path / "o"))
    assert result.verdict.unreached == ["digits"]
    assert (result.verdict.table["score"] == 0).all() and (result.verdict.table["solved"] == 0).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--opts", "sgd,adam", "--reference", "lion"], "--reference lion is not one of --opts"),
    (["--opts", "sgd", "--by", "epochs"], "--by: unknown measure 'epochs'"),
    (["--opts", "sgd", "--problems", "nope"], "has no problem 'nope'"),
    (["--opts", "nosuchopt"], "nosuchopt"),
    (["--opts", "sgd", "--lrs", "0.1"], "--lrs auto"),
    (["--opts", "sgd", "--ratio-to", "worst"], "--ratio-to"),
    ([], "--opts: name the optimizers"),
])
def test_bad_input_is_one_line_and_exit_2(calibrated, args, message):
    path, _ = calibrated
    code, text, _ = run_cli("suite", path, *args)
    assert code == 2 and message in text and "Traceback" not in text, text


def test_a_problem_without_a_target_suggests_calibrate(tmp_path):
    path = tmp_path / "raw.toml"
    path.write_text(TINY)
    code, text, _ = run_cli("suite", path, "--opts", "sgd")
    assert code == 2 and "have no target" in text and f"nncmp suite {path} --calibrate" in text
    code, text, _ = run_cli("suite", "large", "--opts", "sgd")
    assert code == 2 and "mnist5k-cnn, fashion-mnist-mlp, cifar10-cnn" in text
    assert "nncmp suite large --calibrate" in text


def test_a_problem_that_cannot_train_is_known_before_anything_trains(calibrated, tmp_path, monkeypatch):
    path, _ = calibrated
    bad = tmp_path / "bad.toml"
    text = path.read_text()
    bad.write_text(text.replace('dataset = "synthetic"', 'dataset = "toy-regression"').replace("n = 700\n", ""))
    monkeypatch.setattr(suite_command, "compare", lambda *a, **k: pytest.fail("trained before the check"))
    with pytest.raises(SpecError, match="problem synth"):
        run_suite(SuiteRequest(str(bad), ("sgd",), seeds=1, out=tmp_path / "o"))


def test_from_python(calibrated, tmp_path):
    import nncmp

    path, _ = calibrated
    result = nncmp.compare_suite("sgd,adam", path, problems=["synth"], seeds=1, out=tmp_path / "py", progress=False,
                         plot=False)
    assert list(result.verdict.table["optimizer"]) != [] and set(result.times["problem"]) == {"synth"}
    assert not (tmp_path / "py" / "profiles.png").exists()
    with pytest.raises(SpecError, match="lrs"):
        nncmp.compare_suite(["sgd"], path, lrs="0.1")


def test_a_tuned_problem_has_no_runs_at_the_defaults(calibrated, tmp_path):
    path, _ = calibrated
    result = run_suite(SuiteRequest(str(path), ("sgd", "adam"), problems=("synth",), seeds=1, auto=True,
                                    out=tmp_path / "auto"))
    runs = pd.read_csv(tmp_path / "auto" / "synth" / "metrics.csv")["run_id"].unique()
    tuning = pd.read_csv(tmp_path / "auto" / "synth" / "tuning.csv")
    assert len(runs) == 2  # one seed of each optimizer, at its tuned rate only
    assert set(result.times["config"]) == set(tuning[tuning["chosen"]]["tuned_config"])
    doc = json.loads((tmp_path / "auto" / "synth" / "config.json").read_text())
    assert doc["defaults"] is False
    # the problem folder resumes as it was run: nncmp resume reads defaults = False back
    code, text, _ = run_cli("resume", tmp_path / "auto" / "synth", "--quiet")
    assert code == 0, text
    assert len(pd.read_csv(tmp_path / "auto" / "synth" / "metrics.csv")["run_id"].unique()) == 2


def test_report_on_a_suite_folder_points_to_its_verdict_and_problems(judged):
    out, _ = judged
    code, text, _ = run_cli("report", out)
    assert code == 2 and "is a suite" in text and "nncmp report" in text


# --- issue 30: a command never damages a folder of another kind; bad input refused before anything is written


def digest(folder):
    """Every file under `folder` (its sub-folders' too) → its SHA-256: what "left byte-identical" compares."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def kinds(calibrated, judged, tmp_path):
    """Fresh copies of a folder of each kind: a suite's, a compare's (one of its problems) and a calibration's."""
    path, result = calibrated
    out, _ = judged
    folders = {"suite": tmp_path / "suite", "compare": tmp_path / "compare", "calibrate": tmp_path / "calibrate"}
    shutil.copytree(out, folders["suite"])
    shutil.copytree(out / "digits", folders["compare"])
    shutil.copytree(result.folder, folders["calibrate"])
    return {"path": path, **folders}


def test_calibrate_with_resume_refuses_a_suite_folder_and_leaves_it_byte_identical(kinds):
    """Was: it calibrated the built-in default suite into DIR, replaced DIR's config.json and suite.toml, exited
    0, and DIR could no longer be resumed ("holds an nncmp calibrate")."""
    suite = kinds["suite"]
    before = digest(suite)
    for named in ([], [kinds["path"]]):  # the built-in default suite, or the suite the folder was run with
        code, text, result = run_cli("suite", *named, "--resume", suite, "--calibrate")
        assert code == 2 and "Traceback" not in text, text
        assert result.stderr.count("Error:") == 1 and f"{suite} holds an nncmp suite, not a calibration" in text
        assert f"nncmp suite --resume {suite} continues it" in text
        assert digest(suite) == before
    code, text, _ = run_cli("suite", "--resume", suite, "--json")  # it still resumes, as a suite
    assert code == 0 and json.loads(text)["problems"], text


def test_calibrate_with_resume_refuses_a_compare_folder_and_report_still_reads_it(kinds):
    """Was: the same damage, and then `report` printed nothing with exit 0."""
    compare = kinds["compare"]
    before = digest(compare)
    code, text, result = run_cli("suite", "--resume", compare, "--calibrate")
    assert code == 2 and result.stderr.count("Error:") == 1 and "holds an nncmp compare, not a calibration" in text
    assert digest(compare) == before
    code, text, _ = run_cli("report", compare, "--no-plot")
    assert code == 0 and "sgd" in text


def test_calibrate_continues_only_its_own_calibration(kinds, tmp_path):
    calibration, path = kinds["calibrate"], kinds["path"]
    before = digest(calibration)
    for args, message in [(["--baselines", "adamw", "--seeds", "2"], "calibrated with --baselines adamw,nesterov, "
                                                                      "this command has adamw"),
                          (["--baselines", "adamw,nesterov"], "calibrated with --seeds 2, this command has 3"),
                          (["--baselines", "adamw,nesterov", "--seeds", "2", "--slack", "0.9"], "--slack 0.99"),
                          (["--baselines", "adamw,nesterov", "--seeds", "2", "--problems", "synth"],
                           "--problems digits,synth, this command has synth")]:
        code, text, result = run_cli("suite", path, "--calibrate", "--resume", calibration, *args)
        assert code == 2 and result.stderr.count("Error:") == 1 and message in text, text
    other = tmp_path / "other.toml"
    shutil.copy(path, other)
    code, text, _ = run_cli("suite", other, "--calibrate", "--baselines", "adamw,nesterov", "--seeds", "2",
                            "--resume", calibration)
    assert code == 2 and "calibrated the suite" in text and "this command has" in text
    assert digest(calibration) == before


def test_calibrate_resumes_its_own_calibration_without_training_again(kinds, monkeypatch):
    from nncmp.training import runner

    calibration = kinds["calibrate"]
    was = pd.read_csv(calibration / "calibration.csv")
    real = runner.train

    def train(groups, *args, **kwargs):
        assert not groups, "a finished baseline run trained again"
        return real(groups, *args, **kwargs)

    monkeypatch.setattr(runner, "train", train)
    result = calibrate(CalibrateRequest(str(kinds["path"]), baselines=("adamw", "nesterov"), seeds=2,
                                        out=calibration, resume=True))
    pd.testing.assert_frame_equal(result.table, was, check_dtype=False)


@pytest.mark.parametrize(("kind", "args", "message"), [
    ("suite", ["compare", "--resume", "{dir}", "--dataset", "digits"], "holds the results of nncmp suite"),
    ("suite", ["resume", "{dir}"], "holds the results of nncmp suite"),
    ("calibrate", ["resume", "{dir}"], "holds the results of nncmp calibrate"),
    ("compare", ["suite", "{path}", "--opts", "sgd", "--resume", "{dir}"], "holds an nncmp compare, not a suite"),
    ("calibrate", ["suite", "{path}", "--opts", "sgd", "--resume", "{dir}"], "holds an nncmp calibrate, not a suite"),
    ("suite", ["compare", "--dataset", "digits", "--out", "{dir}", "--overwrite"],
     "--overwrite: {dir} holds an nncmp suite, with a folder per problem that compare would leave behind"),
    ("suite", ["train", "--dataset", "digits", "--out", "{dir}", "--overwrite"], "that train would leave behind"),
    ("suite", ["suite", "{path}", "--calibrate", "--out", "{dir}", "--overwrite"], "that calibrate would leave"),
    ("calibrate", ["suite", "{path}", "--opts", "sgd", "--out", "{dir}", "--overwrite"], "that suite would leave"),
    ("calibrate", ["compare", "--dataset", "digits", "--out", "{dir}", "--overwrite"], "that compare would leave"),
    ("compare", ["train", "--dataset", "digits", "--out", "{dir}"], "is not empty; add --resume"),
    ("compare", ["suite", "{path}", "--calibrate", "--out", "{dir}"], "is not empty; add --resume"),
])
def test_no_command_writes_into_a_folder_of_another_kind(kinds, kind, args, message):
    folder = kinds[kind]
    before = digest(folder)
    code, text, result = run_cli(*[str(a).format(dir=folder, path=kinds["path"]) for a in args], "--quiet")
    assert code == 2 and "Traceback" not in text, text
    assert result.stderr.count("Error:") == 1 and message.format(dir=folder) in text, text
    assert digest(folder) == before


def test_a_problem_folder_that_is_not_a_comparison_is_refused_before_the_suite_writes(kinds):
    suite = kinds["suite"]
    shutil.rmtree(suite / "synth")
    (suite / "synth").write_text("not a folder")
    doc = json.loads((suite / "config.json").read_text())
    doc["finished"] = ["digits"]  # synth would be run next, into its folder
    (suite / "config.json").write_text(json.dumps(doc))
    before = digest(suite)
    code, text, _ = run_cli("suite", "--resume", suite)
    assert code == 2 and "problem synth's folder holds a file, not its comparison" in text, text
    assert digest(suite) == before


@pytest.mark.parametrize(("name", "message"), [
    ('""', "a problem has an empty name"),  # was: refused only after config.json was written, for another reason
    ('"times.csv"', "beside the suite's own files"),  # was: a traceback after the problem had trained
    ('"a\\u0000b"', "control characters"),
    ('"' + "p" * 300 + '"', "a name of 300 characters"),
])
def test_a_problem_name_that_cannot_be_its_folder_is_refused_before_anything_is_written(tmp_path, name, message):
    path = tmp_path / "names.toml"
    path.write_text(f"[problems.{name}]\ndataset = 'digits'\nhidden = [8]\nepochs = 1\ntarget = 0.5\n")
    code, text, result = run_cli("suite", path, "--opts", "sgd", "--seeds", "1", "--out", tmp_path / "out")
    assert code == 2 and message in text and "Traceback" not in text, text
    assert result.stderr.count("Error:") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["--opts", "sgd", "--seeds", "0"],  # was: 3 seeds, quietly
    ["--calibrate", "--seeds", "0"],
    ["--opts", "sgd", "--problems", "digits,digits"],  # was: accepted (--opts sgd,sgd is refused)
    ["--calibrate", "--problems", "synth,digits,synth"],
])
def test_suite_seeds_and_problems_are_checked_before_anything_is_written(calibrated, tmp_path, args):
    path, _ = calibrated
    code, text, result = run_cli("suite", path, *args, "--out", tmp_path / "out")
    assert code == 2 and result.stderr.count("Error:") == 1 and "Traceback" not in text, text
    assert ("--seeds must be >= 1, got 0" in text) if "0" in args else ("more than once" in text)
    assert not (tmp_path / "out").exists()


def test_suite_seeds_and_problems_from_python(calibrated, tmp_path):
    import nncmp

    path, _ = calibrated
    for kwargs in ({"seeds": 0}, {"problems": ["synth", "synth"]}, {"seeds": 0, "calibrate": True}):
        with pytest.raises(SpecError, match="--seeds must be >= 1|lists synth more than once"):
            nncmp.compare_suite(["sgd"], path, out=tmp_path / "py", progress=False, **kwargs)
    with pytest.raises(SpecError, match="--problems lists synth more than once"):
        run_suite(SuiteRequest(str(path), ("sgd",), problems=("synth", "synth"), out=tmp_path / "py"))
    with pytest.raises(SpecError, match="--seeds must be >= 1"):
        calibrate(CalibrateRequest(str(path), seeds=0, out=tmp_path / "py"))
    assert not (tmp_path / "py").exists()


def test_by_step_time_and_the_costs_on_resume_without_training(judged, tmp_path, monkeypatch):
    """--by step-time judges the trained suite again from its folders: each run's steps × its runs.csv ms_step,
    the costs beside the score, and a sentence per optimizer against the reference (sgd)."""
    out = tmp_path / "copy"
    shutil.copytree(judged[0], out)
    monkeypatch.setattr(suite_command, "compare", lambda *a, **k: pytest.fail("a finished problem trained again"))
    code, text, _ = run_cli("suite", "--resume", out, "--by", "step-time")
    assert code == 0, text
    times = pd.read_csv(out / "times.csv")
    table = pd.read_csv(out / "suite.csv").set_index("optimizer")
    for prob in ("digits", "synth"):
        runs = pd.read_csv(out / prob / "runs.csv").set_index("run_id")
        mine = times[times["problem"] == prob]
        assert list(mine["ms_step"]) == pytest.approx(list(mine["run_id"].map(runs["ms_step"])))
        for opt, g in mine.groupby("optimizer"):
            each = sorted(s * ms / 1000 if hit else math.inf
                          for s, ms, hit in zip(g["steps"], g["ms_step"], g["reached"]))
            expect = statistics.median(each) if not math.isinf(each[len(each) // 2]) else math.inf
            assert table.loc[opt, f"step_time:{prob}"] == pytest.approx(expect)
    # plain SGD keeps no optimizer state, momentum one buffer (4 bytes a parameter), Adam two
    assert table.loc["sgd", "state_bytes_per_param"] == 0 and table.loc["sgd", "ms_step_ratio"] == 1
    assert table.loc["momentum", "state_bytes_per_param"] == pytest.approx(4, abs=0.05)
    assert table.loc["adam", "state_bytes_per_param"] == pytest.approx(8, abs=0.05)  # + a step counter a tensor
    assert (table["peak_mib_max"] >= 0).all()
    assert "state B/param" in text and "time/step vs sgd" in text
    said = [line for line in (out / "suite.md").read_text().splitlines() if line.startswith("- ")]
    assert len(said) == 2 and all("sgd's" in line and "problems" in line for line in said)
