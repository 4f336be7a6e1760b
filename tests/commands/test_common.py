"""What every command shares (commands/common.py): the device and the GPU workers."""

import pytest

from nncmp.training import devices


def test_processes_refuse_more_workers_than_gpus_unless_shared_and_spread_groups(monkeypatch, capsys):
    from nncmp.commands.common import check_gpu_jobs
    from nncmp.errors import SpecError
    from nncmp.training import backends as parallel

    monkeypatch.setattr(devices, "gpus", lambda: 1)
    with pytest.raises(SpecError, match="--jobs 2 with 1 GPU"):
        check_gpu_jobs("processes", 2, "cuda:0", share_gpu=False)
    said = []
    check_gpu_jobs("processes", 2, "cuda:0", share_gpu=True, say=said.append)
    assert "2 workers share 1 GPU" in said[0]
    check_gpu_jobs("processes", 4, "cpu", share_gpu=False)  # CPU workers: nothing to share
    check_gpu_jobs("ray", 4, "cuda:0", share_gpu=False)  # Ray reserves GPUs per task itself
    monkeypatch.setattr(devices, "gpus", lambda: 2)
    from nncmp.config.run import RunSpec
    from nncmp.training.plan import Group

    def group(i, device):
        return Group((i,), (RunSpec().resolved(100),), "single", "", device)

    assert [parallel.spread(group(i, "cuda:0")).device for i in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert parallel.spread(group(3, "cpu")).device == "cpu"


def test_threads_with_a_gpu_get_a_note_and_deterministic_is_switched_on(monkeypatch, capsys):
    from nncmp.commands.common import pick_device

    monkeypatch.setattr(devices, "resolve", lambda text: "cuda:0")
    calls, said = [], []
    monkeypatch.setattr(devices, "deterministic", lambda on: calls.append(on))
    assert pick_device("cuda", threads=4, deterministic=True, say=said.append) == "cuda:0"
    assert "--threads sets torch's CPU threads" in said[0] and calls == [True]


def test_torchs_muon_on_a_cpu_that_emulates_bfloat16_is_said_before_training(monkeypatch):
    from nncmp.commands.common import bfloat16_note
    from nncmp.config.run import RunSpec
    from nncmp.registry import muon_cpu

    specs = [RunSpec(optimizer="muon"), RunSpec(optimizer="adam")]
    monkeypatch.setattr(muon_cpu, "native_bf16", lambda: False)
    note = bfloat16_note(specs, "cpu")
    assert note is not None and note.startswith("muon: torch's Muon orthogonalises in bfloat16")
    assert "pytorch-optimizer:muon" in note
    assert bfloat16_note([RunSpec(optimizer="pytorch-optimizer:muon"), RunSpec(optimizer="adam")], "cpu") is None
    assert bfloat16_note(specs, "cuda") is None
    monkeypatch.setattr(muon_cpu, "native_bf16", lambda: True)
    assert bfloat16_note(specs, "cpu") is None
