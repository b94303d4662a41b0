"""Loading the course's model and tokenizer: the shipped tiny Llama by default, a hub model on a GPU.

    from lorakit.models.loading import load
    model, tokenizer, model_id = load(MODEL_ID)   # prints the source once

``MODEL_ID = None`` loads ``data/tiny-lm`` (no network needed), unless ``$LORAKIT_MODEL_ID`` names
another model: CI's GPU job and ``make t4-sim`` switch every notebook at once through that variable.
Given a hub id such as ``"HuggingFaceTB/SmolLM2-135M"``, :func:`resolve_model_id` asks the hub once
per session; if it cannot be reached it says so in one line and the shipped model is used instead, so
a notebook keeps running in a workshop with bad Wi-Fi. Model and tokenizer always come from the same
resolved source, so a hub tokenizer is never paired with the tiny model.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from lorakit.models.device import compute_dtype, get_device
from lorakit.course.paths import REPO_ROOT, TINY_LM_ALIASES, TINY_LM_DIR

MODEL_ENV = "LORAKIT_MODEL_ID"
DEFAULT_MODEL = str(TINY_LM_DIR)
_hub_answer: dict[str, bool] = {}   # the hub probe's answer, asked once per session
_resolved: dict[str, str] = {}      # requested id -> the source actually used


class Loaded(NamedTuple):
    model: torch.nn.Module
    tokenizer: object
    model_id: str   # what was loaded: a hub id or a local folder


def _normalise(model_id: str | Path | None) -> str:
    """The id to resolve: ``None`` means ``$LORAKIT_MODEL_ID`` if set, else the shipped model.

    This is where ``$LORAKIT_MODEL_ID`` acts, and only for ``model_id=None`` (a notebook's default
    ``MODEL_ID``): an id the learner typed always wins. Relative paths are taken from the repository
    root, and the aliases ``"tiny-lm"`` / ``"data/tiny-lm"`` mean the shipped model.
    """
    if model_id is None:
        model_id = os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    if not isinstance(model_id, (str, Path)):
        raise TypeError(f"model_id must be a hub id or a local path (str), got {type(model_id).__name__}")
    model_id = str(model_id)
    if model_id in TINY_LM_ALIASES:
        return DEFAULT_MODEL
    local = Path(model_id)
    if not local.is_absolute() and (REPO_ROOT / local).exists():
        return str(REPO_ROOT / local)
    return model_id


def is_shipped(model_id: str | Path | None) -> bool:
    """True when ``model_id`` resolves to the course's shipped tiny model."""
    return Path(resolve_model_id(model_id, quiet=True)).resolve() == TINY_LM_DIR.resolve()


def label_shipped_table(model_id: str | Path | None, what: str = "the table below", live: bool = False) -> bool:
    """On a model other than the shipped one, print one line saying ``what`` was measured on the shipped model.

    A notebook calls it before printing a table it loads from ``data/results/`` (the shipped model's),
    so a learner on a hub model reads whose numbers they are; on the shipped model it prints nothing
    (its outputs stay as recorded), and nothing when ``live`` (the table was measured here, on this
    model). Returns True when it printed.
    """
    if not isinstance(what, str) or not what.strip():
        raise ValueError(f"what must name the table, got {what!r}")
    if live or is_shipped(model_id):
        return False
    print(f"({what}: measured on the shipped tiny model, data/tiny-lm, not on {model_id})")
    return True


def resolve_model_id(model_id: str | Path | None = None, quiet: bool = False) -> str:
    """The source :func:`load` uses for ``model_id``: a local folder, a hub id, or the shipped model.

    A hub id is checked once per session (:func:`hub_reachable`); when the hub cannot be reached the
    answer is the shipped model, with one line saying so (unless ``quiet``).
    """
    requested = _normalise(model_id)
    if requested in _resolved:
        return _resolved[requested]
    source = requested
    if not Path(requested).is_dir():
        if "hub" not in _hub_answer:
            _hub_answer["hub"] = hub_reachable()
        if not _hub_answer["hub"]:
            if not quiet:
                print(f"The hub is not reachable, so {requested!r} cannot be downloaded; "
                      "using the shipped tiny model instead.")
            source = DEFAULT_MODEL
    _resolved[requested] = source
    return source


def _fallback(requested: str, err: Exception) -> str:
    print(f"Could not load {requested!r} from the hub ({type(err).__name__}); using the shipped tiny model instead.")
    _resolved[requested] = DEFAULT_MODEL
    return DEFAULT_MODEL


def load_tokenizer(model_id: str | Path | None = None, **kwargs):
    """The tokenizer of ``model_id`` (resolved as in :func:`resolve_model_id`), with a pad token set."""
    from transformers import AutoTokenizer

    source = resolve_model_id(model_id)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except OSError as err:  # no such repo, or the hub went away after the probe
        if Path(source).is_dir():
            raise
        tokenizer = AutoTokenizer.from_pretrained(_fallback(_normalise(model_id), err), **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_id: str | Path | None = None, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None, **kwargs):
    """A causal LM from the source :func:`resolve_model_id` gives (default: the shipped model).

    Args:
        model_id: ``None`` (``$LORAKIT_MODEL_ID`` if set, else the shipped ``data/tiny-lm``),
            a local folder, or a hub id.
        dtype: default :func:`lorakit.models.device.compute_dtype` (fp32 on CPU, fp16 on a T4, bf16 on
            compute capability >= 8.0).
        device: default :func:`lorakit.models.device.get_device`. Ignored when ``device_map`` or a
            ``quantization_config`` is passed (bitsandbytes places the weights itself).
        **kwargs: passed to ``AutoModelForCausalLM.from_pretrained`` (e.g. ``quantization_config``).
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars clutter notebook outputs
    device = torch.device(device) if device is not None else get_device()
    dtype = dtype or compute_dtype(device)
    source = resolve_model_id(model_id)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except OSError as err:
        if Path(source).is_dir():
            raise
        model = AutoModelForCausalLM.from_pretrained(_fallback(_normalise(model_id), err), dtype=dtype, **kwargs)
    if "device_map" not in kwargs and "quantization_config" not in kwargs:
        model = model.to(device)
    if "quantization_config" in kwargs:
        keep_stored_4bit_layout(model)
    return model


def keep_stored_4bit_layout(model) -> int:
    """Keep every bitsandbytes 4-bit weight in the layout it was stored in; returns how many layers.

    On a CPU with AVX-512 BF16, bitsandbytes 0.50's ``Linear4bit`` repacks its weight at its first
    inference-mode forward (``bitsandbytes.functional._convert_weight_packed_for_cpu``): ``weight.data``
    is reordered in place and ``quant_state.absmax`` becomes 2-D, so the NF4 bytes the course reads,
    decodes with :mod:`lorakit.quant` and compares with bitsandbytes are no longer the stored ones (and
    a merge reads a different layout). Turning that path off keeps the stored layout on every CPU, and
    the same numbers on machines with and without AVX-512 BF16; the forward then uses bitsandbytes'
    generic CPU kernel. GPUs never repack.
    """
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    for m in layers:
        m.support_avx512bf16_for_cpu = False
    return len(layers)


def load(model_id: str | Path | None = None, dtype: torch.dtype | None = None,
         device: torch.device | str | None = None, quiet: bool = False, **kwargs) -> Loaded:
    """Model, tokenizer and the id they were loaded from, all from one source; prints it once.

    Arguments as :func:`load_model`. ``quiet=True`` skips the line naming the source.
    """
    tokenizer = load_tokenizer(model_id)
    model = load_model(model_id, dtype=dtype, device=device, **kwargs)
    source = resolve_model_id(model_id, quiet=True)
    shown = "the shipped tiny model (data/tiny-lm)" if source == DEFAULT_MODEL else source
    if not quiet:
        print(f"model: {shown}, {model.dtype} on {next(model.parameters()).device}")
    return Loaded(model, tokenizer, source)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` seconds (no warning if not)."""
    import urllib.request

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urllib.request.urlopen("https://huggingface.co/api/models?limit=1", timeout=timeout)
        return True
    except Exception:
        return False
