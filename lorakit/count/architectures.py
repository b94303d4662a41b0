"""Real architectures from their ``config.json`` alone: built on the meta device, no weights.

``data/architectures/`` ships the hub configs of the models the course counts (Llama-2 7B/13B/70B,
LLaMA-33B/65B, Mistral-7B, Qwen2.5 0.5B/1.5B, SmolLM2 135M/360M), named ``<org>--<name>.json`` after
the hub id. A model built under ``torch.device("meta")`` has every parameter's shape and no storage,
so a 70B model costs a fraction of a second and no memory, and its counts are exact.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from lorakit.course.paths import ARCHITECTURES_DIR, TINY_LM_ALIASES, TINY_LM_DIR


def available_configs() -> list[str]:
    """Hub ids of the shipped configs, e.g. ``"meta-llama/Llama-2-7b-hf"``, sorted."""
    return sorted(p.stem.replace("--", "/", 1) for p in ARCHITECTURES_DIR.glob("*.json"))


def config_path(name: str | Path) -> Path:
    """The ``config.json`` for a shipped hub id, ``"tiny-lm"`` (the shipped model), a folder, or a JSON file."""
    if str(name) in TINY_LM_ALIASES:
        return TINY_LM_DIR / "config.json"
    shipped = ARCHITECTURES_DIR / (str(name).replace("/", "--") + ".json")
    if shipped.is_file():
        return shipped
    path = Path(name)
    if path.is_dir() and (path / "config.json").is_file():
        return path / "config.json"
    if path.is_file():
        return path
    raise ValueError(f"no config for {str(name)!r}: expected one of {available_configs()}, "
                     f"{TINY_LM_ALIASES[0]!r}, or a path to a config.json (the hub is not consulted)")


def load_config_dict(name: str | Path) -> dict:
    """The raw ``config.json`` contents as a dict (see :func:`config_path` for ``name``)."""
    return json.loads(config_path(name).read_text())


def load_hf_config(name: str | Path):
    """A ``transformers`` config object (``LlamaConfig``, ``Qwen2Config``, ...) for ``name``."""
    from transformers import AutoConfig

    raw = load_config_dict(name)
    model_type = raw.pop("model_type", None)
    if model_type is None:
        raise ValueError(f"{config_path(name)} has no 'model_type' field, so its class is unknown")
    return AutoConfig.for_model(model_type, **raw)


def meta_model(name_or_config) -> torch.nn.Module:
    """An ``AutoModelForCausalLM`` on the meta device: every shape, no weights, no download.

    Args:
        name_or_config: a name accepted by :func:`load_hf_config`, or a ``transformers`` config.
    """
    from transformers import AutoModelForCausalLM, PretrainedConfig

    is_config = isinstance(name_or_config, PretrainedConfig)
    config = name_or_config if is_config else load_hf_config(name_or_config)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
