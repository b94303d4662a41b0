"""What the version cell of every notebook prints: Python, the course's packages, the device."""
from __future__ import annotations

import importlib.metadata as md
import platform

from lorakit.models.device import compute_dtype, get_device

PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "trl", "datasets", "accelerate", "lorakit")


def versions() -> dict[str, str]:
    """Installed versions of the packages the course uses (``"missing"`` when absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "missing"
    return out


def print_versions() -> None:
    """One line per package, then the device and its compute dtype (the cell is ``# NBVAL_SKIP``)."""
    for name, version in versions().items():
        print(f"{name:>13}: {version}")
    print(f"{'device':>13}: {get_device()} -> {compute_dtype()}")
