"""datasets: what can be trained on, and whether each dataset is here now."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def datasets(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per dataset: task, shape, classes, sizes, and whether it loads here now (without a download)."""
    from nncmp.registry.datasets import availability

    return availability(data_dir)
