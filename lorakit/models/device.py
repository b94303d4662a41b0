"""Which device and which compute dtype the course uses on this machine.

The rule the course follows everywhere:

* CUDA GPU with compute capability >= 8.0 (A100, L4, RTX 30xx/40xx, H100): ``bfloat16``.
* Any other CUDA GPU (a T4 is 7.5): ``float16``. ``torch.cuda.is_bf16_supported()`` answers
  True on a T4 because bf16 is emulated there, slowly, so it is deliberately not consulted.
* CPU: ``float32``.

``$LORAKIT_DTYPE`` (``float32``, ``float16`` or ``bfloat16``) overrides the rule everywhere: ``make
t4-sim`` sets ``float16`` to run the T4's number format on the CPU.
"""
from __future__ import annotations

import os

import torch

BF16_MIN_CAPABILITY = (8, 0)
DTYPE_ENV = "LORAKIT_DTYPE"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def get_device() -> torch.device:
    """The device the course trains on: ``cuda`` when a CUDA GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(device: torch.device | str | None = None) -> torch.dtype:
    """The dtype for matrix work on ``device`` (default: :func:`get_device`).

    bf16 needs compute capability >= 8.0; a T4 (7.5) gets fp16; the CPU gets fp32.
    ``$LORAKIT_DTYPE`` overrides this (see the module docstring).
    """
    forced = os.environ.get(DTYPE_ENV)
    if forced:
        if forced not in DTYPES:
            raise ValueError(f"${DTYPE_ENV} must be one of {sorted(DTYPES)}, got {forced!r}")
        return DTYPES[forced]
    device = torch.device(device) if device is not None else get_device()
    if device.type != "cuda":
        return torch.float32
    capability = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if capability >= BF16_MIN_CAPABILITY else torch.float16


HARDWARE_TIERS = ("cpu", "t4", "gpu")


def hardware_tier(device: torch.device | str | None = None) -> str:
    """Which kind of machine ``device`` is (default :func:`get_device`), by what it computes in.

    ``"cpu"``: no CUDA GPU. ``"t4"``: a CUDA GPU below compute capability 8.0 (T4, V100: fp16).
    ``"gpu"``: compute capability >= 8.0 (A100, L4, H100: bf16). :mod:`lorakit.models.presets` picks the
    run settings from this tier and the model. ``$LORAKIT_DTYPE`` does not change the tier.
    """
    device = torch.device(device) if device is not None else get_device()
    if device.type != "cuda":
        return "cpu"
    return "gpu" if torch.cuda.get_device_capability(device) >= BF16_MIN_CAPABILITY else "t4"


def describe() -> str:
    """One line naming the device, the GPU if any, and the compute dtype."""
    device = get_device()
    dtype = str(compute_dtype(device)).replace("torch.", "")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        return f"cuda: {name} (compute capability {major}.{minor}), compute dtype {dtype}"
    return f"cpu ({torch.get_num_threads()} threads), compute dtype {dtype}"
