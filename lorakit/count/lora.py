"""How many parameters LoRA trains: r·Σ(in + out) over the adapted layers, and tables of it.

A LoRA pair on a layer W (out × in) adds A (r × in) and B (out × r): r·(in + out) parameters,
against in·out for the full ΔW. Summed over the target layers this is the whole adapter, exactly
what PEFT's ``print_trainable_parameters`` reports as "trainable params" (no bias is trained).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from torch import nn

from lorakit.lora.inject import find_targets
from lorakit.lora.layer import check_rank
from lorakit.count.architectures import meta_model
from lorakit.memory.bits import format_bytes, model_bytes
from lorakit.count.params import count_parameters, format_trainable


@dataclass(frozen=True)
class LoRACount:
    """LoRA on one architecture: what trains, and what the full model then holds."""
    trainable: int  # r·Σ(in + out) over the target layers
    base: int       # parameters of the model without LoRA
    n_layers: int   # how many nn.Linear layers carry a LoRA pair

    @property
    def total(self) -> int:
        """Base plus LoRA parameters: PEFT's "all params"."""
        return self.base + self.trainable

    @property
    def percent(self) -> float:
        """Trainable share of ``total``, in percent (PEFT's "trainable%")."""
        return 100 * self.trainable / self.total

    def __str__(self) -> str:
        return format_trainable(self.trainable, self.total)


def lora_parameter_count(model: nn.Module, target_modules: str | Iterable[str], r: int) -> int:
    """r·Σ(in_features + out_features) over the layers ``target_modules`` selects in ``model``.

    Uses the same matching as :func:`lorakit.lora.inject_lora` (``"all-linear"`` or names).
    """
    check_rank(r)
    names = find_targets(model, target_modules)
    return sum(r * (model.get_submodule(n).in_features + model.get_submodule(n).out_features)
               for n in names)


@lru_cache(maxsize=32)
def _shared_meta_model(name: str) -> nn.Module:
    """A meta model per config name, cached; only read, never modified."""
    return meta_model(name)


def count_lora(model: nn.Module | str, target_modules: str | Iterable[str], r: int) -> LoRACount:
    """Trainable and total parameters of LoRA with rank ``r`` on ``target_modules``.

    Args:
        model: a model (any device, meta included) without LoRA, or the name of a shipped
            config (``"meta-llama/Llama-2-7b-hf"``, see :func:`~lorakit.count.available_configs`).
        target_modules: ``"all-linear"`` or a list of module names, as for ``inject_lora``.
        r: the LoRA rank.

    ``str(count_lora("meta-llama/Llama-2-7b-hf", ["q_proj", "v_proj"], 8))`` is PEFT's line
    ``trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622``.
    """
    if isinstance(model, str):
        model = _shared_meta_model(model)
    trainable = lora_parameter_count(model, target_modules, r)
    return LoRACount(trainable=trainable, base=count_parameters(model)[1],
                     n_layers=len(find_targets(model, target_modules)))


def lora_table(names: Sequence[str], targets: dict[str, str | list[str]], ranks: Sequence[int],
               adapter_format: str = "fp16", model_format: str = "fp16") -> list[dict]:
    """One row per (architecture, targets, r): the counts and checkpoint sizes, for printing.

    Args:
        names: shipped config names.
        targets: label -> target_modules, e.g. ``{"q,v": ["q_proj", "v_proj"], "all-linear": "all-linear"}``.
        ranks: LoRA ranks.
        adapter_format, model_format: storage formats for the sizes (see ``memory.BITS_PER_PARAM``).
    """
    rows = []
    for name in names:
        for label, target_modules in targets.items():
            for r in ranks:
                c = count_lora(name, target_modules, r)
                rows.append({"model": name.split("/")[-1], "targets": label, "r": r,
                             "trainable": c.trainable, "trainable%": c.percent,
                             "adapter": format_bytes(model_bytes(c.trainable, adapter_format)),
                             "model size": format_bytes(model_bytes(c.base, model_format))})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """Rows of dicts as an aligned text table (ints with thousands separators, % to 4 places)."""
    if not rows:
        return ""
    def cell(v):
        return f"{v:,d}" if isinstance(v, int) else f"{v:.4f}" if isinstance(v, float) else str(v)
    cols = list(rows[0])
    cells = [[cell(row[c]) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
