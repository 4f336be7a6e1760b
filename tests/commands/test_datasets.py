"""nncmp datasets: every dataset, and what the missing ones need."""


def test_datasets_command(cli, tmp_path):
    code, out, _ = cli("datasets", "--data-dir", tmp_path)
    assert code == 0, out
    for name in ("mnist5k", "digits", "mnist", "fashion-mnist", "cifar10", "synthetic", "toy-regression"):
        assert name in out
    assert "needs --download" in out
