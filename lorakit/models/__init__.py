"""Models: loading the shipped tiny model or a hub model, the dtype rule, run presets, the tiny LM itself.

* :mod:`lorakit.models.loading`: ``load`` / ``load_model`` / ``load_tokenizer`` (the shipped model, or a hub id).
* :mod:`lorakit.models.device`: the device and the compute dtype (float32 on a CPU, float16 on a T4, bfloat16 from 8.0).
* :mod:`lorakit.models.presets`: run sizes that follow from the model and the hardware.
* :mod:`lorakit.models.tiny_lm`: the shipped tiny Llama's definition and its pretraining batches.
"""
