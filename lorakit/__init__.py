"""lorakit: the helper package of the lorakit course (LoRA, QLoRA, merging, QA-LoRA, LongLoRA).

One module per concept; import what a notebook needs from its module:

* :mod:`lorakit.lora`: LoRA from scratch (``LoRALinear``, ``inject_lora``, ``merge_lora``).
* :mod:`lorakit.count`: parameter, LoRA and memory counts from configs alone (meta device).
* :mod:`lorakit.quant`: NF4, FP4, INT4 and double quantization, bit-exact with bitsandbytes.
* :mod:`lorakit.qalora`: QA-LoRA: group-wise INT-b weights and an adapter that merges into them exactly.
* :mod:`lorakit.models.loading`, :mod:`lorakit.models.device`: the shipped tiny model or a hub model, and the dtype rule.
* :mod:`lorakit.data`: the synthetic world, the pretraining corpus, the QA task, the tokenizer.
* :mod:`lorakit.training.loop`, :mod:`lorakit.evaluate`: the one fine-tuning loop, exact match, perplexity.
* :mod:`lorakit.models.presets`: run settings that follow from the model and the hardware.
* :mod:`lorakit.course.results`, :mod:`lorakit.course.env`: headline numbers per notebook; versions for the version cell.
* :mod:`lorakit.course.bootstrap`: what the notebooks' Setup cell installs on Colab and Kaggle (stdlib only).

Importing ``lorakit`` uses the standard library only (the Setup cell imports it before installing
anything), and quiets two known-harmless messages of the pinned libraries that would otherwise land
in every notebook's output: bitsandbytes 0.50 logging that the optional ``kernels`` package is absent
(it then uses its own CPU kernels), and transformers 5 warning that PEFT 0.21 reads the deprecated
``is_gradient_checkpointing``.
"""
import logging
import warnings

__version__ = "0.1.0"

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
