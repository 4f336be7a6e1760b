"""The checks of a results CSV (results/verify.py) on files made here: a line cut short, values that are not what
their column holds, rows of a run that are not whole, completion records that do not match. Torch-free."""

import math

import pytest

from nncmp.results import schema, verify
from nncmp.results.schema import records_frame

pytestmark = pytest.mark.fast

KINDS, REQUIRED = schema.RECORD_KINDS, schema.RECORD_REQUIRED


def run(name: str, epochs: int = 2, diverged_at: int | None = None) -> list[dict]:
    """A run's records as the recorder writes them (epoch 0 … epochs; or stopped where it diverged)."""
    last = epochs if diverged_at is None else diverged_at
    status = "ok" if diverged_at is None else "diverged"
    config = f"{name}/lr=0.1/bs=32"
    return [{"run_id": f"{config}/seed=0", "config": config, "dataset": "digits", "model": "mlp", "optimizer": name,
             "init": "he-normal", "act": "relu", "norm": "none", "lr": 0.1, "batch_size": 32, "seed": 0,
             "schedule": "constant", "opt_args": "", "hidden": "8", "dropout": 0.0, "model_args": "", "hyper": "",
             "epoch": e, "train_loss": math.nan if e == diverged_at else 1.0 / (e + 1), "train_acc": 0.5,
             "val_loss": 0.9, "val_acc": 0.5, "examples": 100 * e, "seconds": 0.01 * e, "status": status,
             "diverged_step": 3 if e == diverged_at else None, "lr_end": 0.1, "step": 4 * e, "val_metric": None}
            for e in range(last + 1)]


def text_of(*runs: list[dict]) -> str:
    return records_frame([r for records in runs for r in records]).to_csv(index=False)


WHOLE = text_of(run("sgd"), run("adam"), run("lion", diverged_at=1))
IDS = ["sgd/lr=0.1/bs=32/seed=0", "adam/lr=0.1/bs=32/seed=0", "lion/lr=0.1/bs=32/seed=0"]


def checked(text: str, rounds: int | None = 2, records=None) -> verify.Checked:
    return verify.check_runs(verify.check(text, KINDS, REQUIRED), rounds, records)


def test_a_whole_file_keeps_every_run_and_its_records_are_the_writers():
    found = checked(WHOLE)
    assert not found.problems and not found.left_out and len(found.rows) == 8
    assert found.records == verify.records_of(WHOLE)
    assert list(found.records) == IDS and found.records[IDS[2]][0] == 2  # the diverged run: epochs 0 and 1


def test_records_are_the_same_whether_values_are_quoted_or_not():
    quoted = run("adamw")
    for r in quoted:
        r["opt_args"] = "betas=(0.9,0.99)"  # a comma: the value is quoted, the row still one line
    text = text_of(run("sgd"), quoted)
    assert '"betas=(0.9,0.99)"' in text
    assert verify.records_of(text) == checked(text).records and len(checked(text).records) == 2


def test_a_file_cut_anywhere_never_keeps_a_run_that_lost_something():
    """Cut at every byte: what is kept is whole runs of the file, each exactly as written; a cut inside a line is
    named with its line."""
    whole = verify.records_of(WHOLE)
    for cut in range(len(WHOLE)):
        found = checked(WHOLE[:cut])
        assert all(whole[run_id] == record for run_id, record in found.records.items()), cut
        assert len(found.records) == sum(cut >= end for end in _ends()), cut
        if not WHOLE[:cut].endswith("\n") and cut > WHOLE.index("\n"):
            assert "cut short" in found.problems[0].what and found.problems[0].line == WHOLE[:cut].count("\n") + 1


def _ends() -> list[int]:
    """Where each run's last row ends (after its newline): a cut keeps the run iff it is not before."""
    lines = WHOLE.splitlines(keepends=True)
    return [len("".join(lines[:n])) for n in (4, 7, 9)]  # header, then 3, 3 and 2 rows


def test_a_cut_inside_the_next_rows_run_id_spoils_the_run_before():
    """Cut inside the first value of a row, the row could be the next epoch of the run before (its id is the start
    of it): that run is not kept on faith."""
    lines = text_of(run("sgd", epochs=3)).splitlines(keepends=True)
    text = "".join(lines[:3]) + lines[3][:5]  # epochs 0 and 1, then "sgd/l" of epoch 2
    found = checked(text, rounds=None)  # without the rounds, only the cut says it
    assert found.left_out == {IDS[0]: 2} and found.problems[0].line == 4


@pytest.mark.parametrize("column, value, said", [
    ("val_loss", "abc", "val_loss is 'abc', not a number"),
    ("epoch", "1.5", "epoch is '1.5', not a whole number"),
    ("status", "fine", "status is 'fine', not one of ok, diverged, collapsed"),
    ("seed", "", "no seed"),
    ("lr", "0.1x", "lr is '0.1x', not a number"),
])
def test_a_value_that_is_not_its_columns_leaves_its_run_out(column, value, said):
    lines = WHOLE.splitlines(keepends=True)
    header = lines[0].strip().split(",")
    fields = lines[5].rstrip("\n").split(",")  # adam's epoch 1
    fields[header.index(column)] = value
    lines[5] = ",".join(fields) + "\n"
    found = checked("".join(lines))
    assert [(p.line, p.what, p.run) for p in found.problems] == [(6, said, IDS[1])]
    assert set(found.records) == {IDS[0], IDS[2]} and found.left_out == {IDS[1]: 2}


def test_too_few_or_too_many_values_and_a_broken_quote_are_named():
    lines = WHOLE.splitlines(keepends=True)
    short = "".join(lines[:2] + [lines[2].replace(",0.5,", ",", 1)] + lines[3:])
    assert checked(short).problems[0].what == f"{len(schema.RECORD_COLUMNS) - 1} values where the header names " \
                                               f"{len(schema.RECORD_COLUMNS)}"
    broken = "".join(lines[:4]) + '"adam\x00' + "".join(lines[5:])
    found = checked(broken)
    assert found.problems[0].line == 5 and "not readable as CSV" in found.problems[0].what
    assert set(found.records) == set()  # sgd's rows end where the unreadable part starts: not trusted as whole


@pytest.mark.parametrize("edit, said", [
    (lambda rows: rows[:1] + rows[2:], "its epochs are 0, 2, not 0, 1, 2, …"),
    (lambda rows: rows[:2], "it ends at epoch 1 of 2"),
])
def test_rows_missing_from_a_run_are_found_by_its_epochs(edit, said):
    text = text_of(edit(run("sgd")), run("adam"))
    found = checked(text)
    assert [p.what for p in found.problems] == [said] and list(found.records) == [IDS[1]]


def test_a_diverged_run_ends_early_only_where_its_loss_is_not_finite():
    cut_before = run("lion", diverged_at=2)[:2]  # a diverged run cut at a line boundary: its last row is finite
    for r in cut_before:
        r["status"] = "diverged"
    assert checked(text_of(cut_before)).problems[0].what == "it ends at epoch 1 of 2"
    assert not checked(text_of(run("lion", diverged_at=0))).problems


def test_a_runs_status_and_rows_must_hold_together():
    changed = run("sgd")
    changed[2]["status"] = "diverged"
    assert checked(text_of(changed)).problems[0].what == "its status changes between its rows"
    apart = text_of(run("sgd")[:2], run("adam"), run("sgd")[2:])
    assert checked(apart).problems[0].what == "its rows are not together in the file"


def test_the_completion_record_decides_when_there_is_one():
    records = verify.records_of(WHOLE)
    assert not checked(WHOLE, None, records).problems
    lines = WHOLE.splitlines(keepends=True)
    number = lines[2].replace("0.5", "0.25", 1)  # a number for another: nothing else would see it
    found = checked("".join(lines[:2] + [number] + lines[3:]), None, records)
    assert [p.what for p in found.problems] == ["its rows are not as written (their checksum is not the one runs.csv "
                                                "records)"]
    fewer = text_of(run("sgd", epochs=1))  # as if the run had been written with fewer epochs
    assert checked(fewer, 1, records).problems[0].what == "it has 2 rows where runs.csv records 3"


def test_a_file_cut_in_its_header_or_empty_has_nothing_to_read():
    for text in ("", WHOLE[:20]):
        found = verify.check(text, KINDS, REQUIRED)
        assert found.cut_header and not found.rows


@pytest.mark.parametrize("column, value, said", [
    ("chosen", "maybe", "chosen is 'maybe', not True or False"),
    ("kind", "other", "kind is 'other', not one of trial, default"),
    ("score", "high", "score is 'high', not a number"),
])
def test_tuning_values_are_checked_by_their_column(column, value, said):
    header = ["optimizer", "kind", "lr", "score", "status", "chosen", "study_best", "at_edge"]
    row = {"optimizer": "adam", "kind": "trial", "lr": "0.01", "score": "-inf", "status": "diverged", "chosen": "True",
           "study_best": "True", "at_edge": "False"}
    good = ",".join(header) + "\n" + ",".join(row.values()) + "\n"
    assert not verify.check(good, schema.TUNING_KINDS, schema.TUNING_REQUIRED).problems
    bad = ",".join(header) + "\n" + ",".join({**row, column: value}.values()) + "\n"
    problems = verify.check(bad, schema.TUNING_KINDS, schema.TUNING_REQUIRED).problems
    assert [(p.line, p.what, p.run) for p in problems] == [(2, said, None)]
