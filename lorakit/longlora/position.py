"""Position interpolation (PI): stretch a model's rotary positions to a longer context.

A model pretrained on sequences of L tokens has only seen rotary angles for positions 0 .. L-1.
At 4L tokens the extra positions are angles it never saw (extrapolation). Chen et al. (2023)
report that extrapolating beyond the pretraining length sends LLaMA models' perplexity to very
large values. The notebook LongLoRA measures something narrower on the course's tiny model: at 4L
tokens, before fine-tuning, plain positions against interpolated ones (there interpolation alone
was worse). It has no L-token baseline, so what extrapolation itself costs that model is not measured.
Linear position interpolation (Chen et al. 2023, "Extending Context Window of Large Language Models
via Positional Interpolation", arXiv 2306.15595) divides every position by a factor s instead:
position m gets the angles of m / s, so 4L tokens at s = 4 stay inside the trained range, at a
quarter of the spacing. In RoPE that is the same as dividing each inverse frequency by s, which is
what transformers' ``"linear"`` rope type does. LongLoRA fine-tunes on top of it (its
``fine-tune.py`` sets ``rope_scaling={"type": "linear", "factor": ceil(new_len / old_len)}``).

In transformers 5 the setting lives in ``config.rope_parameters`` (``rope_scaling=`` passed to
``from_pretrained`` loses ``rope_theta`` and fails), and the live model caches ``inv_freq`` in its
rotary module, so changing the config alone changes nothing: :func:`extend_context` does both.
"""
from __future__ import annotations

import numbers

import torch


def rotary_embedding(model) -> torch.nn.Module:
    """The model's rotary-embedding module (``model.model.rotary_emb`` on Llama), found by name."""
    base = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model
    found = [m for name, m in base.named_modules() if name.endswith("rotary_emb")]
    if len(found) != 1:
        raise TypeError(f"expected one rotary embedding module (…rotary_emb) in {type(base).__name__}, "
                        f"found {len(found)}")
    return found[0]


def extend_context(model, factor: float) -> dict:
    """Set linear position interpolation by ``factor`` on ``model``, in the config and the live model.

    Args:
        model: a transformers model with rotary positions (Llama, Mistral, Qwen2, ...) or a PEFT
            model wrapping one.
        factor: how many times longer the new context is (4 turns 128 trained tokens into 512).
            ``1`` restores the plain ("default") rotary positions.

    Returns:
        The previous ``rope_parameters`` (pass their ``factor``, or 1, to undo).
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor >= 1:
        raise ValueError(f"factor must be a number >= 1 (4 = four times the trained context), got {factor!r}")
    rotary = rotary_embedding(model)
    config = rotary.config
    previous = dict(config.rope_parameters)
    if previous.get("rope_type", "default") not in ("default", "linear"):
        raise ValueError(f"this model already uses rope_type={previous['rope_type']!r}; extend_context sets "
                         "linear interpolation on plain rotary positions only")
    theta = previous["rope_theta"]
    config.rope_parameters = ({"rope_type": "default", "rope_theta": theta} if factor == 1 else
                              {"rope_type": "linear", "factor": float(factor), "rope_theta": theta})
    fresh = type(rotary)(config=config)                 # recomputes inv_freq and attention_scaling
    device = rotary.inv_freq.device
    rotary.rope_type = fresh.rope_type
    rotary.attention_scaling = fresh.attention_scaling
    rotary.inv_freq = fresh.inv_freq.to(device)
    rotary.original_inv_freq = fresh.original_inv_freq.to(device)
    return previous


def interpolation_factor(model) -> float:
    """The linear interpolation factor the live model uses (1.0 for plain rotary positions).

    Read from the rotary module's ``inv_freq`` against the plain RoPE frequencies, so it reports
    what the model computes, not what its config says.
    """
    rotary = rotary_embedding(model)
    config = rotary.config
    dim = rotary.inv_freq.numel() * 2
    plain = 1.0 / (config.rope_parameters["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    return float((plain / rotary.inv_freq.float().cpu()).mean())


__all__ = ["extend_context", "interpolation_factor", "rotary_embedding"]
