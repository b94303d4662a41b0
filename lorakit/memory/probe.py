"""Training memory, measured part by part on a live model: the check for :mod:`lorakit.memory.estimate`.

On a CPU there is no allocator to ask, so each part is summed from the tensors that hold it:

* weights: every parameter, plus the 4-bit ``QuantState`` tensors (block scales, code books) that
  bitsandbytes hangs on a ``Params4bit``; split into trainable (LoRA) and frozen (base);
* gradients: every ``.grad``;
* optimizer states: every tensor in ``optimizer.state`` (moments, 8-bit scales, step counters);
* activations: the tensors autograd saves for backward, caught with
  ``torch.autograd.graph.saved_tensors_hooks`` during the forward pass.

Tensors are counted by storage, once each: a view, or one input saved by three layers, costs its
bytes once, as in memory. On a GPU, :func:`cuda_peak_bytes` adds what the allocator saw at its peak.

    fp = measure_footprint(model, batch, optimizer)   # a lorakit.memory.estimate.Footprint, in bytes
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from lorakit.memory.estimate import Footprint


def storage_key(t: torch.Tensor) -> tuple[str, int]:
    """(device, address) of the memory behind ``t``: equal for a tensor and all of its views."""
    return (str(t.device), t.untyped_storage().data_ptr())


def unique_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and repeats counted once)."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        if t is not None and t.device.type != "meta":
            seen.setdefault(storage_key(t), t.untyped_storage().nbytes())
    return sum(seen.values())


def _quant_state_tensors(p: torch.Tensor) -> list[torch.Tensor]:
    """The tensors of a bitsandbytes ``Params4bit``'s ``QuantState`` (none for a plain parameter)."""
    state = getattr(p, "quant_state", None)
    if state is None:
        return []
    found = [state.absmax, state.code, getattr(state, "offset", None)]
    nested = getattr(state, "state2", None)
    if nested is not None:
        found += [nested.absmax, nested.code]
    return [t for t in found if isinstance(t, torch.Tensor)]


def weight_bytes(model: nn.Module) -> tuple[int, int]:
    """(frozen, trainable) bytes of ``model``'s parameters; frozen includes 4-bit quantization state."""
    frozen = [t for p in model.parameters() if not p.requires_grad for t in (p, *_quant_state_tensors(p))]
    trainable = [p for p in model.parameters() if p.requires_grad]
    return unique_bytes(frozen), unique_bytes(trainable)


def gradient_bytes(model: nn.Module) -> int:
    """Bytes of the ``.grad`` tensors of ``model``'s parameters (after ``backward``)."""
    return unique_bytes(p.grad for p in model.parameters() if p.grad is not None)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's per-weight state tensors (call after at least one ``step``).

    The course's one rule for optimizer state, measured here and estimated by
    :func:`lorakit.memory.estimate.estimate_optimizer_states`: every state tensor of one or more
    dimensions (AdamW: ``exp_avg`` and ``exp_avg_sq``; bitsandbytes 8-bit: the codes and their block
    scales), each storage once. ``torch.optim.AdamW``'s step counter, a 0-d float32 tensor per
    weight (4 bytes; bitsandbytes keeps a Python int), is bookkeeping and is left out.
    """
    return unique_bytes(v for state in optimizer.state.values() for v in state.values()
                        if isinstance(v, torch.Tensor) and v.dim() > 0)


class SavedTensors:
    """Records the tensors autograd saves for backward while the context is open.

    Parameters (and their 4-bit state) of ``model`` are not activations and are left out.

        with SavedTensors(model) as saved:
            loss = model(**batch).loss
        saved.nbytes                        # activation memory kept until backward
        saved.by_shape()                    # [(shape, dtype, count, bytes), ...] largest first
    """

    def __init__(self, model: nn.Module | None = None):
        self._exclude = set()
        if model is not None:
            for p in model.parameters():
                self._exclude.update(storage_key(t) for t in (p, *_quant_state_tensors(p)))
            self._exclude.update(storage_key(b) for b in model.buffers())
        self._storages: dict[tuple[str, int], tuple[tuple[int, ...], torch.dtype, int]] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key = storage_key(t)
        if key not in self._exclude and key not in self._storages:
            self._storages[key] = (tuple(t.shape), t.dtype, t.untyped_storage().nbytes())
        return t

    def __enter__(self) -> SavedTensors:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)

    @property
    def nbytes(self) -> int:
        return sum(n for _, _, n in self._storages.values())

    def by_shape(self) -> list[tuple[tuple[int, ...], torch.dtype, int, int]]:
        """(shape as first saved, dtype, how many storages, their bytes), largest total first."""
        groups: dict[tuple, list[int]] = {}
        for shape, dtype, n in self._storages.values():
            groups.setdefault((shape, dtype), []).append(n)
        rows = [(shape, dtype, len(ns), sum(ns)) for (shape, dtype), ns in groups.items()]
        return sorted(rows, key=lambda row: -row[3])


def measure_footprint(model: nn.Module, batch: dict[str, torch.Tensor],
                      optimizer: torch.optim.Optimizer) -> Footprint:
    """One training step on ``batch`` (forward, backward, ``optimizer.step``), measured part by part.

    The model must return ``.loss`` (pass ``labels``). ``batch`` is moved to the model's device (a
    4-bit model lands on the GPU when one is present). Gradients are left in place (call
    ``optimizer.zero_grad()`` afterwards if training continues). Returns a
    :class:`~lorakit.memory.estimate.Footprint` in bytes, comparable with ``estimate_footprint``.
    """
    model.train()
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    with SavedTensors(model) as saved:
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    frozen, trainable = weight_bytes(model)
    full = not any(p.requires_grad is False for p in model.parameters())
    return Footprint(base_weights=trainable if full else frozen, lora_weights=0 if full else trainable,
                     gradients=gradient_bytes(model), optimizer_states=optimizer_state_bytes(optimizer),
                     activations=saved.nbytes)


def relative_errors(estimate: Footprint, measured: Footprint) -> dict[str, float]:
    """(estimate - measured) / measured for each part with a non-zero measurement."""
    est, meas = estimate.as_dict(), measured.as_dict()
    return {k: (est[k] - meas[k]) / meas[k] for k in meas if meas[k]}


def cuda_peak_bytes(fn: Callable[[], object], device: torch.device | str | None = None) -> int:
    """``torch.cuda.max_memory_allocated`` while ``fn()`` runs (GPU only), from a fresh peak counter."""
    if not torch.cuda.is_available():
        raise RuntimeError("cuda_peak_bytes needs a CUDA GPU; on the CPU use measure_footprint")
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)


__all__ = ["SavedTensors", "cuda_peak_bytes", "gradient_bytes", "measure_footprint", "optimizer_state_bytes",
           "relative_errors", "storage_key", "unique_bytes", "weight_bytes"]
