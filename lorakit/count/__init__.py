"""Counting parameters and bytes without downloading a model.

    from lorakit.count import count_lora, count_parameters, meta_model
    print(count_lora("meta-llama/Llama-2-7b-hf", ["q_proj", "v_proj"], r=8))
    # trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622
"""
from .configs import available_configs, config_path, load_config, load_config_dict, meta_model
from .footprint import (Footprint, TrainingSetup, estimate_footprint, footprint_table,
                        nf4_tensor_bytes, smallest_gpu)
from .explorer import TARGET_PRESETS, describe_lora, lora_explorer
from .lora import LoRACount, count_lora, format_table, lora_parameter_count, lora_table
from .memory import BITS_PER_PARAM, bits_per_param, format_bytes, model_bytes
from .params import count_parameters, format_trainable, print_trainable_parameters

__all__ = [
    "BITS_PER_PARAM", "Footprint", "LoRACount", "TARGET_PRESETS", "available_configs", "bits_per_param",
    "config_path", "count_lora", "count_parameters", "describe_lora",
    "estimate_footprint", "footprint_table", "nf4_tensor_bytes", "smallest_gpu", "TrainingSetup",
    "format_bytes", "format_table", "format_trainable", "load_config", "load_config_dict",
    "lora_explorer", "lora_parameter_count", "lora_table", "meta_model", "model_bytes",
    "print_trainable_parameters",
]
