"""Which hardware a recipe config needs: the training-memory estimator of notebook 04, per process.

``lorakit-train --config X --estimate`` prints this without loading a weight (the architecture comes
from a shipped config or a local ``config.json``; see :func:`lorakit.count.architectures.config_path`).

Per process, data parallel (DDP) keeps a whole copy of everything; FSDP shards the weights, the
gradients and the optimizer states over the processes and keeps each process's own activations.
Left out, as in :mod:`lorakit.memory.estimate`: the CUDA context (about 0.3-0.5 GB), allocator
fragmentation and short-lived temporaries; what fits keeps ``FIT_MARGIN_GIB`` (1 GiB) free for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lorakit.memory.estimate import (DTYPE_BYTES, OPTIMIZERS, Footprint, TrainingSetup, estimate_footprint,
                                     smallest_gpu)
from lorakit.course.paths import TINY_LM_ALIASES
from lorakit.recipe.config import RecipeConfig

_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
_SHARDED = ("base_weights", "lora_weights", "gradients", "optimizer_states")


@dataclass(frozen=True)
class RecipeEstimate:
    """The estimated bytes of each part of one training step on one process."""
    footprint: Footprint     # the whole model's parts, before sharding
    processes: int           # how many processes share the work
    strategy: str            # "ddp" (every process holds everything) or "fsdp" (shards)
    dtype: str = "bf16"      # compute dtype: bf16 needs compute capability >= 8.0, so not a T4

    def per_process(self) -> dict[str, float]:
        """``{part: bytes}`` on one process."""
        parts = self.footprint.as_dict()
        if self.strategy == "fsdp":
            parts = {k: v / self.processes if k in _SHARDED else v for k, v in parts.items()}
        return parts

    @property
    def total(self) -> float:
        return sum(self.per_process().values())

    def fits(self) -> str:
        """The smallest GPU that holds one process (:func:`lorakit.memory.estimate.smallest_gpu`; bf16: no T4)."""
        return smallest_gpu(self.total, self.dtype)

    def __str__(self) -> str:
        lines = [f"estimated memory per process ({self.strategy}, {self.processes} process"
                 f"{'es' if self.processes > 1 else ''}):"]
        lines += [f"  {part:<17} {_size(b)}" for part, b in self.per_process().items()]
        lines.append(f"  {'total':<17} {_size(self.total)}  -> fits: {self.fits()}")
        return "\n".join(lines)


def _size(b: float) -> str:
    return f"{b / 2**30:8.2f} GiB" if b >= 2**30 else f"{b / 2**20:8.1f} MiB"   # GPUs are sold in GiB


def training_setup(cfg: RecipeConfig, device_dtype: str = "bf16") -> TrainingSetup:
    """The :class:`~lorakit.memory.estimate.TrainingSetup` a recipe config describes.

    ``device_dtype`` ("fp32", "fp16" or "bf16") stands for ``model.dtype: auto``, which the
    machine decides at run time (lorakit.models.device's rule: fp32 CPU, fp16 T4, bf16 at compute
    capability >= 8.0).
    """
    if device_dtype not in DTYPE_BYTES:
        raise ValueError(f"device_dtype must be one of {list(DTYPE_BYTES)}, got {device_dtype!r}")
    dtype = _DTYPES.get(cfg.model.dtype, device_dtype)
    optim = cfg.training.optim if cfg.training.optim in OPTIMIZERS else "adamw_torch"
    targets = cfg.lora.target_modules
    setup = dict(method=cfg.method, r=cfg.lora.r,
                 target_modules=targets if isinstance(targets, str) else tuple(targets),
                 batch_size=cfg.training.per_device_batch_size, seq_len=cfg.data.max_length,
                 optimizer=optim, gradient_checkpointing=cfg.training.gradient_checkpointing, dtype=dtype)
    if cfg.method == "qlora" and cfg.quantization is not None:
        setup["double_quant"] = cfg.quantization.double_quant
    return TrainingSetup(**setup)


def estimate(cfg: RecipeConfig, processes: int = 1, device_dtype: str = "bf16") -> RecipeEstimate:
    """Estimated memory of one process running ``cfg`` on ``processes`` processes.

    The strategy is the config's ``distributed.strategy`` (``auto``/``none``/``ddp`` count as data
    parallel). Raises ``ValueError`` for a model whose architecture is not available offline.
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive int, got {processes!r}")
    model_id = "tiny-lm" if cfg.model.id in TINY_LM_ALIASES else cfg.model.id
    setup = training_setup(cfg, device_dtype)
    strategy = "fsdp" if cfg.distributed.strategy == "fsdp" else "ddp"
    return RecipeEstimate(footprint=estimate_footprint(model_id, setup), processes=processes,
                          strategy=strategy, dtype=setup.dtype)



def hardware_table(config_paths=None, processes=(1, 2, 8), device_dtype: str = "fp16") -> str:
    """A text table: for each config and process count, GiB per process and the smallest GPU that fits.

    ``config_paths`` default to every YAML file in ``configs/``; ``device_dtype`` stands for
    ``model.dtype: auto`` (fp16: what a T4 computes in).
    """
    from lorakit.course.paths import RECIPES_DIR
    from lorakit.recipe.config import load_recipe

    if config_paths is None:
        config_paths = sorted(RECIPES_DIR.glob("*.yaml"))
    head = f"{'config':<22}{'method':<7}{'model':<26}" + "".join(f"{f'{n} GPU' + ('s' if n > 1 else ''):>22}" for n in processes)
    rows = [head, "-" * len(head)]
    for path in config_paths:
        cfg = load_recipe(path)
        cells = []
        for n in processes:
            est = estimate(cfg, processes=n, device_dtype=device_dtype)
            cells.append(f"{est.total / 2**30:6.1f} GiB {est.fits().split(' (')[0][:10]:>10}")
        name = Path(path).name.removesuffix(".yaml")
        rows.append(f"{name:<22}{cfg.method:<7}{cfg.model.id.split('/')[-1][:25]:<26}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(rows)
__all__ = ["RecipeEstimate", "estimate", "hardware_table", "training_setup"]
