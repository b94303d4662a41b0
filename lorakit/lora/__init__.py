"""LoRA from scratch in plain PyTorch: the layer, putting it into a model, merging, rank analysis.

    from lorakit.lora import LoRALinear, inject_lora, merge_lora, merge_and_unload, lora_state_dict
"""
from lorakit.lora.inject import (ALL_LINEAR, find_targets, inject_lora, lora_layers, lora_state_dict,
                     mark_only_lora_as_trainable)
from lorakit.lora.layer import LoRALinear, scaling_factor
from lorakit.lora.merge import merge_and_unload, merge_lora, unmerge_lora
from lorakit.lora.svd import low_rank_approximation, truncation_errors

__all__ = [
    "ALL_LINEAR", "LoRALinear", "find_targets", "inject_lora", "lora_layers", "lora_state_dict",
    "low_rank_approximation", "mark_only_lora_as_trainable", "merge_and_unload", "merge_lora",
    "scaling_factor", "truncation_errors", "unmerge_lora",
]
