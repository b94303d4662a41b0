"""What the environment cell of every notebook prints: versions, the device, and the learner's path."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys

import torch

from .device import compute_dtype, get_device

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


def in_colab() -> bool:
    return "google.colab" in sys.modules


def in_kaggle() -> bool:
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ


def course_path() -> str:
    """Which of the course's three paths this machine is on.

    ``"offline-cpu"``: no GPU, the shipped tiny model and data. ``"t4"``: a CUDA GPU below compute
    capability 8.0 (Colab/Kaggle T4), fp16, small hub models. ``"big-gpu"``: compute capability
    >= 8.0, bf16, larger hub models.
    """
    device = get_device()
    if device.type != "cuda":
        return "offline-cpu"
    return "big-gpu" if compute_dtype(device) == torch.bfloat16 else "t4"


def print_versions() -> None:
    """One line per package, for the version cell (marked ``# NBVAL_SKIP``)."""
    for name, version in versions().items():
        print(f"{name:>13}: {version}")
    print(f"{'device':>13}: {get_device()} -> {compute_dtype()}")
