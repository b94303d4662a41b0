"""Training memory, estimated from a config: weights, LoRA weights, gradients, optimizer states, activations.

A training step holds five kinds of bytes. For a model with P parameters, L decoder layers of width h
(MLP width i, vocabulary V) and a batch of N = batch · seq_len tokens:

==================  ==========================================================================
part                what it is, and the estimate
==================  ==========================================================================
base weights        full / LoRA: P · 2 bytes in 16 bits. QLoRA: every decoder ``nn.Linear`` in
                    NF4 (½ byte per weight + its block scales, :func:`nf4_tensor_bytes`); the
                    embeddings, norms and ``lm_head`` stay unquantized.
LoRA weights        r · Σ(in + out) over the targets, in ``adapter_dtype`` (PEFT: float32).
gradients           one per trainable weight, in the trainable weight's dtype.
optimizer states    AdamW keeps two per trainable weight: 8 bytes in 32 bits; 8-bit AdamW 2 bytes
                    plus, for each moment, one float32 scale per 256 values (``absmax1``,
                    ``absmax2``; tensors under 4,096 values stay 32-bit). Full fine-tuning with
                    ``master_weights`` adds a float32 copy of the 16-bit weights here (4 bytes).
                    Paged optimizers hold the same bytes, in memory the GPU can evict.
activations         what autograd saves for the backward pass (:func:`activation_bytes`).
==================  ==========================================================================

Full 16-bit fine-tuning is then 2 + 2 + 8 = 12 bytes per parameter before activations: 65.3 B
parameters need 783 GB, which reproduces the ">780 GB" of the QLoRA paper (Dettmers et al. 2023, §1;
the paper does not give its count). Mixed precision as usually run (Micikevicius et al. 2018; ZeRO's
count, Rajbhandari et al. 2020) also keeps a float32 master copy of the weights for the update:
2 + 2 + 4 + 8 = 16 bytes per parameter (``master_weights=True``), 1,045 GB for 65B. The course's own
loop (:mod:`lorakit.training.loop`) holds the same 16 bytes as float32 weights and gradients.

Everything is computed from the architecture on the meta device (:func:`~lorakit.count.meta_model`),
so a 65B model costs nothing to estimate. The rules copy what PyTorch, transformers 5, PEFT 0.21 and
bitsandbytes 0.50 store, and :mod:`lorakit.memory.probe` measures the same parts on a real model to
check them (``tests/memory/test_estimate.py``, two model sizes). Left out: the CUDA context, allocator
fragmentation and short-lived temporaries (a dequantized weight, the layer recomputed under
gradient checkpointing, the logits' gradient), which a GPU's peak also contains.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from torch import nn

from lorakit.lora.inject import find_targets
from lorakit.count.architectures import meta_model
from lorakit.count.lora import _shared_meta_model

METHODS = ("full", "lora", "qlora")
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
OPTIMIZERS = ("adamw_torch", "adamw_32bit", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit")
MIN_8BIT_SIZE = 4096        # bitsandbytes' min_8bit_size: smaller tensors keep 32-bit states
OPTIM_8BIT_BLOCKSIZE = 256  # bitsandbytes' 8-bit optimizers: one float32 absmax per 256 values
PAGED_MIN_NUMEL = 100_000   # bitsandbytes never pages a state tensor with fewer elements (1e5)
# GiB a card gives CUDA programs (torch.cuda.get_device_properties(0).total_memory): a T4 sold as 16 GB
# reports about 14.7 GiB (CUDA's device properties print "deviceMemorySize: 14.75GiB" for a Tesla T4, e.g. in
# NVIDIA/DALI issue 1813); the larger classes are nominal (cards report a little less: check yours).
GPUS_GIB = {"T4 (14.7 GiB)": 14.7, "24 GB": 24, "48 GB": 48, "80 GB": 80}
FIT_MARGIN_GIB = 1.0  # kept free when deciding what fits: the CUDA context (about 0.3-0.5 GB), the
                      # allocator's fragmentation and short-lived temporaries, none of them in the estimate


@dataclass(frozen=True)
class TrainingSetup:
    """How a model is fine-tuned: what :func:`estimate_footprint` needs besides the architecture."""
    method: str = "qlora"                    # "full", "lora" or "qlora"
    r: int = 64                              # LoRA rank (QLoRA's Guanaco runs: 64)
    target_modules: str | tuple[str, ...] = "all-linear"  # as PEFT's LoraConfig
    batch_size: int = 1                      # sequences per step
    seq_len: int = 512                       # tokens per sequence (a padded batch: all this long)
    optimizer: str = "paged_adamw_32bit"     # one of OPTIMIZERS (transformers' `optim` names)
    gradient_checkpointing: bool = True      # keep only each layer's input, recompute the rest
    dtype: str = "bf16"                      # weights and compute: "bf16", "fp16", or "fp32" (CPU)
    adapter_dtype: str = "fp32"              # PEFT keeps LoRA weights in float32 (autocast_adapter_dtype)
    double_quant: bool = True                # QLoRA: block scales in 8 bits
    blocksize: int = 64                      # QLoRA: weights per NF4 block scale
    kbit_upcast: bool = True                 # QLoRA: prepare_model_for_kbit_training casts the
                                             # unquantized weights (embeddings, norms) to float32
    master_weights: bool = False             # full fine-tuning in 16 bits: also a float32 master copy
                                             # of the weights (mixed precision: 16 bytes/param, not 12)
    padded: bool = True                      # the batch holds padding, so attention gets a mask; a single
                                             # sequence (or packed rows) has none: no mask, and K and V
                                             # reach SDPA at the key/value heads' width (enable_gqa)

    def __post_init__(self):
        _check_choice("method", self.method, METHODS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("dtype", self.dtype, tuple(DTYPE_BYTES))
        _check_choice("adapter_dtype", self.adapter_dtype, tuple(DTYPE_BYTES))
        for name in ("r", "batch_size", "seq_len", "blocksize"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("gradient_checkpointing", "padded", "double_quant", "kbit_upcast", "master_weights"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.master_weights and (self.method != "full" or self.dtype == "fp32"):
            raise ValueError("master_weights (a float32 copy of 16-bit weights) applies to method='full' with "
                             f"dtype 'bf16' or 'fp16', got method={self.method!r}, dtype={self.dtype!r}")


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


@dataclass(frozen=True)
class Footprint:
    """Bytes of each part of a training step's memory (estimated or measured)."""
    base_weights: float      # the model's own weights (4-bit storage and its scales included)
    lora_weights: float      # the adapters (0 for full fine-tuning)
    gradients: float         # one per trainable weight
    optimizer_states: float  # e.g. AdamW's two moments
    activations: float       # tensors saved for the backward pass

    @property
    def total(self) -> float:
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, float]:
        """``{part: bytes}`` in the order of the fields."""
        return asdict(self)

    @staticmethod
    def parts() -> list[str]:
        return [f.name for f in fields(Footprint)]


# ---------------------------------------------------------------- storage of one 4-bit tensor


def nf4_tensor_bytes(numel: int, blocksize: int = 64, double_quant: bool = True,
                     dq_blocksize: int = 256) -> int:
    """Bytes bitsandbytes keeps for one weight tensor in NF4 (``Params4bit`` and its ``QuantState``).

    * the 4-bit indices, two per byte: ``ceil(numel / 2)``;
    * one scale per block of ``blocksize`` weights (``n = ceil(numel / blocksize)``): float32
      (``4n``), or with double quantization 8-bit codes (``n``) plus one float32 scale per
      ``dq_blocksize`` codes and one float32 offset;
    * a private copy of the code books: the 16 NF4 values (64 bytes) and, with double
      quantization, the 256-value 8-bit code (1,024 bytes). Negligible on a 4096 × 4096 layer,
      about 5% of a 128 × 128 one.

    ``nf4_tensor_bytes(4096 * 4096)`` = 8,655,940: 4.127 bits per weight (QLoRA, §3).
    """
    for name, value in (("numel", numel), ("blocksize", blocksize), ("dq_blocksize", dq_blocksize)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    n_blocks = math.ceil(numel / blocksize)
    packed = math.ceil(numel / 2) + 16 * 4
    if not double_quant:
        return packed + 4 * n_blocks
    return packed + n_blocks + 4 * math.ceil(n_blocks / dq_blocksize) + 4 + 256 * 4


# ---------------------------------------------------------------- optimizer states


def estimate_optimizer_states(numels: Iterable[int], optimizer: str, param_bytes: int = 4) -> int:
    """Bytes of AdamW's state for trainable tensors of the given sizes (bitsandbytes 0.50 / torch rules).

    The rule :func:`lorakit.memory.probe.optimizer_state_bytes` measures: per-weight state tensors
    only (a 0-d step counter is left out).

    Args:
        numels: the number of elements of each trainable tensor.
        optimizer: ``"adamw_torch"`` (``torch.optim.AdamW``: two moments in the parameter's dtype), ``"adamw_32bit"`` / ``"paged_adamw_32bit"``
            (bitsandbytes: two float32 moments), ``"adamw_8bit"`` / ``"paged_adamw_8bit"`` (two
            uint8 moments and two float32 scales per 256 values; tensors under 4,096 elements keep
            float32 moments; plus the two shared 256-value code books).
        param_bytes: bytes per element of the trainable tensors (for ``"adamw_torch"``).
    """
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    numels = list(numels)
    if optimizer == "adamw_torch":
        return sum(2 * n * param_bytes for n in numels)
    if optimizer.endswith("32bit"):
        return sum(8 * n for n in numels)
    total, any_8bit = 0, False
    for n in numels:
        if n < MIN_8BIT_SIZE:
            total += 8 * n
        else:
            any_8bit = True
            total += 2 * n + 2 * 4 * math.ceil(n / OPTIM_8BIT_BLOCKSIZE)
    return total + (2 * 256 * 4 if any_8bit else 0)


# ---------------------------------------------------------------- activations


def _arch(config) -> dict:
    """The widths the activation rules need, from a Llama-style ``transformers`` config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return {"h": config.hidden_size, "i": config.intermediate_size, "L": config.num_hidden_layers,
            "V": config.vocab_size, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim}


ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
GROUPS = {"qkv": ("q_proj", "k_proj", "v_proj"), "o": ("o_proj",), "gate_up": ("gate_proj", "up_proj"),
          "down": ("down_proj",)}


def _targets_per_layer(model: nn.Module, target_modules) -> set[str]:
    """Short names (``q_proj``, ...) of the LoRA targets in the first decoder layer."""
    names = find_targets(model, target_modules)
    return {n.rsplit(".", 1)[-1] for n in names if ".layers.0." in f".{n}"}


def activation_bytes(config, setup: TrainingSetup, targets: set[str] | None = None) -> int:
    """Bytes autograd saves for the backward pass of one step of a Llama-style model.

    The rules (measured with ``saved_tensors_hooks`` on PyTorch 2.13's SDPA attention with a padded
    batch, transformers 5, PEFT 0.21; N = batch · seq_len tokens, ``a`` bytes per activation):

    * each RMSNorm: its input in float32 and one float32 statistic per token (4Nh + 4N), plus its
      normalised output (aNh) when its weight trains (full fine-tuning);
    * attention: Q and the output (2·aN·heads·head_dim), K and V, one float32 log-sum-exp per token and
      head, and, for a padded batch (``setup.padded``), the B × T × T mask in ``a`` bytes. K and V are
      stored repeated to every query head only when a padded batch makes transformers repeat them
      (``repeat_kv``) and there is more than one key/value head (with one, the repeat is a view); without
      padding transformers asks SDPA for grouped-query attention (``enable_gqa``) and they stay at the
      key/value heads' width (checked on shapes the rule was not written from:
      ``scripts/producers/estimate_heldout.py``);
    * MLP: gate, SiLU(gate) and up (3·aNi);
    * a linear layer whose weight trains saves its input; the inputs of q/k/v share one tensor,
      gate/up another, o_proj's is attention's output. PEFT's LoRA branch casts its input to the
      adapter's dtype: when that is a no-op the input is shared, otherwise each target saves its own
      copy. Every LoRA pair also saves A·x (N·r in the adapter's dtype);
    * outside the layers: the final norm, ``lm_head``'s input if it trains, the logits' float32
      log-softmax (4NV), the labels (8N), and rotary cos/sin;
    * nothing upstream of the first trainable weight is saved (LoRA: layer 0's first norm);
    * gradient checkpointing keeps only each layer's input (aNh per layer); the layer is rerun
      during backward, which adds one layer's activations for a moment (not counted here).

    QLoRA after ``prepare_model_for_kbit_training`` runs its hidden states in float32 whatever the
    compute dtype (the embeddings were upcast; ``Linear4bit`` casts its output back), so ``a = 4``.
    """
    arch = _arch(config)
    h, i, L, V, H, hd = arch["h"], arch["i"], arch["L"], arch["V"], arch["heads"], arch["head_dim"]
    H_kv = arch["kv_heads"]
    B, T = setup.batch_size, setup.seq_len
    N = B * T
    a = 4 if (setup.method == "qlora" and setup.kbit_upcast) else DTYPE_BYTES[setup.dtype]
    ad = DTYPE_BYTES[setup.adapter_dtype]
    full = setup.method == "full"
    outside = 4 * N * V + 8 * N + (4 * N * h + 4 * N)  # logits' log-softmax, labels, final norm
    if full:
        outside += 8 * N + a * N * h + a * N * h  # token ids, final norm output, lm_head input
    if setup.gradient_checkpointing:
        return L * a * N * h + outside
    outside += 2 * T * hd * a                      # rotary cos and sin, shared by the layers

    norm = 4 * N * h + 4 * N + (a * N * h if full else 0)
    kv_width = H if (setup.padded and H_kv > 1) else H_kv   # heads K and V are stored at
    attention = 2 * a * N * H * hd + 2 * a * N * kv_width * hd + 4 * N * H + (a * B * T * T if setup.padded else 0)
    mlp = 3 * a * N * i
    widths = {"qkv": h, "o": h, "gate_up": h, "down": i}
    if full:
        inputs = a * N * (2 * h + i)  # qkv input, gate/up input, down input (o's is attention's output)
    else:
        targets = targets if targets is not None else set(GROUPS["qkv"] + GROUPS["o"] + GROUPS["gate_up"]
                                                          + GROUPS["down"])
        inputs = 0
        for group, members in GROUPS.items():
            chosen = [m for m in members if m in targets]
            if not chosen:
                continue
            if ad != a:                       # PEFT casts the input: one copy per target
                inputs += len(chosen) * ad * N * widths[group]
            elif group != "o":                # shared by the group; o_proj's is attention's output
                inputs += a * N * widths[group]
        inputs += len(targets) * ad * N * setup.r  # A·x of every LoRA pair
    per_layer = 2 * norm + attention + mlp + inputs
    skipped = 0 if full else _upstream_of_first_target(targets, norm, attention)
    return L * per_layer - skipped + outside


def _upstream_of_first_target(targets: set[str], norm: int, attention: int) -> int:
    """Bytes of layer 0 that need no gradient under LoRA: everything before its first target."""
    if targets & set(GROUPS["qkv"]):
        return norm                    # only the input norm
    if "o_proj" in targets:
        return norm                    # q, k, v carry no gradient but SDPA saves them anyway
    return 2 * norm + attention        # MLP-only targets: the attention block is frozen upstream


# ---------------------------------------------------------------- the whole footprint


def _decoder_linears(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers bitsandbytes quantizes: all but the output head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [m for m in model.modules() if isinstance(m, nn.Linear) and m is not head]


def estimate_footprint(model_or_name, setup: TrainingSetup | None = None) -> Footprint:
    """Estimated bytes of each part of one training step (see the module docstring).

    Args:
        model_or_name: a shipped config name (``"huggyllama/llama-65b"``, ``"tiny-lm"``), a
            ``transformers`` config, or a model without LoRA (any device; only shapes are read).
        setup: :class:`TrainingSetup` (default: QLoRA as in the paper, r = 64 on all linear
            layers, batch 1 × 512 tokens, paged AdamW 32-bit, gradient checkpointing, bf16).

    Example: ``estimate_footprint("huggyllama/llama-65b").total / 1e9`` is about 48 GB with PEFT's
    defaults (float32 adapters); ``adapter_dtype="bf16", kbit_upcast=False`` as in the paper's
    ``qlora.py`` brings it down by a few GB.
    """
    setup = setup or TrainingSetup()
    if isinstance(model_or_name, nn.Module):
        model = model_or_name
    elif isinstance(model_or_name, str):
        model = _shared_meta_model(model_or_name)   # cached: a 65B meta model takes a moment to build
    else:
        model = meta_model(model_or_name)
    config = model.config
    w = DTYPE_BYTES[setup.dtype]
    ad = DTYPE_BYTES[setup.adapter_dtype]
    all_params = list(model.parameters())
    if setup.method == "full":
        trainable = [p.numel() for p in all_params]
        base, lora, grads = w * sum(trainable), 0, w * sum(trainable)
        states = estimate_optimizer_states(trainable, setup.optimizer, param_bytes=w)
        states += 4 * sum(trainable) if setup.master_weights else 0   # counted with the states, as ZeRO does
        targets = None
    else:
        names = find_targets(model, setup.target_modules)
        layers = [model.get_submodule(n) for n in names]
        trainable = [n for layer in layers for n in (setup.r * layer.in_features, layer.out_features * setup.r)]
        lora, grads = ad * sum(trainable), ad * sum(trainable)
        states = estimate_optimizer_states(trainable, setup.optimizer, param_bytes=ad)
        targets = _targets_per_layer(model, setup.target_modules)
        base = w * sum(p.numel() for p in all_params)
        if setup.method == "qlora":
            quantized = {id(m.weight): m.weight.numel() for m in _decoder_linears(model)}
            other = 4 if setup.kbit_upcast else w
            base = sum(nf4_tensor_bytes(quantized[id(p)], setup.blocksize, setup.double_quant)
                       if id(p) in quantized else other * p.numel() for p in all_params)
    return Footprint(base_weights=base, lora_weights=lora, gradients=grads, optimizer_states=states,
                     activations=activation_bytes(config, setup, targets))


def fits(total_bytes: float, gpu_gib: float, margin_gib: float = FIT_MARGIN_GIB) -> bool:
    """Whether ``total_bytes`` fit a card that gives PyTorch ``gpu_gib`` GiB, keeping ``margin_gib`` free.

    ``fits(16.2e9, 14.7)`` is False: 15.1 GiB is more than a T4's 14.7 - 1 GiB.
    """
    if margin_gib < 0 or margin_gib >= gpu_gib:
        raise ValueError(f"margin_gib must be in [0, gpu_gib={gpu_gib}), got {margin_gib}")
    return total_bytes <= (gpu_gib - margin_gib) * 2**30


def smallest_gpu(total_bytes: float, dtype: str | None = None, gpus: dict[str, float] = GPUS_GIB,
                 margin_gib: float = FIT_MARGIN_GIB) -> str:
    """The first GPU in ``gpus`` ({name: GiB it gives PyTorch}) that :func:`fits` ``total_bytes``, or ``"none"``.

    With ``dtype="bf16"`` a T4 is passed over (compute capability 7.5: no bfloat16); with no dtype
    only the memory counts (the tables of notebook 04 compare sizes, whatever the dtype).
    """
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {list(DTYPE_BYTES)} or None, got {dtype!r}")
    for name, gib in gpus.items():
        if dtype == "bf16" and name.startswith("T4"):
            continue
        if fits(total_bytes, gib, margin_gib):
            return name
    return "none"


def footprint_table(names: Iterable[str], setups: dict[str, TrainingSetup]) -> list[dict]:
    """One row per (model, setup label): GB per part, the total, and the smallest GPU that holds it."""
    rows = []
    for name in names:
        for label, setup in setups.items():
            fp = estimate_footprint(name, setup)
            row = {"model": name.split("/")[-1], "method": label}
            row.update({part: round(b / 1e9, 2) for part, b in fp.as_dict().items()})
            row.update({"total GB": round(fp.total / 1e9, 1), "fits": smallest_gpu(fp.total)})
            rows.append(row)
    return rows


__all__ = ["DTYPE_BYTES", "FIT_MARGIN_GIB", "Footprint", "GPUS_GIB", "METHODS", "MIN_8BIT_SIZE", "OPTIMIZERS",
           "PAGED_MIN_NUMEL", "TrainingSetup", "activation_bytes", "estimate_footprint", "fits", "footprint_table",
           "nf4_tensor_bytes", "estimate_optimizer_states", "smallest_gpu"]
