"""Shifted sparse attention (S²-Attn): causal attention inside groups, half the heads shifted.

LongLoRA (Chen et al. 2023, arXiv 2309.12307, Algorithm 1) trains a model on sequences of N
tokens without paying for N × N attention scores. The sequence is cut into N / G groups of G
tokens and each token attends (causally) only inside its group: (N / G) · G² = N · G scores instead
of N², 4× fewer at the paper's G = N / 4. Groups alone would never exchange information, so half of
the heads use groups shifted by G / 2, which straddle the boundaries of the plain groups:

    plain heads   [H // 2 first]:  | 0 .. G-1 | G .. 2G-1 | ... |
    shifted heads [H // 2 :]    :  | 0 .. G/2-1 | G/2 .. 3G/2-1 | ... | N-G/2 .. N-1 |

Training uses this pattern; at inference the model runs full attention (the pattern is a training
device, not a change to the model).

Two ways to cut the shifted groups
----------------------------------
The official ``forward_noflashattn`` *rolls* the shifted heads by ``-G // 2`` and reshapes: the first
G / 2 tokens wrap around to the end, into the last group, *after* the last G / 2 tokens. Under
causal attention inside that group, tokens 0 .. G/2-1 then attend to tokens N-G/2 .. N-1: early
positions see the end of the sequence, a leak from the future. In dvlab-research/LongLoRA issue
#15 the maintainers confirm the wrap-around and call it deliberate; only in issue #90 do they concede
that it "potentially introduce[s] leakage". Their flash-attention path cuts the groups with
``cu_seqlens`` offset by G / 2 instead, so the first G / 2 tokens form a group of their own and
nothing wraps. :func:`s2_attention` computes the leak-free form by default (``wrap=False``): it
rolls too (so every group keeps G tokens and one batched call does the work) but masks the
wrapped group by the tokens' *original* positions, which splits it into its two causal halves.
``wrap=True`` reproduces the official roll, leak included.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def shift_heads(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Roll the second half of the heads (``[H // 2:]``) by ``-shift`` along the sequence axis.

    Token ``t + shift`` of a shifted head moves to slot ``t``; the first ``shift`` tokens wrap
    around to the end. Returns a new tensor; ``x`` is not modified (the official ``shift()`` edits
    its input in place).

    Args:
        x: ``(batch, heads, seq, head_dim)``.
        shift: how far to roll, ``group_size // 2`` in S²-Attn.

    Example (one plain and one shifted head, seq 4, shift 1): positions ``[[0, 1, 2, 3], [0, 1, 2, 3]]``
    become ``[[0, 1, 2, 3], [1, 2, 3, 0]]``.
    """
    half = x.shape[1] // 2
    return torch.cat([x[:, :half], x[:, half:].roll(-shift, dims=2)], dim=1)


def unshift_heads(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Undo :func:`shift_heads`: roll heads ``[H // 2:]`` back by ``+shift``. Returns a new tensor."""
    half = x.shape[1] // 2
    return torch.cat([x[:, :half], x[:, half:].roll(shift, dims=2)], dim=1)


def check_token_group_size(seq_len: int, group_size: int) -> None:
    """Raise a clear ``ValueError`` unless ``group_size`` is a positive divisor of ``seq_len``."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int (tokens per group), got {group_size!r}")
    if seq_len % group_size:
        raise ValueError(f"S2-Attn cuts the sequence into groups of group_size tokens: a sequence of {seq_len} "
                         f"tokens is not a multiple of group_size={group_size}; pad or trim it to a multiple "
                         f"(e.g. {seq_len - seq_len % group_size} or {seq_len + group_size - seq_len % group_size})")


def _group_mask(seq_len: int, group_size: int, shift: int, attention_mask: torch.Tensor | None,
                wrap: bool, device: torch.device) -> torch.Tensor | None:
    """Which keys each query may see inside its group, for the heads rolled by ``-shift``.

    Slot ``s`` of the rolled sequence holds original position ``(s + shift) % seq``; groups are
    consecutive slots. Leak-free (``wrap=False``): a query sees a key of its group when the key's
    original position is not later and both lie in the same shifted group ``(pos + shift) // G``, so
    the wrapped group splits into its two causal halves. ``wrap=True``: causal by slot order.

    Args:
        attention_mask: ``None`` (plain causal) or a boolean ``(batch, 1, seq, seq)`` mask over
            original positions (transformers' causal mask, with padding), True = may attend.

    Returns:
        ``None`` when causal attention inside every group is exact (``shift == 0`` or ``wrap``,
        without a mask), else a boolean mask ``(batch or 1, n_groups, 1, G, G)``.
    """
    if attention_mask is None and (shift == 0 or wrap):
        return None
    pos = torch.arange(seq_len, device=device).roll(-shift).view(-1, group_size)   # (n, G) original positions
    if wrap and shift:   # causal by slot; keys that padding hides from every query stay hidden
        keep = attention_mask.any(dim=-2)[:, 0][:, pos]                              # (B, n, G)
        causal = torch.ones(group_size, group_size, dtype=torch.bool, device=device).tril()
        return (causal & keep[:, :, None, :])[:, :, None]                            # (B, n, 1, G, G)
    segment = (pos + shift) // group_size                                            # shifted group, no wrap
    allowed = (pos[:, :, None] >= pos[:, None, :]) & (segment[:, :, None] == segment[:, None, :])  # (n, G, G)
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, 0][:, pos[:, :, None], pos[:, None, :]]  # (B, n, G, G)
    else:
        allowed = allowed[None]
    return allowed[:, :, None]                                                       # (B or 1, n, 1, G, G)


def _grouped_attention(q, k, v, group_size, shift, attention_mask, scaling, dropout, wrap):
    """Attention inside groups of ``group_size`` consecutive slots of heads already rolled by ``-shift``."""
    B, h, N, D = q.shape
    n = N // group_size

    def split(x):   # (B, h, N, D) -> (B * n, h, G, D): each group becomes a batch row
        return x.reshape(B, h, n, group_size, D).transpose(1, 2).reshape(B * n, h, group_size, D)

    mask = _group_mask(N, group_size, shift, attention_mask, wrap, q.device)
    if mask is not None:
        mask = mask.expand(B, n, 1, group_size, group_size).reshape(B * n, 1, group_size, group_size)
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask, dropout_p=dropout,
                                         is_causal=mask is None, scale=scaling)   # (B * n, h, G, D)
    return out.reshape(B, n, h, group_size, D).transpose(1, 2).reshape(B, h, N, D)


def s2_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, group_size: int, *,
                 attention_mask: torch.Tensor | None = None, scaling: float | None = None,
                 dropout: float = 0.0, wrap: bool = False, shift: bool = True) -> torch.Tensor:
    """Shifted sparse attention (LongLoRA's S²-Attn) of queries, keys and values.

    Heads ``[:H // 2]`` attend causally inside groups ``[0, G), [G, 2G), ...``; heads ``[H // 2:]``
    inside the groups shifted by ``G // 2`` (see the module docstring). With one group
    (``group_size == seq``) the plain heads compute full causal attention and the shifted heads
    causal attention inside each half of the sequence; with ``shift=False`` as well, it is exactly
    full causal attention.

    Args:
        q, k, v: ``(batch, heads, seq, head_dim)``, the same number of heads (repeat grouped-query
            keys and values first, e.g. with transformers' ``repeat_kv``). Not modified.
        group_size: G, tokens per group; a divisor of ``seq``, even when shifting (LongLoRA: ``seq // 4``).
        attention_mask: optional boolean ``(batch or 1, 1, seq, seq)``, True where a query may attend
            to a key in *full* attention (transformers' causal mask with padding). Each group keeps
            its block of it. ``None`` means plain causal attention without padding.
        scaling: the factor on q·kᵀ (default ``head_dim ** -0.5``).
        dropout: attention dropout probability (use 0 in evaluation).
        wrap: ``False`` (default) cuts the shifted groups without wrap-around (the official flash
            path); ``True`` rolls as the official ``forward_noflashattn`` does, so the first G / 2
            tokens of the shifted heads also see the last G / 2.
        shift: ``False`` gives every head the plain groups (the paper's short attention without
            shift, an ablation; and with one group, full causal attention).

    Returns:
        ``(batch, heads, seq, head_dim)``, in the order of the input (shifted heads rolled back).
    """
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k, v must all be (batch, heads, seq, head_dim) with the same shape; got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)} (repeat grouped-query k/v first)")
    B, H, N, D = q.shape
    check_token_group_size(N, group_size)
    if shift and (H < 2 or group_size % 2):
        raise ValueError(f"S2-Attn shifts half of the heads by group_size // 2, so it needs at least 2 heads and "
                         f"an even group_size; got {H} heads, group_size={group_size}")
    if attention_mask is not None and (attention_mask.dtype != torch.bool or attention_mask.shape[-2:] != (N, N)):
        raise ValueError(f"attention_mask must be a boolean (batch, 1, {N}, {N}) mask (True = attend), got "
                         f"{attention_mask.dtype} {tuple(attention_mask.shape)}")
    half, offset = H // 2, (group_size // 2 if shift else 0)
    q, k, v = (shift_heads(x, offset) for x in (q, k, v))     # new tensors; the inputs stay as they were
    plain = _grouped_attention(q[:, :half], k[:, :half], v[:, :half], group_size, 0,
                               attention_mask, scaling, dropout, wrap)
    shifted = _grouped_attention(q[:, half:], k[:, half:], v[:, half:], group_size, offset,
                                 attention_mask, scaling, dropout, wrap)
    return unshift_heads(torch.cat([plain, shifted], dim=1), offset)   # (B, H, N, D)


def s2_attention_mask(seq_len: int, group_size: int, wrap: bool = False, shift: bool = True) -> torch.Tensor:
    """The pattern :func:`s2_attention` computes, as two ``(seq, seq)`` boolean masks over original positions.

    Returns ``(2, seq, seq)``: ``[0]`` for the plain heads, ``[1]`` for the shifted heads; entry
    ``[i, j]`` is True when query ``i`` attends to key ``j``. For plots and tests: the attention itself
    never builds an N × N mask.
    """
    check_token_group_size(seq_len, group_size)
    pos = torch.arange(seq_len)
    plain = (pos[:, None] // group_size == pos[None, :] // group_size) & (pos[:, None] >= pos[None, :])
    shift = group_size // 2 if shift else 0
    if wrap:   # the official roll: groups of consecutive slots after rolling by -shift, causal by slot
        slot = (pos - shift) % seq_len
        shifted = (slot[:, None] // group_size == slot[None, :] // group_size) & (slot[:, None] >= slot[None, :])
    else:      # groups [0, G/2), [G/2, 3G/2), ..., [N - G/2, N), causal
        segment = (pos + shift) // group_size
        shifted = (segment[:, None] == segment[None, :]) & (pos[:, None] >= pos[None, :])
    return torch.stack([plain, shifted])





def s2_reach(seq_len: int, group_size: int, n_layers: int, wrap: bool = False, shift: bool = True,
             s2_layers=None) -> torch.Tensor:
    """Which tokens can pass information to which, through ``n_layers`` layers of S²-Attn.

    One layer lets query ``i`` read key ``j`` when either half of the heads may (the union of the
    two masks of :func:`s2_attention_mask`); stacking layers composes that relation, so
    ``reach[i, j]`` is True when a path ``j -> ... -> i`` of at most ``n_layers`` attention steps
    exists. With full attention every earlier token is one step away; with groups, information from
    far back must hop group by group, about ``G / 2`` tokens per layer with the shift, not at all
    without it. Example: 512 tokens, G = 128, 4 layers: the last token can draw on tokens 192 .. 511 only.

    Args:
        shift: as in :func:`s2_attention` (``False``: every head uses the plain groups).
        s2_layers: the indices of the layers that use S²-Attn (``None``: all); the others use full
            causal attention, as ``enable_s2_attn(..., layers=...)`` sets them.

    Returns a boolean ``(seq, seq)`` tensor.
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
    s2_layers = check_layers(s2_layers, n_layers)
    masks = s2_attention_mask(seq_len, group_size, wrap=wrap, shift=shift)
    grouped = (masks[0] | masks[1]).float()                    # (seq, seq), includes the diagonal
    full = torch.ones(seq_len, seq_len).tril()
    reach = None
    for layer in range(n_layers):
        step = grouped if s2_layers is None or layer in s2_layers else full
        reach = step.clone() if reach is None else ((step @ reach) > 0).float()
    return reach.bool()


def check_layers(layers, n_layers: int | None = None):
    """``None`` or a sorted tuple of distinct layer indices (in ``range(n_layers)`` when given); else ``ValueError``."""
    if layers is None:
        return None
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"layers must be None (every layer) or a sequence of layer indices, got {layers!r}")
    layers = tuple(layers)
    if not layers or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers) or len(set(layers)) < len(layers):
        raise ValueError(f"layers must be distinct non-negative layer indices (at least one), got {layers!r}")
    if n_layers is not None and max(layers) >= n_layers:
        raise ValueError(f"layers {layers} name a layer the model does not have (it has {n_layers}: 0..{n_layers - 1})")
    return tuple(sorted(layers))


__all__ = ["check_layers", "check_token_group_size", "s2_attention", "s2_attention_mask", "s2_reach", "shift_heads", "unshift_heads"]
