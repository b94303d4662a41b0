"""lorakit: the helper package of the lorakit course (LoRA, QLoRA, merging, QA-LoRA, LongLoRA).

The folder tree is the map: one home per concept. Methods (``lora``, ``quant``, ``qalora``,
``longlora``) never import the experiments built on them (``studies``).

* :mod:`lorakit.lora`: LoRA from scratch: the layer skeleton, injection, merging, combining adapters, PEFT inspection.
* :mod:`lorakit.quant`: NF4, FP4, INT4 and double quantization, bit-exact with bitsandbytes.
* :mod:`lorakit.qalora`: the QA-LoRA method: group-wise INT-b weights and an adapter that merges into them.
* :mod:`lorakit.longlora`: the LongLoRA method: S²-Attn, position interpolation, trainable embeddings and norms.
* :mod:`lorakit.memory`: every byte rule: bits per parameter, the training-memory estimate, the probe, paging.
* :mod:`lorakit.count`: parameter and LoRA parameter counts from configs alone (meta device).
* :mod:`lorakit.training`: the plain fine-tuning loop, TRL's SFTTrainer glue, QLoRA's loading and dtype rules.
* :mod:`lorakit.evaluate`: exact match, left-padded generation, perplexity, passkey retrieval.
* :mod:`lorakit.stats`: bootstrap intervals and the verdicts read from them.
* :mod:`lorakit.doctor`: ``python -m lorakit.doctor``: is this machine ready for the course? Each failure names its fix.
* :mod:`lorakit.data`: the synthetic world, the pretraining corpus, the tasks and their splits, the tokenizer.
* :mod:`lorakit.models`: loading the shipped tiny model or a hub model, the dtype rule, presets, the tiny LM.
* :mod:`lorakit.studies`: the experiments the notebooks report (ablations, comparisons, sweeps).
* :mod:`lorakit.recipe`: the course's recipe from a YAML config (``lorakit-train``, ``python -m lorakit.recipe``).
* :mod:`lorakit.train`: the documented alias ``python -m lorakit.train`` of the recipe's command line.
* :mod:`lorakit.course`: the course around the notebooks: setup bootstrap, paths, versions, results, timing, plots
  (one module per topic: a figure can serve several notebooks, as 04 reuses the fine-tuning plots).
* :mod:`lorakit.exercises`: the notebooks' exercise checks, one module per notebook (a checker belongs to one
  notebook's cell), with hints in steps (``hints.toml``).
* :mod:`lorakit.progress`: the learner's exercise ticks in a local file: ``show()``, workshop codes, ``decode``.

Importing ``lorakit`` uses the standard library only (the Setup cell imports it before installing
anything), and quiets known-harmless messages of the pinned libraries that would otherwise land
in every notebook's output: bitsandbytes 0.50 logging, on CPUs with AVX-512 BF16, that it could not
load an optional CPU kernel from the Hugging Face hub's ``kernels-community`` repository (it then uses
its own CPU kernels) and, offline, the ``kernels`` package's "Skipping publisher trust check" for that
same kernel, and transformers 5 warning that PEFT 0.21 reads the deprecated ``is_gradient_checkpointing``.
"""
import logging
import warnings

__version__ = "0.1.0"

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
logging.getLogger("kernels._internals.hf_hub").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
