"""Paged optimizers, shown on a GPU: a memory spike that plain AdamW cannot survive and the paged one can.

bitsandbytes' paged optimizers allocate their state tensors (for parameters of at least 1e5
elements) with ``cudaMallocManaged``: CUDA unified memory, which the driver may move page by page
between GPU and CPU RAM. When the GPU runs short, for instance when one long sequence briefly needs
far more activation memory than the others, the driver evicts the optimizer state's pages to CPU RAM;
``optimizer.step()`` prefetches them back for the update. Without a spike nothing moves, so paging
costs nothing (QLoRA, Dettmers et al. 2023, §3; bitsandbytes' documentation, "Paged optimizers").

:func:`spike_demo` builds that situation on whatever GPU it finds, sized from its free memory:
weights + gradients take ``weights_fraction`` of it, AdamW's two float32 states as much again, and at
``spike_step`` a tensor of ``spike_fraction`` is held through the backward pass. With plain AdamW
the spike does not fit (weights + gradients + states + spike > the device); with the paged one it
fits once the states are evicted. On the CPU there is nothing to page: bitsandbytes 0.50 falls back
to ordinary tensors with a warning, and this module says so instead of running.
"""
from __future__ import annotations

import time

import torch
from torch import nn

OPTIMIZERS = ("adamw_32bit", "paged_adamw_32bit")


def _sample(timeline: list[tuple[float, float, float]], start: float, device) -> None:
    free, total = torch.cuda.mem_get_info(device)
    timeline.append((time.perf_counter() - start, torch.cuda.memory_allocated(device) / 1e9, (total - free) / 1e9))


def spike_demo(optimizer: str, steps: int = 4, spike_step: int = 2, weights_fraction: float = 0.25,
               spike_fraction: float = 0.6, width: int = 8192, device: str | torch.device = "cuda") -> dict:
    """Train a stack of ``width`` × ``width`` linear layers for ``steps`` steps with a spike at ``spike_step``.

    Args:
        optimizer: ``"adamw_32bit"`` (``bnb.optim.AdamW32bit``) or ``"paged_adamw_32bit"``
            (``bnb.optim.PagedAdamW32bit``): the same update, states in device or in unified memory.
        weights_fraction: share of the free GPU memory taken by float32 weights plus gradients.
        spike_fraction: share of the free GPU memory taken by the spike (held during one backward).

    Returns:
        ``{"optimizer", "completed": bool, "error": str | None, "steps_done": int,
        "timeline": [(seconds, GB allocated by PyTorch, GB in use on the device), ...],
        "capacity_gb": total device memory}``. Unified memory is not in PyTorch's count; the
        device-wide figure (``cudaMemGetInfo``) includes whatever of it is resident.
    """
    import bitsandbytes as bnb

    if not torch.cuda.is_available():
        raise RuntimeError("spike_demo needs a CUDA GPU: on the CPU bitsandbytes' paged optimizers fall back "
                           "to ordinary tensors, so there is nothing to page")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    device = torch.device(device)
    free, total = torch.cuda.mem_get_info(device)
    n_layers = max(1, int(weights_fraction * free / 8) // (width * width))  # 8 bytes: weight + gradient
    cls = bnb.optim.PagedAdamW32bit if optimizer.startswith("paged") else bnb.optim.AdamW32bit
    result = {"optimizer": optimizer, "completed": False, "error": None, "steps_done": 0, "timeline": [],
              "capacity_gb": total / 1e9, "layers": n_layers, "spike_gb": spike_fraction * free / 1e9}
    start = time.perf_counter()
    model = opt = spike = None
    try:
        model = nn.Sequential(*[nn.Linear(width, width, bias=False) for _ in range(n_layers)]).to(device)
        opt = cls(model.parameters(), lr=1e-5)
        x = torch.randn(8, width, device=device)
        for step in range(1, steps + 1):
            loss = model(x).float().pow(2).mean()
            _sample(result["timeline"], start, device)
            if step == spike_step:  # e.g. one batch of very long sequences
                spike = torch.ones(int(spike_fraction * free), dtype=torch.uint8, device=device)
                _sample(result["timeline"], start, device)
            loss.backward()
            spike = None
            _sample(result["timeline"], start, device)
            opt.step()
            opt.zero_grad(set_to_none=False)  # keep the gradients allocated, as a training loop's memory stays
            torch.cuda.synchronize(device)
            _sample(result["timeline"], start, device)
            result["steps_done"] = step
        result["completed"] = True
    except torch.OutOfMemoryError as err:
        result["error"] = str(err).split("\n")[0][:160]
        _sample(result["timeline"], start, device)
    finally:
        del model, opt, spike
        torch.cuda.empty_cache()
    return result


__all__ = ["OPTIMIZERS", "spike_demo"]
