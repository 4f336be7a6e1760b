"""The fast tier (`pytest -m fast`) imports no torch: run in a subprocess under NNCMP_FORBID_TORCH, whose
conftest.py check fails the session if anything imported torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a pytest session of its own: about 5 s
def test_the_fast_tier_never_imports_torch():
    env = {**os.environ, "NNCMP_FORBID_TORCH": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "fast", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "NNCMP_FORBID_TORCH" not in done.stderr
