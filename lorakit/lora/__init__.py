"""LoRA from scratch in plain PyTorch: the layer, putting it into a model, and rank analysis.

    from lorakit.lora import LoRALinear, inject_lora, merge_lora, lora_state_dict
"""
from .inject import ALL_LINEAR, find_targets, inject_lora, lora_layers, lora_state_dict, merge_lora
from .layer import LoRALinear, scaling_factor
from .svd import low_rank_approximation, truncation_errors

__all__ = [
    "ALL_LINEAR", "LoRALinear", "find_targets", "inject_lora", "lora_layers", "lora_state_dict",
    "low_rank_approximation", "merge_lora", "scaling_factor", "truncation_errors",
]
