"""Every label true: a run's id and columns name its architecture and dropout, and only what its model has
(the cnn's BatchNorm2d shows; a logistic regression has no activation or hidden widths)."""

import pytest

from nncmp.config.run import RunSpec


@pytest.mark.fast
def test_architecture_and_dropout_are_in_the_id_and_the_columns():
    spec = RunSpec(hidden=(256,) * 10, dropout=0.2, act="tanh")
    assert spec.config_id == "adam/default/lr=default/bs=default/hidden=256x10/dropout=0.2/act=tanh"
    assert spec.columns()["hidden"] == "256x10" and spec.columns()["dropout"] == 0.2
    plain = RunSpec()
    assert plain.config_id == "adam/default/lr=default/bs=default"  # the defaults add nothing
    assert plain.columns()["hidden"] == "256,128" and plain.columns()["dropout"] == 0.0


@pytest.mark.fast
def test_labels_say_what_the_model_is():
    cnn = RunSpec(dataset="digits", model="cnn")
    assert cnn.norm == "batchnorm" and cnn.columns()["norm"] == "batchnorm"  # its BatchNorm2d
    assert cnn.columns()["hidden"] == ""  # a fixed architecture, no --hidden widths
    logreg = RunSpec(model="logreg")
    assert logreg.columns()["act"] == "" and logreg.columns()["hidden"] == "" and logreg.norm == "none"


@pytest.mark.fast
def test_widths_read_and_written_alike():
    from nncmp.config.run import parse_widths, widths_text

    for hidden in ((256, 128), (512,), (64, 64, 64), (32, 32)):
        assert parse_widths(widths_text(hidden)) == hidden
    assert widths_text((64, 64, 64)) == "64x3" and widths_text((256, 128)) == "256,128"


@pytest.mark.fast
def test_hyperparameters_are_in_the_id_where_they_differ_from_the_optimizers_defaults():
    # Tuned runs differ in betas, momentum or weight decay only; their ids must differ too.
    n = 1000
    assert RunSpec(optimizer="adam").resolved(n).config_id == "adam/default/lr=0.001/bs=64"
    assert RunSpec(optimizer="adam", betas=(0.9, 0.999)).resolved(n).config_id == "adam/default/lr=0.001/bs=64"
    assert (RunSpec(optimizer="adam", betas=(0.8, 0.99), weight_decay=1e-4).resolved(n).config_id
            == "adam/default/lr=0.001/bs=64/betas=0.8,0.99/weight_decay=0.0001")
    # adamw's default decay is 0.01: 0.01 adds nothing, 0 is named.
    assert RunSpec(optimizer="adamw", weight_decay=0.01).resolved(n).config_id == "adamw/default/lr=0.001/bs=64"
    assert RunSpec(optimizer="adamw", weight_decay=0.0).resolved(n).config_id.endswith("/weight_decay=0")
    assert RunSpec(optimizer="momentum", momentum=0.5).resolved(n).config_id.endswith("/momentum=0.5")
    spec = RunSpec(optimizer="adam", schedule="warmup-cosine", warmup=0.02)
    assert spec.config_id.endswith("/sched=warmup-cosine/warmup=0.02")
    assert spec.legacy_config_id == "adam/default/lr=default/bs=default/sched=warmup-cosine"
