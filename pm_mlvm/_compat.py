"""Version shims for the PyMC 5 / PyTensor 2.x / ArviZ 0.2x stack (one place only)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
