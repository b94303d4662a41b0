"""S²-Attn inside a transformers model, through its attention interface (no monkey-patching).

transformers 5 looks up every attention call by name: ``LlamaAttention.forward`` computes q, k, v
and the rotary embedding, then calls ``ALL_ATTENTION_FUNCTIONS[config._attn_implementation](module,
q, k, v, attention_mask, dropout=..., scaling=...)``. Registering a function under a new name and
switching the model to it (``model.set_attn_implementation(name)``) swaps the attention and nothing
else; switching back restores the model exactly. (The official LongLoRA code instead replaces
``LlamaAttention.forward`` with its own copy, tied to the transformers version it was copied from.)

    enable_s2_attn(model)      # train with S²-Attn, groups of a quarter of the sequence
    ...                        # lorakit.training.loop.finetune(model, ...)
    disable_s2_attn(model)     # evaluate with full attention, as LongLoRA does

The attention mask: transformers builds masks per attention name too (``AttentionMaskInterface``),
so the same name is registered there with transformers' own SDPA mask builder. The function below
then receives ``None`` for plain causal batches and a boolean ``(batch, 1, seq, seq)`` mask when
there is padding, and :func:`~lorakit.longlora.s2_attention.s2_attention` keeps each group's block of
it. Grouped-query attention (fewer key/value heads, as in SmolLM2 or Llama-2-70B) is handled by
repeating the key/value heads first, as transformers' SDPA path does.
"""
from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from lorakit.longlora.s2_attention import check_layers, s2_attention

S2_ATTN = "lorakit_s2_attn"
"""The name S²-Attn is registered under in transformers' ``AttentionInterface``."""
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2")
"""Architectures whose attention calls the interface with (batch, heads, seq, head_dim) q, k, v."""
_SETTINGS = "s2_attn"        # config attribute holding the group ratio, the mode and the previous implementation


def group_size_for(seq_len: int, group_size_ratio: float) -> int:
    """The group size LongLoRA uses for a sequence: ``int(seq_len * group_size_ratio)``.

    Raises ``ValueError`` (saying what lengths work) unless it is an even divisor of ``seq_len``.
    Example: 512 tokens, ratio 0.25 -> 128 (4 groups).
    """
    group_size = int(seq_len * group_size_ratio)
    if group_size < 2 or group_size % 2 or seq_len % group_size:
        parts = round(1 / group_size_ratio)
        raise ValueError(f"S2-Attn with group_size_ratio={group_size_ratio} cuts {seq_len} tokens into groups of "
                         f"{group_size}; it needs a sequence length that is a multiple of {2 * parts} (an even "
                         f"group size that divides the length). Pad or cut your sequences, e.g. to "
                         f"{seq_len + (-seq_len) % (2 * parts)} tokens.")
    return group_size


def s2_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                         scaling: float | None = None, **kwargs):
    """The function registered as :data:`S2_ATTN`, with the signature of transformers' ``sdpa_attention_forward``.

    Args:
        module: the calling attention layer (its ``config`` carries the S²-Attn settings).
        query: ``(batch, heads, seq, head_dim)``; key, value: ``(batch, kv_heads, seq, head_dim)``.
        attention_mask: ``None`` or boolean ``(batch, 1, seq, seq)`` (built by ``sdpa_mask``).
        dropout, scaling: as the layer passes them.

    Returns:
        ``(attn_output (batch, seq, heads, head_dim), None)``, as every attention function does.
    """
    settings = getattr(module.config, _SETTINGS)
    if settings.get("layers") is not None and module.layer_idx not in settings["layers"]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)                               # a layer left on full attention
    window = kwargs.get("sliding_window")
    if window is not None and window < key.shape[2]:
        raise ValueError(f"S2-Attn replaces full causal attention; this layer uses a sliding window of {window} "
                         f"tokens, shorter than the sequence ({key.shape[2]})")
    if key.shape[2] != query.shape[2]:
        raise ValueError(f"S2-Attn is a training-time pattern over whole sequences, but this call has "
                         f"{query.shape[2]} queries for {key.shape[2]} keys (generation with a cache); "
                         "call disable_s2_attn(model) before generate()")
    n_rep = query.shape[1] // key.shape[1]
    key, value = repeat_kv(key, n_rep), repeat_kv(value, n_rep)             # (B, H, N, D)
    if attention_mask is not None and attention_mask.dtype != torch.bool:
        raise TypeError(f"S2-Attn expects transformers' boolean mask, got {attention_mask.dtype}")
    group_size = group_size_for(query.shape[2], settings["group_size_ratio"])
    out = s2_attention(query, key, value, group_size, attention_mask=attention_mask, scaling=scaling,
                       dropout=dropout, wrap=settings["wrap"], shift=settings["shift"])
    return out.transpose(1, 2).contiguous(), None                           # (B, N, H, D)


def register() -> None:
    """Register :data:`S2_ATTN` in transformers' attention and mask interfaces (idempotent)."""
    AttentionInterface.register(S2_ATTN, s2_attention_forward)
    AttentionMaskInterface.register(S2_ATTN, sdpa_mask)


def enable_s2_attn(model, group_size_ratio: float = 0.25, wrap: bool = False, shift: bool = True, layers=None):
    """Make every attention layer of ``model`` use S²-Attn (in place); returns ``model``.

    Args:
        model: a transformers causal LM of a Llama-style architecture (:data:`SUPPORTED_MODEL_TYPES`),
            or a PEFT model wrapping one.
        group_size_ratio: group size as a fraction of the sequence length (LongLoRA: 1/4). Every
            batch's length must then be a multiple of ``2 / group_size_ratio`` (see :func:`group_size_for`).
        wrap: use the official roll (the first G/2 tokens of the shifted heads see the last G/2).
        shift: ``False`` turns off the head shift (the paper's short attention; an ablation).
        layers: indices of the layers that use S²-Attn (``None``, default: all, as LongLoRA does);
            the others keep full causal attention (transformers' SDPA path). An ablation of depth.

    The previous implementation (``"sdpa"`` or ``"eager"``) is kept in the config, so
    :func:`disable_s2_attn` puts it back.
    """
    if not 0 < group_size_ratio <= 1:
        raise ValueError(f"group_size_ratio must be in (0, 1] (LongLoRA: 0.25), got {group_size_ratio}")
    base = _base_model(model)
    config = base.config
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise TypeError(f"enable_s2_attn supports the architectures {SUPPORTED_MODEL_TYPES}; "
                        f"this model is {config.model_type!r}")
    layers = check_layers(layers, config.num_hidden_layers)
    register()
    previous = getattr(config, _SETTINGS, {}).get("previous", config._attn_implementation)
    setattr(config, _SETTINGS, {"group_size_ratio": group_size_ratio, "wrap": bool(wrap), "shift": bool(shift),
                                "layers": layers, "previous": previous})
    base.set_attn_implementation(S2_ATTN)
    return model


def disable_s2_attn(model):
    """Put back the attention implementation :func:`enable_s2_attn` replaced (in place); returns ``model``.

    Does nothing if S²-Attn is not enabled.
    """
    base = _base_model(model)
    settings = getattr(base.config, _SETTINGS, None)
    if settings is not None:
        base.set_attn_implementation(settings["previous"])
        delattr(base.config, _SETTINGS)
    return model


def s2_attn_enabled(model) -> bool:
    """Whether ``model`` currently runs S²-Attn."""
    return _base_model(model).config._attn_implementation == S2_ATTN


def _base_model(model):
    """The transformers model inside a PEFT wrapper (or ``model`` itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


__all__ = ["S2_ATTN", "SUPPORTED_MODEL_TYPES", "disable_s2_attn", "enable_s2_attn", "group_size_for",
           "register", "s2_attention_forward", "s2_attn_enabled"]
