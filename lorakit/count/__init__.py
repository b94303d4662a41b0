"""Counting parameters and LoRA parameters without downloading a model (configs on the meta device).

    from lorakit.count import count_lora, count_parameters, meta_model
    print(count_lora("meta-llama/Llama-2-7b-hf", ["q_proj", "v_proj"], r=8))
    # trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622

Bytes (of weights, gradients, optimizer states, activations) are :mod:`lorakit.memory`'s.
"""
from lorakit.count.architectures import available_configs, config_path, load_hf_config, load_config_dict, meta_model
from lorakit.count.explorer import TARGET_PRESETS, describe_lora, lora_explorer
from lorakit.count.lora import LoRACount, count_lora, format_table, lora_parameter_count, lora_table
from lorakit.count.params import count_parameters, format_trainable, print_trainable_parameters

__all__ = [
    "LoRACount", "TARGET_PRESETS", "available_configs", "config_path", "count_lora", "count_parameters",
    "describe_lora", "format_table", "format_trainable", "load_hf_config", "load_config_dict", "lora_explorer",
    "lora_parameter_count", "lora_table", "meta_model", "print_trainable_parameters",
]
