"""LongLoRA's trainable set: LoRA on the attention projections, plus embeddings and norms (LoRA+).

LongLoRA (Chen et al. 2023, arXiv 2309.12307) found that plain LoRA extends the context
poorly and that "LoRA for context extension works well under the premise of trainable embedding
and normalization" layers. Their ``fine-tune.py``: PEFT LoRA with r = 8, α = 16, dropout 0 on
``q_proj, k_proj, v_proj, o_proj``, then every parameter whose name contains ``"embed"`` or
``"norm"`` is made trainable too (``trainable_params="embed,norm"``). On Llama-2 that matches the
input embedding ``embed_tokens`` only (the untied output head is ``lm_head``, without "embed").
Embeddings and norms are a small share of a large model's weights (Llama-2-7B: 1.95% for its
32000 × 4096 input embedding, 0.004% for its 65 norms) but a large share of a tiny one's; the
notebook counts them.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

from peft import LoraConfig, get_peft_model

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
"""LongLoRA's LoRA targets (its ``fine-tune.py``)."""
EXTRA_TRAINABLE = ("embed", "norm")
"""Name fragments of the parameters LongLoRA trains besides LoRA (its ``trainable_params``)."""


def mark_trainable(model, fragments: Iterable[str] = EXTRA_TRAINABLE) -> list[str]:
    """Set ``requires_grad=True`` on every parameter whose name contains one of ``fragments``.

    Returns the names made trainable. Raises ``ValueError`` if a fragment matches nothing (a
    typo would otherwise silently train less than intended). With tied input and output
    embeddings (the shipped model, SmolLM2) the output head trains with the embedding: it is the
    same tensor.
    """
    fragments = [fragments] if isinstance(fragments, str) else list(fragments)
    if not fragments or not all(isinstance(f, str) and f for f in fragments):
        raise TypeError(f"fragments must be non-empty strings such as 'embed' or 'norm', got {fragments!r}")
    named = list(model.named_parameters())
    chosen = []
    for fragment in fragments:
        hits = [(n, p) for n, p in named if fragment in n]
        if not hits:
            raise ValueError(f"no parameter name contains {fragment!r}; names look like {named[0][0]!r}")
        for name, param in hits:
            param.requires_grad_(True)
            chosen.append(name)
    return sorted(set(chosen))


def peft_model(model, config: LoraConfig):
    """PEFT's ``get_peft_model``, without the ``is_gradient_checkpointing`` FutureWarning transformers 5
    raises when PEFT 0.21 reads that attribute (harmless; it would clutter notebook outputs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, config)


def longlora_trainable(model, r: int = 8, lora_alpha: float = 16, target_modules=ATTENTION_MODULES,
                       extra: Iterable[str] = EXTRA_TRAINABLE):
    """PEFT LoRA on the attention projections of ``model``, plus trainable embeddings and norms.

    Args:
        model: a transformers causal LM (not yet wrapped by PEFT).
        r, lora_alpha: the LoRA rank and α (LongLoRA: 8 and 16).
        target_modules: the layers that get LoRA (LongLoRA: q, k, v, o projections).
        extra: name fragments of the parameters trained in full besides LoRA (LongLoRA:
            ``("embed", "norm")``; ``()`` gives plain LoRA on the same targets).

    Returns:
        The ``PeftModel``; its trainable parameters are the LoRA weights and the ``extra`` ones.
        The extra parameters keep the model's dtype. In float16 a plain AdamW step on them overflows
        to NaN: train with :func:`lorakit.training.loop.finetune`, which keeps 16-bit trainable weights as
        float32 masters under autocast.
    """
    config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules=list(target_modules),
                        task_type="CAUSAL_LM")
    wrapped = peft_model(model, config)
    extra = [extra] if isinstance(extra, str) else list(extra)
    if extra:
        mark_trainable(wrapped, extra)
    return wrapped


def count_trainable(model) -> dict[str, int]:
    """Trainable parameters by kind: ``{"lora": …, "embed": …, "norm": …, "other": …, "total": …}``.

    Each tensor is counted once (tied embeddings are one tensor).
    """
    counts = {"lora": 0, "embed": 0, "norm": 0, "other": 0}
    seen = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        kind = next((k for k in ("lora", "embed", "norm") if k in name), "other")
        counts[kind] += param.numel()
    counts["total"] = sum(counts.values())
    return counts


__all__ = ["ATTENTION_MODULES", "EXTRA_TRAINABLE", "count_trainable", "longlora_trainable", "mark_trainable",
           "peft_model"]
