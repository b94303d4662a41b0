"""Putting LoRA into a model, freezing everything else, and saving only the adapter.

``inject_lora`` swaps the chosen ``nn.Linear`` children of any model for :class:`LoRALinear`
wrappers and freezes everything else with :func:`mark_only_lora_as_trainable` (litgpt's name), as
PEFT's ``get_peft_model`` does. Module names are matched the way PEFT matches a list of
``target_modules``: a module is a target when its full name equals the entry or ends with
``"." + entry`` (``"q_proj"`` matches ``model.layers.0.self_attn.q_proj``). Taking LoRA out again
(merging) is :mod:`lorakit.lora.merge`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import Tensor, nn

from lorakit.lora.layer import LoRALinear, scaling_factor

ALL_LINEAR = "all-linear"


def lora_layers(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    """(name, layer) for every :class:`LoRALinear` in ``model``, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            yield name, module


def _output_head_name(model: nn.Module) -> str | None:
    """The name of the output projection (``lm_head``) if the model says which one it is."""
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if head is None:
        return None
    return next((name for name, module in model.named_modules() if module is head), None)


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Named modules outside any LoRALinear (so a LoRA branch is never wrapped again)."""
    inside = {f"{name}.{sub}" for name, layer in lora_layers(model)
              for sub, _ in layer.named_modules() if sub}
    return [(name, m) for name, m in model.named_modules() if name and name not in inside]


def find_targets(model: nn.Module, target_modules: str | Iterable[str]) -> list[str]:
    """The full names of the modules :func:`inject_lora` would wrap.

    Args:
        model: any ``nn.Module`` with ``nn.Linear`` children.
        target_modules: ``"all-linear"`` (every ``nn.Linear`` except the output head, as PEFT),
            a module name such as ``"q_proj"``, or a list of names (``["q_proj", "v_proj"]``).

    Raises:
        ValueError: an entry matches no module, or a match already carries LoRA.
        TypeError: a match is not an ``nn.Linear`` (e.g. ``"mlp"`` or ``"embed_tokens"``).
    """
    candidates = _candidates(model)
    if isinstance(target_modules, str) and target_modules.lower() == ALL_LINEAR:
        head = _output_head_name(model)
        names = [n for n, m in candidates if isinstance(m, nn.Linear) and n != head]
        if not names:
            raise ValueError("target_modules='all-linear' found no nn.Linear layer to adapt")
        return names
    entries = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if not entries or not all(isinstance(e, str) and e for e in entries):
        raise TypeError(f"target_modules must be 'all-linear' or a non-empty list of module names, "
                        f"got {target_modules!r}")
    names = []
    for entry in entries:
        matches = [(n, m) for n, m in candidates if n == entry or n.endswith("." + entry)]
        if not matches:
            raise ValueError(f"target module {entry!r} matches no module of {type(model).__name__}; "
                             f"its linear layers are named {_linear_suffixes(model)}")
        for name, module in matches:
            _check_target(name, module)
            names.append(name)
    order = {n: i for i, (n, _) in enumerate(candidates)}
    return sorted(set(names), key=order.__getitem__)


def _check_target(name: str, module: nn.Module) -> None:
    if isinstance(module, LoRALinear):
        raise ValueError(f"{name} already has LoRA; merge_and_unload() it first or pick another module")
    if not isinstance(module, nn.Linear):
        raise TypeError(f"target {name} is a {type(module).__name__}, not an nn.Linear; "
                        f"name its linear children instead (e.g. {_linear_suffixes(module)})")


def _linear_suffixes(model: nn.Module) -> list[str]:
    """The distinct last name parts of the model's nn.Linear layers, e.g. ['q_proj', 'v_proj']."""
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})


def mark_only_lora_as_trainable(model: nn.Module) -> nn.Module:
    """Freeze every parameter of ``model`` except the ``lora_A`` / ``lora_B`` weights, in place.

    litgpt's ``mark_only_lora_as_trainable`` (with ``bias="none"``, PEFT's default too): biases and
    the frozen base weights inside each :class:`LoRALinear` stay frozen. Returns ``model``.
    """
    model.requires_grad_(False)
    for _, layer in lora_layers(model):
        layer.lora_A.requires_grad_(True)
        layer.lora_B.requires_grad_(True)
    return model


def inject_lora(model: nn.Module, target_modules: str | Iterable[str], r: int, lora_alpha: float,
                lora_dropout: float = 0.0, use_rslora: bool = False) -> nn.Module:
    """Wrap the target ``nn.Linear`` layers of ``model`` in :class:`LoRALinear`, in place.

    Then :func:`mark_only_lora_as_trainable`: only the ``lora_A`` / ``lora_B`` weights train.
    Because B starts at zero, the model's outputs are unchanged until the first optimizer step.

    Args:
        model: any ``nn.Module``; a Hugging Face causal LM keeps its ``lm_head`` out of
            ``"all-linear"`` (PEFT does the same).
        target_modules: see :func:`find_targets`.
        r, lora_alpha, lora_dropout, use_rslora: passed to every :class:`LoRALinear`.

    Returns:
        ``model`` itself (modified in place), for chaining.
    """
    scaling_factor(r, lora_alpha, use_rslora)  # fail on a bad r / alpha before touching the model
    names = find_targets(model, target_modules)
    for name in names:
        base = model.get_submodule(name)
        model.set_submodule(name, LoRALinear(base, r, lora_alpha, lora_dropout, use_rslora))
    return mark_only_lora_as_trainable(model)


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter weights: ``{"<module>.lora_A.weight": (r, in), "<module>.lora_B.weight": (out, r)}``.

    These are the keys of a PEFT adapter file without PEFT's ``"base_model.model."`` prefix, so
    ``{"base_model.model." + k: v}`` loads into a PEFT model with ``set_peft_model_state_dict``.
    """
    state = {}
    for name, layer in lora_layers(model):
        prefix = f"{name}." if name else ""
        state[f"{prefix}lora_A.weight"] = layer.lora_A.weight.detach()
        state[f"{prefix}lora_B.weight"] = layer.lora_B.weight.detach()
    return state
