"""Loading the course's model and tokenizer: the shipped tiny Llama by default, a hub model on a GPU.

``load_model()`` with no argument loads ``data/tiny-lm`` (no network needed). Given a hub id such as
``"HuggingFaceTB/SmolLM2-135M"`` it loads that; if the hub cannot be reached it says so in one line
and falls back to the shipped model, so a notebook keeps running in a workshop with bad Wi-Fi.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from .device import compute_dtype, get_device
from .paths import REPO_ROOT, TINY_LM_DIR

DEFAULT_MODEL = str(TINY_LM_DIR)


def _resolve(model_id: str | Path | None) -> str:
    if model_id is None:  # $LORAKIT_MODEL_ID lets CI's GPU job switch every notebook at once
        model_id = os.environ.get("LORAKIT_MODEL_ID") or DEFAULT_MODEL
    if not isinstance(model_id, (str, Path)):
        raise TypeError(f"model_id must be a hub id or a local path (str), got {type(model_id).__name__}")
    model_id = str(model_id)
    if model_id in ("tiny-lm", "data/tiny-lm"):
        return DEFAULT_MODEL
    local = Path(model_id)
    if not local.is_absolute() and (REPO_ROOT / local).exists():
        return str(REPO_ROOT / local)
    return model_id


def is_local(model_id: str | Path | None) -> bool:
    """True when ``model_id`` names a folder on disk (the shipped model included)."""
    return Path(_resolve(model_id)).is_dir()


def _from_pretrained(cls, model_id: str | Path | None, **kwargs):
    resolved = _resolve(model_id)
    if not is_local(resolved) and not hub_reachable():
        print(f"The hub is not reachable, so {resolved!r} cannot be downloaded; "
              f"using the shipped tiny model instead.")
        return cls.from_pretrained(DEFAULT_MODEL, **kwargs), DEFAULT_MODEL
    try:
        return cls.from_pretrained(resolved, **kwargs), resolved
    except OSError as err:  # hub unreachable, or no such repo
        if is_local(resolved) or resolved == DEFAULT_MODEL:
            raise
        print(f"Could not load {resolved!r} from the hub ({type(err).__name__}); "
              f"using the shipped tiny model instead.")
        return cls.from_pretrained(DEFAULT_MODEL, **kwargs), DEFAULT_MODEL


def load_tokenizer(model_id: str | Path | None = None, **kwargs):
    """The tokenizer of ``model_id`` (default: the shipped tiny model), with a pad token set."""
    from transformers import AutoTokenizer

    tokenizer, _ = _from_pretrained(AutoTokenizer, model_id, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_id: str | Path | None = None, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None, **kwargs):
    """A causal LM: the shipped tiny model by default, or ``model_id`` from the hub or a folder.

    Args:
        model_id: ``None`` (``$LORAKIT_MODEL_ID`` if set, else the shipped ``data/tiny-lm``),
            a local folder, or a hub id.
        dtype: default :func:`lorakit.device.compute_dtype` (fp32 on CPU, fp16 on a T4, bf16 on
            compute capability >= 8.0).
        device: default :func:`lorakit.device.get_device`. Ignored when ``device_map`` is passed
            (as with a bitsandbytes quantization config).
        **kwargs: passed to ``AutoModelForCausalLM.from_pretrained`` (e.g. ``quantization_config``).
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars clutter notebook outputs
    device = torch.device(device) if device is not None else get_device()
    dtype = dtype or compute_dtype(device)
    model, _ = _from_pretrained(AutoModelForCausalLM, model_id, dtype=dtype, **kwargs)
    if "device_map" not in kwargs and "quantization_config" not in kwargs:
        model = model.to(device)
    return model


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` seconds (no warning if not)."""
    import urllib.request

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urllib.request.urlopen("https://huggingface.co/api/models?limit=1", timeout=timeout)
        return True
    except Exception:
        return False
