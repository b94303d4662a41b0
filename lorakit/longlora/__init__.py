"""LongLoRA (Chen et al. 2023, arXiv 2309.12307): extend a model's context cheaply.

One concept per module:

* :mod:`~lorakit.longlora.s2_attention`: shifted sparse attention on tensors (``s2_attention``);
* :mod:`~lorakit.longlora.attention`: S²-Attn inside a transformers model through its attention
  interface (``enable_s2_attn`` / ``disable_s2_attn``);
* :mod:`~lorakit.longlora.position`: linear position interpolation (``extend_context``);
* :mod:`~lorakit.longlora.trainable`: LoRA on attention plus trainable embeddings and norms
  (``longlora_trainable``, the paper's LoRA+);
* :mod:`~lorakit.longlora.cost`: attention FLOPs and measured seconds per training step.
"""
from lorakit.longlora.attention import S2_ATTN, disable_s2_attn, enable_s2_attn, group_size_for, s2_attn_enabled
from lorakit.longlora.position import extend_context, interpolation_factor
from lorakit.longlora.cost import attention_flops, attention_seconds, model_attention_flops, speed_verdict, step_seconds
from lorakit.longlora.s2_attention import s2_attention, s2_attention_mask, s2_reach, shift_heads, unshift_heads
from lorakit.longlora.trainable import ATTENTION_MODULES, count_trainable, longlora_trainable, mark_trainable

__all__ = ["ATTENTION_MODULES", "S2_ATTN", "attention_flops", "attention_seconds", "count_trainable", "disable_s2_attn",
           "enable_s2_attn", "extend_context", "group_size_for", "interpolation_factor", "longlora_trainable",
           "mark_trainable", "model_attention_flops", "s2_attention", "s2_attention_mask", "s2_attn_enabled", "s2_reach",
           "shift_heads", "speed_verdict", "step_seconds", "unshift_heads"]
