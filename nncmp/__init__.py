"""nncmp: compare neural-network optimizers and weight initialisations on real PyTorch runs.

From Python: `nncmp.compare(...)`, `nncmp.transfer(...)`, `nncmp.compare_suite(...)`, `nncmp.train(...)`,
`nncmp.inspect(...)`, `nncmp.load(folder)` (nncmp/api.py), imported on first use so that `import nncmp` and
`nncmp --help` stay instant.
"""

__version__ = "0.1.0"
__all__ = ["compare", "transfer", "compare_suite", "train", "inspect", "load", "Comparison"]


def _choose_wait_policy() -> None:
    # OpenMP reads OMP_WAIT_POLICY when torch loads, so nncmp must choose before a notebook's `import torch`.
    # Measuring the load here would cost every `import nncmp` and `nncmp --help` 0.1 s; instead this takes one
    # reading of the CPU counters and the measurement ends when something first imports torch, which only what
    # trains does (nncmp/training/openmp.py: which policy and why). The import sits in a function because a
    # package's __init__ imports nothing at its top (tests/test_architecture.py); openmp.py imports only the
    # standard library, so `import nncmp` and `nncmp --help` stay instant.
    from nncmp.training.openmp import choose_wait_policy

    choose_wait_policy()


_choose_wait_policy()


def __getattr__(name: str) -> object:  # no imports up here: `import nncmp` stays instant
    if name in __all__:
        from nncmp import api

        return getattr(api, name)
    raise AttributeError(f"module 'nncmp' has no attribute {name!r}")
