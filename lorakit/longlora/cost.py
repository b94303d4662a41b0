"""What S²-Attn saves: attention FLOPs counted, and seconds per training step measured.

Attention has two matrix products whose size grows with the square of the sequence length N: the
scores Q·Kᵀ ((N, d) × (d, N) per head) and their weighted sum of the values (scores · V). Each costs
2·N²·d FLOPs per head (a multiply and an add per term). S²-Attn computes them inside groups of G
tokens: N / G groups of 2·G²·d, i.e. 2·N·G·d, so the ratio is N / G, 4 at LongLoRA's G = N / 4,
whatever N is (shifting half the heads moves groups, it adds no work). The counts
below are for the full matrices: a kernel that skips the causal upper triangle does about half of
either, which leaves the ratio unchanged. Everything else in a training step (the linear layers,
the MLP, the loss) is the same with either attention, so even an attention that ran N / G times
faster would speed a whole step up by less, the more so the smaller attention's share of the step.
Whether the grouped attention runs faster at all depends on how it is computed: rolling,
reshaping and masking cost time too, and on a CPU with a small model they can outweigh the saved
products (:func:`attention_seconds` times the operation alone).
"""
from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from lorakit.course.timing import compare_seconds
from lorakit.longlora.attention import disable_s2_attn, enable_s2_attn, group_size_for
from lorakit.longlora.s2_attention import s2_attention


def attention_flops(seq_len: int, head_dim: int, n_heads: int, n_layers: int = 1, batch_size: int = 1,
                    group_size: int | None = None) -> int:
    """FLOPs of the two quadratic products of attention (Q·Kᵀ and scores·V), forward pass.

    ``2 · 2 · N · G · d`` per head and layer, with ``G = N`` for full attention (``group_size=None``).
    Example: N = 512, d = 32, 4 heads, 4 layers: full 536,870,912; G = 128: 134,217,728 (4× fewer).
    """
    for name, value in (("seq_len", seq_len), ("head_dim", head_dim), ("n_heads", n_heads),
                        ("n_layers", n_layers), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    group = seq_len if group_size is None else group_size
    if isinstance(group, bool) or not isinstance(group, int) or group < 1 or seq_len % group:
        raise ValueError(f"group_size must divide seq_len={seq_len}, got {group_size!r}")
    return 2 * 2 * seq_len * group * head_dim * n_heads * n_layers * batch_size


def model_attention_flops(config, seq_len: int, batch_size: int = 1, group_size: int | None = None) -> int:
    """:func:`attention_flops` for a transformers config (heads, head size and layers read from it)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return attention_flops(seq_len, head_dim, config.num_attention_heads, config.num_hidden_layers,
                           batch_size, group_size)


def _interleaved(fns, repeats: int, rounds: int) -> dict:
    """``{"full": s, "s2": s, "rounds": {"full": [...], "s2": [...]}}``: the median over interleaved rounds
    (as :func:`lorakit.course.timing.compare_seconds` with ``rounds``) and each round's median, for :func:`speed_verdict`."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    each = [compare_seconds(fns, repeats=repeats, warmup=1 if i == 0 else 0, rounds=1) for i in range(rounds)]
    per_round = {name: [r[name] for r in each] for name in fns}
    return {**{name: statistics.median(values) for name, values in per_round.items()}, "rounds": per_round}


def speed_verdict(timed: dict) -> str:
    """Which attention was faster, only where the interleaved rounds agree.

    ``timed``: one length's record from :func:`step_seconds` or :func:`attention_seconds`. Returns
    ``"s2"`` when every S²-Attn round took less time than every full-attention round, ``"full"`` when
    every full-attention round did, else ``"overlap"`` (the rounds overlap: the difference is within this
    machine's round-to-round noise). Example: full ``[0.10, 0.11, 0.12]``, S²-Attn ``[0.09, 0.10, 0.13]``
    -> ``"overlap"``. Timings do not go through :func:`lorakit.stats.compare`: a few rounds are too few
    for its bootstrap.
    """
    rounds = timed.get("rounds") if isinstance(timed, dict) else None
    if not rounds or not rounds.get("full") or not rounds.get("s2"):
        raise ValueError("speed_verdict needs a record with per-round times, {'rounds': {'full': [...], 's2': [...]}}, "
                         "as step_seconds and attention_seconds return")
    if max(rounds["s2"]) < min(rounds["full"]):
        return "s2"
    if max(rounds["full"]) < min(rounds["s2"]):
        return "full"
    return "overlap"


def step_seconds(model, seq_lens, tokens_per_batch: int, group_size_ratio: float = 0.25, repeats: int = 3,
                 rounds: int = 2, seed: int = 0) -> dict[int, dict[str, float]]:
    """Median seconds of one training step (forward and backward) with full attention and with S²-Attn.

    For each length N in ``seq_lens`` a batch of ``tokens_per_batch // N`` random sequences is used,
    so the work outside attention is the same at every length. The two attentions are timed in
    interleaved rounds (:func:`lorakit.course.timing.compare_seconds`). The model's weights do not change
    (no optimizer step; gradients are discarded), so it needs trainable parameters (e.g. LoRA).
    Leaves the model with full attention.

    Returns:
        ``{N: {"full": seconds, "s2": seconds, "rounds": {"full": [...], "s2": [...]}}}``: medians over
        the rounds, and each round's median (:func:`speed_verdict` reads them).
    """
    device = next(model.parameters()).device
    vocab = model.config.vocab_size if hasattr(model, "config") else 1000
    gen = torch.Generator().manual_seed(seed)
    out = {}
    was_training = model.training
    model.train()
    try:
        for n in seq_lens:
            group_size_for(n, group_size_ratio)                       # fail early on a length that does not split
            batch = max(1, tokens_per_batch // n)
            ids = torch.randint(0, vocab, (batch, n), generator=gen).to(device)

            def step(s2: bool):
                enable_s2_attn(model, group_size_ratio) if s2 else disable_s2_attn(model)
                model(input_ids=ids, labels=ids).loss.backward()
                model.zero_grad(set_to_none=True)

            out[n] = _interleaved({"full": lambda: step(False), "s2": lambda: step(True)}, repeats, rounds)
    finally:
        disable_s2_attn(model)
        model.train(was_training)
    return out


def attention_seconds(seq_lens, tokens_per_batch: int, n_heads: int, head_dim: int, group_size_ratio: float = 0.25,
                      repeats: int = 3, rounds: int = 2, seed: int = 0) -> dict[int, dict[str, float]]:
    """Median seconds of the attention operation alone (forward and backward), full against S²-Attn.

    Random ``(tokens_per_batch // N, n_heads, N, head_dim)`` queries, keys and values; full causal
    attention is PyTorch's ``scaled_dot_product_attention``, S²-Attn is :func:`s2_attention` (leak-free,
    groups of ``N * group_size_ratio``). This is the part of a step that S²-Attn changes.

    Returns:
        ``{N: {"full": seconds, "s2": seconds, "rounds": {"full": [...], "s2": [...]}}}``, as :func:`step_seconds`.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n in seq_lens:
        group = group_size_for(n, group_size_ratio)
        q, k, v = (torch.randn(max(1, tokens_per_batch // n), n_heads, n, head_dim, generator=gen).requires_grad_()
                   for _ in range(3))

        def run(fn):
            fn(q, k, v).sum().backward()
            q.grad = k.grad = v.grad = None

        out[n] = _interleaved({"full": lambda: run(lambda *x: F.scaled_dot_product_attention(*x, is_causal=True)),
                               "s2": lambda: run(lambda *x: s2_attention(*x, group))}, repeats, rounds)
    return out


__all__ = ["attention_flops", "attention_seconds", "model_attention_flops", "speed_verdict", "step_seconds"]
