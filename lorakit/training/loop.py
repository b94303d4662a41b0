"""A small, explicit fine-tuning loop for causal LMs on prompt → answer pairs.

The notebooks use it for every short fine-tune (LoRA, QLoRA, full), so a learner reads one loop,
not a new one per notebook. The loss is taken on the answer tokens only (the prompt is masked with
-100, as TRL's ``completion_only_loss`` does). Training stops at ``max_steps`` or after
``max_seconds`` of wall time, whichever comes first, so a CPU run has a predictable length.

Mixed precision, for whatever model it is given (Micikevicius et al. 2018, "Mixed Precision
Training"). A model loaded in float16 (a T4) or bfloat16 computes in that dtype, but an optimizer
step on 16-bit weights loses the small updates (a float16 weight near 1 moves in steps of 2^-10) and
plain AdamW on float16 weights overflows to NaN. So:

* trainable weights are fp32 *masters* while training: LoRA weights already are (``LoRALinear``,
  PEFT's ``autocast_adapter_dtype``); 16-bit trainable weights (a full fine-tune) are upcast to fp32
  in place, the same ``Parameter`` objects, and rounded back to their dtype once at the end, so the
  model comes back trained and in the dtypes it came in;
* the forward pass runs under ``torch.autocast`` in the model's 16-bit dtype, so matmuls still run at
  16-bit speed;
* in float16 a ``GradScaler`` multiplies the loss before ``backward`` so small gradients do not
  underflow, and skips a step whose gradients overflowed (bfloat16 has float32's range: no scaler).

A model whose floating-point weights are all fp32 trains in plain fp32, as before.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from lorakit.data.qa import format_example

IGNORE_INDEX = -100
# The GradScaler's first loss scale. With PyTorch's default, 2**16, the first float16 step of the
# shipped model and of make t4-sim's proxy overflowed and was skipped; a run of a few steps (the
# `sim` preset) cannot spare it. 2**10 skipped none there, and the scaler still grows it when it can.
SCALER_INIT = 2.0 ** 10


@dataclass
class TrainConfig:
    lr: float = 2e-3               # LoRA on a tiny model likes a high rate; ~2e-4 for 1B+ models
    batch_size: int = 16
    max_steps: int | None = None   # None: run until max_seconds
    max_seconds: float | None = 90.0
    warmup_steps: int = 20
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0     # 0 or None: no clipping
    shuffle: bool = True           # False: batches in file order, epoch after epoch
    seed: int = 0


@dataclass
class TrainResult:
    steps: int
    seconds: float
    examples_seen: int
    losses: list[float] = field(default_factory=list)
    compute_dtype: str = "float32"  # the autocast dtype of the forward pass ("float32": no autocast)
    skipped_steps: int = 0          # float16 steps the GradScaler skipped (gradients overflowed)

    @property
    def final_loss(self) -> float:
        tail = self.losses[-20:]
        return sum(tail) / len(tail) if tail else float("nan")


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int = 512) -> list[dict]:
    """Token ids and labels for (prompt, answer) pairs: labels are -100 on the prompt.

    The answer is followed by EOS so the model learns where to stop.
    """
    encoded = []
    for prompt, answer in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p + a)[-max_length:]
        labels = ([IGNORE_INDEX] * len(p) + a)[-max_length:]
        encoded.append({"input_ids": ids, "labels": labels})
    return encoded


def collate(batch: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples into tensors (padding is masked out).

    Each example has ``input_ids`` and, for training, ``labels`` (padded with -100, so the loss
    skips the padding); without labels the result has ``input_ids`` and ``attention_mask`` only.
    """
    width = max(len(b["input_ids"]) for b in batch)
    with_labels = "labels" in batch[0]
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[i, :n] = torch.tensor(b["input_ids"])
        if with_labels:
            labels[i, :n] = torch.tensor(b["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask} if with_labels else \
        {"input_ids": ids, "attention_mask": mask}


def autocast_dtype(model) -> torch.dtype | None:
    """The 16-bit dtype the model computes in, or ``None`` if its floating-point weights are all fp32.

    float16 wins over bfloat16 if both occur (it is the one that needs a ``GradScaler``).
    """
    dtypes = {p.dtype for p in model.parameters() if p.dtype.is_floating_point}
    for dtype in (torch.float16, torch.bfloat16):
        if dtype in dtypes:
            return dtype
    return None


def _upcast_trainable(params: Sequence[torch.nn.Parameter]) -> list[tuple[torch.nn.Parameter, torch.dtype]]:
    """Make 16-bit trainable weights fp32 masters, in place; return (param, original dtype) pairs."""
    upcast = []
    for p in params:
        if p.dtype in (torch.float16, torch.bfloat16):
            upcast.append((p, p.dtype))
            p.data = p.data.float()
    return upcast


def batch_indices(n: int, batch_size: int, shuffle: bool = True, seed: int = 0) -> Iterator[list[int]]:
    """Endless batches of example indices, epoch after epoch (a batch may span two epochs).

    ``shuffle=True`` draws a fresh permutation of ``range(n)`` for every epoch (seeded); ``False``
    keeps file order: ``n=5, batch_size=2`` gives ``[0, 1], [2, 3], [4, 0], [1, 2], ...``.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"batch_indices needs n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        while len(order) < batch_size:
            order += rng.sample(range(n), n) if shuffle else list(range(n))
        yield order[:batch_size]
        order = order[batch_size:]


def finetune(model, tokenizer, examples: Sequence[dict], config: TrainConfig | None = None,
             to_pair: Callable[[dict], tuple[str, str]] = format_example,
             optimizer: torch.optim.Optimizer | None = None) -> TrainResult:
    """Train the trainable parameters of ``model`` on ``examples`` (answer-only loss), in place.

    Args:
        model: a causal LM; whatever has ``requires_grad=True`` is trained (LoRA weights after
            PEFT's ``get_peft_model`` or ``inject_lora``, everything for a full fine-tune). Any
            dtype: a float16/bfloat16 model trains in mixed precision (see the module docstring).
        tokenizer: its tokenizer (needs ``eos_token_id`` and ``pad_token_id``).
        examples: dicts turned into (prompt, answer) by ``to_pair`` (default: the QA template).
        config: :class:`TrainConfig`; stops at ``max_steps`` or ``max_seconds``.
        optimizer: default AdamW over the trainable parameters (pass e.g. a paged optimizer).

    Returns:
        :class:`TrainResult` with the loss of every step; the model is left in eval mode.
    """
    config = config or TrainConfig()
    if config.max_steps is None and config.max_seconds is None:
        raise ValueError("set TrainConfig.max_steps or TrainConfig.max_seconds (or both)")
    if not examples:
        raise ValueError("finetune() needs at least one example")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (did you freeze everything?)")
    device = next(model.parameters()).device
    data = encode_pairs(tokenizer, [to_pair(e) for e in examples])
    half = autocast_dtype(model)                      # read before the masters are upcast
    upcast = _upcast_trainable(params)
    opt = optimizer or torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type, init_scale=SCALER_INIT, enabled=half == torch.float16)
    batches = batch_indices(len(data), config.batch_size, config.shuffle, config.seed)
    torch.manual_seed(config.seed)
    model.train()
    result = TrainResult(steps=0, seconds=0.0, examples_seen=0,
                         compute_dtype=str(half or torch.float32).replace("torch.", ""))
    start = time.perf_counter()
    try:
        while True:
            if config.max_steps is not None and result.steps >= config.max_steps:
                break
            if config.max_seconds is not None and time.perf_counter() - start >= config.max_seconds:
                break
            idx = next(batches)
            batch = {k: v.to(device) for k, v in collate([data[i] for i in idx], tokenizer.pad_token_id).items()}
            lr = config.lr * min(1.0, (result.steps + 1) / max(1, config.warmup_steps))
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
                loss = model(**batch).loss
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)                      # clip the true gradients, not the scaled ones
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            scale = scaler.get_scale()
            scaler.step(opt)                          # skipped if a gradient is inf/NaN (float16)
            scaler.update()
            result.skipped_steps += int(scaler.is_enabled() and scaler.get_scale() < scale)
            result.steps += 1
            result.examples_seen += len(idx)
            result.losses.append(loss.item())
    finally:
        result.seconds = time.perf_counter() - start
        opt.zero_grad(set_to_none=True)               # free the gradients (and fit the dtypes below)
        with torch.no_grad():
            for p, dtype in upcast:                   # round the fp32 masters once, back to the model's dtype
                p.data = p.data.to(dtype)
        model.eval()
    return result
