"""Run settings that follow from the model and the hardware, so ``MODEL_ID`` is the one edit.

A notebook is written with its CPU numbers (steps, evaluation sizes, time caps, for the shipped
model on 2 cores). The preset scales them and supplies what depends on the model (learning rates,
batch sizes, sequence length):

    P = presets.resolve(MODEL_ID)            # prints one line naming the preset
    steps = P.steps(300)                     # 300 on the CPU path, 6 in the T4 simulation
    n_eval = P.n_eval(200)
    config = TrainConfig(lr=P.lora_lr, batch_size=P.batch_size, max_steps=steps,
                         max_seconds=P.seconds(60))

The presets (pick one by name with ``$LORAKIT_PRESET`` or ``resolve(..., preset="t4")``):

=========  ==========================================================================
``cpu``    the shipped tiny model, on a CPU (or any GPU): the course's default path
``t4``     a hub model (SmolLM2-135M/360M class) on a GPU below compute capability 8.0, fp16
``gpu``    a hub model on a GPU of compute capability >= 8.0 (A100, L4, H100), bf16
``cpu-hub``  a hub model on a CPU: runs, but with few steps and small evaluations
``sim``    ``make t4-sim``: every code path of the T4 path, on the CPU, in float16, minimal sizes
=========  ==========================================================================

Any field can be overridden: ``resolve(MODEL_ID, lora_lr=1e-4, step_scale=2.0)``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

from lorakit.models.device import hardware_tier

PRESET_ENV = "LORAKIT_PRESET"


@dataclass(frozen=True)
class Preset:
    name: str
    lora_lr: float = 2e-3          # LoRA learning rate (tiny model likes it high; ~2e-4 for 100M+ models)
    full_lr: float = 1e-3          # full fine-tuning learning rate
    batch_size: int = 16           # training batch (examples)
    eval_batch_size: int = 32      # generation batch for exact match
    ppl_batch_size: int = 16       # documents per forward pass for perplexity
    max_length: int = 512          # longest training sequence, in tokens
    step_scale: float = 1.0        # multiplies a notebook's CPU step counts
    eval_scale: float = 1.0        # multiplies a notebook's CPU evaluation sizes
    time_scale: float = 1.0        # multiplies a notebook's CPU wall-clock caps
    live_sweeps: bool = False      # run sweeps live instead of loading the shipped table
    description: str = ""

    def steps(self, cpu_steps: int, minimum: int = 2) -> int:
        """A step count for this preset, given the notebook's CPU value."""
        return max(minimum, round(cpu_steps * self.step_scale))

    def n_eval(self, cpu_n: int, minimum: int = 4) -> int:
        """An evaluation size (examples, documents) for this preset, given the CPU value."""
        return max(minimum, round(cpu_n * self.eval_scale))

    def seconds(self, cpu_seconds: float | None) -> float | None:
        """A wall-clock cap for this preset, given the CPU value (``None`` stays ``None``)."""
        return None if cpu_seconds is None else cpu_seconds * self.time_scale

    def __str__(self) -> str:
        return f"preset {self.name!r}: {self.description}"


PRESETS = {
    "cpu": Preset("cpu", description="the shipped tiny model; CPU numbers as written in the notebook"),
    "t4": Preset("t4", lora_lr=2e-4, full_lr=2e-5, batch_size=8, eval_batch_size=16, ppl_batch_size=4,
                 max_length=512, step_scale=1.0, eval_scale=1.0, time_scale=3.0,
                 description="a hub model on a T4-class GPU (fp16); learning rates for 100M+ models"),
    "gpu": Preset("gpu", lora_lr=2e-4, full_lr=2e-5, batch_size=16, eval_batch_size=32, ppl_batch_size=8,
                  max_length=1024, step_scale=1.0, eval_scale=1.0, time_scale=2.0, live_sweeps=True,
                  description="a hub model on a bf16 GPU (compute capability >= 8.0)"),
    "cpu-hub": Preset("cpu-hub", lora_lr=2e-4, full_lr=2e-5, batch_size=4, eval_batch_size=8,
                      ppl_batch_size=2, max_length=256, step_scale=0.1, eval_scale=0.2, time_scale=1.0,
                      description="a hub model on a CPU: few steps and small evaluations, slow"),
    "sim": Preset("sim", lora_lr=2e-4, full_lr=2e-5, batch_size=2, eval_batch_size=4, ppl_batch_size=2,
                  max_length=128, step_scale=0.02, eval_scale=0.05, time_scale=0.1,
                  description="T4 simulation on the CPU (make t4-sim): float16, every code path, minimal sizes"),
}


def choose(shipped_model: bool, device: torch.device | None = None) -> str:
    """The preset's name for the model kind and the machine's tier (``$LORAKIT_PRESET`` wins).

    The shipped model gets ``cpu`` everywhere; a hub model gets the tier of ``device`` (see
    :func:`lorakit.models.device.hardware_tier`): ``t4`` or ``gpu``, or ``cpu-hub`` without a GPU.
    """
    forced = os.environ.get(PRESET_ENV)
    if forced:
        if forced not in PRESETS:
            raise ValueError(f"${PRESET_ENV} must be one of {sorted(PRESETS)}, got {forced!r}")
        return forced
    if shipped_model:
        return "cpu"
    tier = hardware_tier(device)
    return "cpu-hub" if tier == "cpu" else tier


def get(name: str, **overrides) -> Preset:
    """The preset called ``name``, with ``overrides`` (field=value) applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(Preset)} - {"name"}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown preset field(s) {sorted(unknown)}; expected some of {sorted(fields)}")
    return dataclasses.replace(PRESETS[name], **overrides)


def resolve(model_id=None, preset: str | None = None, quiet: bool = False, **overrides) -> Preset:
    """The preset for ``model_id`` on this machine (see the module docstring), overrides applied.

    Args:
        model_id: the notebook's ``MODEL_ID`` (``None``: the shipped model, or ``$LORAKIT_MODEL_ID``).
        preset: a preset name, to choose one by hand.
        quiet: do not print the line naming the preset.
        **overrides: any :class:`Preset` field, e.g. ``lora_lr=1e-4``.
    """
    from lorakit.models.loading import is_shipped

    name = preset or choose(is_shipped(model_id))
    chosen = get(name, **overrides)
    if not quiet:
        print(chosen)
    return chosen


__all__ = ["PRESETS", "PRESET_ENV", "Preset", "choose", "get", "resolve"]
