"""LongLoRA (Chen et al. 2023, arXiv 2309.12307): extend a model's context cheaply.

Three parts, one module each:

* :mod:`~lorakit.longlora.s2_attention`: shifted sparse attention on tensors (``s2_attention``);
* :mod:`~lorakit.longlora.attention`: S²-Attn inside a transformers model through its attention
  interface (``enable_s2_attn`` / ``disable_s2_attn``);
* :mod:`~lorakit.longlora.position`: linear position interpolation (``extend_context``);
* :mod:`~lorakit.longlora.trainable`: LoRA on attention plus trainable embeddings and norms
  (``longlora_trainable``, the paper's LoRA+);
* :mod:`~lorakit.longlora.cost`: attention FLOPs and measured seconds per training step.
"""
from .attention import S2_ATTN, disable_s2_attn, enable_s2_attn, group_size_for, s2_attn_enabled
from .position import extend_context, interpolation_factor
from .s2_attention import s2_attention, s2_attention_mask, shift_heads, unshift_heads

__all__ = ["S2_ATTN", "disable_s2_attn", "enable_s2_attn", "extend_context", "group_size_for",
           "interpolation_factor", "s2_attention", "s2_attention_mask", "s2_attn_enabled", "shift_heads",
           "unshift_heads"]
