"""The memory estimator on shapes it was not fitted to: other batches, lengths, ranks, targets, architectures.

:func:`lorakit.memory.estimate.activation_bytes` was written from ``saved_tensors_hooks`` censuses of the
shipped model at notebook 04's training shape; comparing it with that census again only shows it was
fitted. :func:`check_point` builds a model (the shipped one, or a real architecture's config cut to a few
layers and narrowed, with random weights: :func:`proxy_model_dir`), puts LoRA on it, runs one training step
on a batch of the asked shape with :func:`lorakit.memory.probe.measure_footprint`, and returns the
measured and estimated bytes of each part. ``scripts/producers/estimate_heldout.py`` runs the grid notebook 04
ships.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch

ARCHITECTURES = {   # name -> (shipped config, layers, narrow); None = the shipped tiny model
    "tiny-lm (fitted)": None,
    "SmolLM2-135M, 2 layers, 1/3 width": ("HuggingFaceTB/SmolLM2-135M", 2, 3),
    "Qwen2.5-0.5B, 2 layers, 1/2 width": ("Qwen/Qwen2.5-0.5B", 2, 2),
    # added after the first rule's errors on the three above were explained (the `padded` fix): never used
    # to write the rule, several key/value heads each
    "SmolLM2-360M, 2 layers, full width": ("HuggingFaceTB/SmolLM2-360M", 2, 1),
    "Qwen2.5-0.5B, 2 layers, full width": ("Qwen/Qwen2.5-0.5B", 2, 1),
}
NEW_ARCHITECTURES = ("SmolLM2-360M, 2 layers, full width", "Qwen2.5-0.5B, 2 layers, full width")
"""The architectures added to the grid after the rule was corrected on the first three: its held-out test."""
_BUILT: dict[tuple, Path] = {}


def proxy_model_dir(config_name: str, layers: int, narrow: int, seed: int = 0) -> Path:
    """A folder with a random-weight model of ``config_name``'s shape (``layers`` layers, width / ``narrow``)
    and the shipped tokenizer, built once per process by ``scripts/build_proxy_model.py``'s :func:`build`."""
    import importlib.util

    from lorakit.course.paths import REPO_ROOT

    key = (config_name, layers, narrow, seed)
    if key not in _BUILT:
        spec = importlib.util.spec_from_file_location("build_proxy_model", REPO_ROOT / "scripts" / "build_proxy_model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out = Path(tempfile.mkdtemp(prefix="lorakit-proxy-")) / config_name.replace("/", "--")
        with contextlib.redirect_stdout(io.StringIO()):     # build() prints the folder: a local path
            module.build(out, config_name, layers=layers, seed=seed, narrow=narrow)
        _BUILT[key] = out
    return _BUILT[key]


def random_batch(vocab_size: int, batch_size: int, seq_len: int, pad_id: int, seed: int = 0) -> dict:
    """A training batch of ``batch_size`` × ``seq_len`` random tokens, padded as the course's ``collate``
    pads: with more than one row, the first row ends in ``seq_len // 4`` pad tokens (masked, label -100)."""
    for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab_size, (batch_size, seq_len), generator=g)
    mask = torch.ones_like(ids)
    if batch_size > 1:
        mask[0, seq_len - seq_len // 4:] = 0
    ids = ids.masked_fill(mask == 0, pad_id)
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def check_point(model_dir, method: str, r: int, target_modules, checkpointing: bool, batch_size: int,
                seq_len: int) -> dict:
    """Measured and estimated bytes of one training step (float32 on the CPU, PEFT's float32 adapters).

    Returns ``{"measured": {part: bytes}, "estimated": {part: bytes}, "rel_error": {part: (est - meas) / meas}}``.
    """
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from lorakit.memory import probe
    from lorakit.memory.estimate import TrainingSetup, estimate_footprint
    from lorakit.models.loading import load_model, load_tokenizer
    from lorakit.training.qlora import bnb_config

    if method not in ("lora", "qlora"):
        raise ValueError(f"method must be 'lora' or 'qlora', got {method!r}")
    targets = target_modules if isinstance(target_modules, str) else list(target_modules)
    if method == "qlora":
        model = load_model(model_dir, quantization_config=bnb_config(True, torch.float32))
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    else:
        model = load_model(model_dir, dtype=torch.float32)
        if checkpointing:
            model.activation_checkpointing_enable()
            model.enable_input_require_grads()
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=r, lora_alpha=r, target_modules=targets, task_type="CAUSAL_LM"))
    pad = load_tokenizer(model_dir).pad_token_id
    batch = random_batch(model.config.vocab_size, batch_size, seq_len, pad)
    opt = bnb.optim.PagedAdamW32bit([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    measured = probe.measure_footprint(model, batch, opt)
    setup = TrainingSetup(method=method, r=r, target_modules=target_modules if isinstance(target_modules, str)
                          else tuple(target_modules), batch_size=batch_size, seq_len=seq_len,
                          optimizer="paged_adamw_32bit", gradient_checkpointing=checkpointing, dtype="fp32",
                          adapter_dtype="fp32", padded=batch_size > 1)   # random_batch pads from 2 rows on
    estimated = estimate_footprint(model.get_base_model().config, setup)
    errors = probe.relative_errors(estimated, measured)
    return {"measured": {k: int(v) for k, v in measured.as_dict().items()},
            "estimated": {k: int(v) for k, v in estimated.as_dict().items()}, "rel_error": errors}


__all__ = ["ARCHITECTURES", "NEW_ARCHITECTURES", "check_point", "proxy_model_dir", "random_batch"]
