"""What QA-LoRA's group size leaves its adapter: groups per row, the update's rank, the input it sees.

Notebook 06's sweep loses QA-LoRA at groups of 128 on the shipped model. Its layers are 128 wide (and the
MLP's down projection 512), so with groups of 128 a 128-wide input forms L = in / g = 1 group: A sees only
the sum of the input's features and the update s·B·A·pool(x) has rank at most 1. The measurements:

* :func:`groups_per_row`: L for every input width of the model's targets;
* :func:`pooled_energy`: the share of the input's energy (squared norm) that pooling keeps, the part of x
  lying in the span of the L group indicators (a direction drawn at random keeps L / in of it);
* :func:`delta_spectrum`: per trained layer, the singular values of the update ΔW, its rank and the share
  of its energy in the largest singular value;
* :func:`qalora_model_by_width`: QA-LoRA with a group size per input width, the control that changes
  only the layers of one width.

``scripts/producers/qalora_group_cause.py`` trains the runs (a learning rate per method chosen on
validation) and writes ``data/results/06_qalora_group_cause.json``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from lorakit.lora import find_targets
from lorakit.lora.layer import LoRALayer
from lorakit.qalora.groupwise import check_bits, check_quant_group_size
from lorakit.qalora.layer import QALoRALinear, pool_groups


def groups_per_row(model: nn.Module, group_size: int, target_modules="all-linear") -> dict[int, int]:
    """``{in_features: L}`` over the target layers: how many groups of ``group_size`` each input width has."""
    out = {}
    for name in find_targets(model, target_modules):
        width = model.get_submodule(name).in_features
        check_quant_group_size(group_size, width, name)
        out[width] = width // group_size
    return dict(sorted(out.items()))


def pooled_energy(x: torch.Tensor, group_size: int) -> float:
    """The share of ``x``'s squared norm that lies in the span of the group indicators, mean over rows.

    QA-LoRA's A reads ``pool_groups(x)``: the projection of x onto the L indicator vectors of the groups,
    whose squared norm is ``sum_l (sum of group l)^2 / group_size``. A share near 1 means pooling keeps almost
    all of x; a random direction keeps ``1 / group_size`` on average. ``x``: (..., in_features), rows with a
    zero norm (padding) are skipped.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise TypeError("x must be a tensor of shape (..., in_features)")
    x = x.detach().float().reshape(-1, x.shape[-1])
    norms = x.pow(2).sum(-1)
    keep = norms > 0
    if not keep.any():
        raise ValueError("x has no row with a non-zero norm")
    kept = pool_groups(x[keep], group_size).pow(2).sum(-1) / group_size
    return (kept / norms[keep]).mean().item()


@torch.no_grad()
def capture_inputs(model: nn.Module, tokenizer, prompts: Sequence[str], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """``{name: (tokens, in_features)}``: what each named layer receives on ``prompts``, padding left out."""
    if not prompts:
        raise ValueError("capture_inputs needs at least one prompt")
    seen, hooks = {}, []
    for name in names:
        hooks.append(model.get_submodule(name).register_forward_hook(
            lambda module, args, out, name=name: seen.__setitem__(name, args[0].detach().float())))
    try:
        device = next(model.parameters()).device
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True).to(device)
        model.eval()
        model(**enc)
    finally:
        for h in hooks:
            h.remove()
    real = enc["attention_mask"].bool().cpu()
    return {name: x.cpu()[real] for name, x in seen.items()}


def effective_rank(singular_values: torch.Tensor, share: float = 0.99) -> int:
    """How many of the largest singular values hold ``share`` of the energy (sum of their squares)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    s = singular_values.detach().float().flatten().sort(descending=True).values
    energy = s.pow(2)
    total = energy.sum()
    if total == 0:
        return 0
    return int((energy.cumsum(0) / total < share - 1e-7).sum().item()) + 1


@torch.no_grad()
def delta_spectrum(model: nn.Module, top: int = 8) -> dict[str, dict]:
    """Per adapter layer (LoRA or QA-LoRA): the update ΔW's rank (``torch.linalg.matrix_rank``), its
    99%-energy rank (:func:`effective_rank`), the share of its energy in the largest singular value, and the
    ``top`` largest singular values."""
    out = {}
    for name, layer in model.named_modules():
        if isinstance(layer, LoRALayer):
            delta = layer.delta_weight().float()
            s = torch.linalg.svdvals(delta)
            energy = s.pow(2).sum()
            out[name] = {"in_features": delta.shape[1], "out_features": delta.shape[0],
                         "group_size": getattr(layer, "group_size", None),
                         "rank": int(torch.linalg.matrix_rank(delta).item()),
                         "rank99": effective_rank(s, 0.99),
                         "top_share": (s[0].pow(2) / energy).item() if energy > 0 else 0.0,
                         "singular_values": [round(v, 6) for v in s[:top].tolist()]}
    if not out:
        raise ValueError("the model has no LoRA or QA-LoRA layers")
    return out


def spectrum_by_width(spectrum: Mapping[str, Mapping]) -> dict[int, dict]:
    """:func:`delta_spectrum` summarized per input width: layers, the largest rank, the median 99%-energy rank and
    the mean share of the top singular value."""
    widths: dict[int, list] = {}
    for row in spectrum.values():
        widths.setdefault(row["in_features"], []).append(row)
    out = {}
    for width, rows in sorted(widths.items()):
        r99 = sorted(r["rank99"] for r in rows)
        out[width] = {"layers": len(rows), "max_rank": max(r["rank"] for r in rows), "median_rank99": r99[len(r99) // 2],
                      "mean_top_share": sum(r["top_share"] for r in rows) / len(rows)}
    return out


def qalora_model_by_width(base: nn.Module, config, bits: int, group_for_width: Mapping[int, int],
                          target_modules="all-linear") -> nn.Module:
    """A copy of ``base`` with QA-LoRA on every target, the group size chosen by the layer's input width.

    As :func:`lorakit.studies.qalora_compare.qalora_model` (seeded by ``config.seed``, same rank and α), but
    ``group_for_width`` maps each input width to its group size, e.g. ``{128: 64, 512: 128}``: groups of 128
    where the input is 512 wide, 64 where it is 128 wide. Every width of the targets must be mapped.
    """
    check_bits(bits)
    model = copy.deepcopy(base)
    names = find_targets(model, target_modules)
    for name in names:
        width = model.get_submodule(name).in_features
        if width not in group_for_width:
            raise ValueError(f"{name} is {width} wide: group_for_width has no group size for it "
                             f"(it maps {sorted(group_for_width)})")
        check_quant_group_size(group_for_width[width], width, name)
    torch.manual_seed(config.seed)
    model.requires_grad_(False)
    for name in names:
        layer = model.get_submodule(name)
        model.set_submodule(name, QALoRALinear(layer, config.r, config.lora_alpha, group_for_width[layer.in_features], bits))
    return model


__all__ = ["capture_inputs", "delta_spectrum", "effective_rank", "groups_per_row", "pooled_energy",
           "qalora_model_by_width", "spectrum_by_width"]
