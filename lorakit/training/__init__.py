"""Training: the plain fine-tuning loop, TRL's ``SFTTrainer`` glue, and QLoRA's loading and dtype rules.

* :mod:`lorakit.training.loop`: ``finetune``, a loop you can read in one screen; ``encode_pairs``, ``collate``.
* :mod:`lorakit.training.sft`: the course's ``SFTConfig``, prompt/completion rows, a time-limit callback.
* :mod:`lorakit.training.qlora`: ``bnb_config`` (NF4 + double quantization), the adapter-dtype rule,
  the byte-for-byte check against lorakit's NF4, merging into a 16/32-bit base.
"""
