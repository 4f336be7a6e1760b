"""nncmp: compare neural-network optimizers and weight initialisations on real PyTorch runs.

From Python: `nncmp.compare(...)`, `nncmp.compare_suite(...)`, `nncmp.train(...)`, `nncmp.inspect(...)`,
`nncmp.load(folder)` (nncmp/api.py), imported on first use so that `import nncmp` and `nncmp --help` stay instant.
"""

__version__ = "0.1.0"
__all__ = ["compare", "compare_suite", "train", "inspect", "load", "Comparison"]


def __getattr__(name: str) -> object:  # no imports up here: `import nncmp` stays instant
    if name in __all__:
        from nncmp import api

        return getattr(api, name)
    raise AttributeError(f"module 'nncmp' has no attribute {name!r}")
