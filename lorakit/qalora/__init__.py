"""QA-LoRA in plain PyTorch: group-wise INT-b weights and a LoRA update that merges into them exactly.

* :mod:`.groupwise`: ``quantize_groupwise`` / ``dequantize_groupwise``, one scale and zero per group.
* :mod:`.linear`: ``GroupQuantLinear``, a linear layer stored as codes, scales and zeros.
* :mod:`.layer`: ``QALoRALinear`` (group-pooled LoRA over a frozen INT-b base) and ``pool_groups``.
* :mod:`.convert`: ``to_qalora``, ``merge_qalora``, ``merge_and_unload``, ``quantize_model_groupwise``.

PEFT's ``use_qalora=True`` needs GPTQ layers (a GPU stack) and cannot merge; the paper's code needs
auto-gptq. This package runs on a CPU and merges exactly (Xu et al. 2023, arXiv 2309.14717).
"""
from lorakit.qalora.convert import (group_quant_layers, merge_and_unload, merge_qalora, qalora_layers, quantize_model_groupwise,
                      to_qalora, unmerge_qalora)
from lorakit.qalora.groupwise import (GroupQuantized, check_bits, check_group_size, dequantize_groupwise, groupwise_bits,
                        quantize_groupwise)
from lorakit.qalora.layer import QALoRALinear, pool_groups
from lorakit.qalora.linear import GroupQuantLinear

__all__ = [
    "GroupQuantLinear", "GroupQuantized", "QALoRALinear", "check_bits", "check_group_size", "dequantize_groupwise",
    "group_quant_layers", "groupwise_bits", "merge_and_unload", "merge_qalora", "pool_groups", "qalora_layers",
    "quantize_groupwise", "quantize_model_groupwise", "to_qalora", "unmerge_qalora",
]
