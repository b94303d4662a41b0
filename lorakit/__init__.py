"""lorakit: the helper package of the lorakit course (LoRA, QLoRA, merging, QA-LoRA, LongLoRA).

One module per concept; import what a notebook needs from its module:

* :mod:`lorakit.lora`: LoRA from scratch (``LoRALinear``, ``inject_lora``, ``merge_lora``).
* :mod:`lorakit.count`: parameter, LoRA and memory counts from configs alone (meta device).
* :mod:`lorakit.quant`: NF4, FP4, INT4 and double quantization, bit-exact with bitsandbytes.
* :mod:`lorakit.qalora`: QA-LoRA: group-wise INT-b weights and an adapter that merges into them exactly.
* :mod:`lorakit.models`, :mod:`lorakit.device`: the shipped tiny model or a hub model, and the dtype rule.
* :mod:`lorakit.data`: the synthetic world, the pretraining corpus, the QA task, the tokenizer.
* :mod:`lorakit.train`, :mod:`lorakit.evaluate`: the one fine-tuning loop, exact match, perplexity.
* :mod:`lorakit.results`, :mod:`lorakit.env`: headline numbers per notebook, versions and the course path.
"""
__version__ = "0.1.0"
