"""QA-LoRA in plain PyTorch: group-wise INT-b weights and a LoRA update that merges into them exactly.

* :mod:`.groupwise`: ``quantize_groupwise`` / ``dequantize_groupwise``, one scale and zero per group.
* :mod:`.linear`: ``GroupQuantLinear``, a linear layer stored as codes, scales and zeros.
* :mod:`.layer`: ``QALoRALinear`` (group-pooled LoRA over a frozen INT-b base) and ``pool_groups``.
* :mod:`.convert`: ``to_qalora``, ``quantize_model_groupwise``.

:class:`QALoRALinear` is a :class:`lorakit.lora.layer.LoRALayer`: :mod:`lorakit.lora.merge`'s ``merge_lora``,
``unmerge_lora`` and ``merge_and_unload`` merge it (into the zero points).

PEFT's ``use_qalora=True`` needs GPTQ layers (a GPU stack) and cannot merge; the paper's code needs
auto-gptq. This package runs on a CPU and merges exactly (Xu et al. 2023, arXiv 2309.14717).
"""
from lorakit.qalora.convert import group_quant_layers, qalora_layers, quantize_model_groupwise, to_qalora
from lorakit.qalora.groupwise import (GroupQuantized, check_bits, check_quant_group_size, dequantize_groupwise,
                                      groupwise_bits, quantize_groupwise)
from lorakit.qalora.layer import QALoRALinear, pool_groups
from lorakit.qalora.linear import GroupQuantLinear

__all__ = [
    "GroupQuantLinear", "GroupQuantized", "QALoRALinear", "check_bits", "check_quant_group_size", "dequantize_groupwise",
    "group_quant_layers", "groupwise_bits", "pool_groups", "qalora_layers",
    "quantize_groupwise", "quantize_model_groupwise", "to_qalora",
]
