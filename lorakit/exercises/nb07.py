"""Checkers for the LongLoRA notebook (S²-Attn, position interpolation).

Exercise 1, ``rolled_s2_attention(q, k, v, group_size)``: S²-Attn as the official code computes it
(roll half the heads, cut into groups, causal attention, roll back), checked against
``lorakit.longlora.s2_attention(..., wrap=True)``.
Exercise 2, ``interpolated_angles(positions, head_dim, theta, factor)``: the rotary angles under linear
position interpolation, checked against transformers' own ``"linear"`` rotary embedding.
Exercise 3, ``leak_free_score_flops(seq_len, group_size, head_dim, n_heads)``: the FLOPs of Q·Kᵀ that
the leak-free cut actually needs (its shifted heads have two half-size groups at the ends).

Each checker runs the learner's function on inputs where the usual slips give different answers,
and names the slip it recognises.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lorakit.longlora.s2_attention import s2_attention
from lorakit.exercises import call, exercise

# ---------------------------------------------------------------- exercise 1: the rolled S²-Attn


def _qkv(seed: int = 0, B: int = 2, H: int = 4, N: int = 16, D: int = 8):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=gen) for _ in range(3)]


def _grouped(q, k, v, G):
    B, H, N, D = q.shape

    def split(x):
        return x.reshape(B, H, N // G, G, D).transpose(1, 2).reshape(-1, H, G, D)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
    return out.reshape(B, N // G, H, G, D).transpose(1, 2).reshape(B, H, N, D)


def _rolled_slips(q, k, v, G) -> dict[str, torch.Tensor]:
    """Outputs of the usual mistakes, for recognising them."""
    half, s = q.shape[1] // 2, G // 2

    def with_roll(heads: slice, direction: int, back: bool):
        qs, ks, vs = (x.clone() for x in (q, k, v))
        for x in (qs, ks, vs):
            x[:, heads] = x[:, heads].roll(direction * s, dims=2)
        out = _grouped(qs, ks, vs, G)
        if back:
            out[:, heads] = out[:, heads].roll(-direction * s, dims=2)
        return out

    return {
        "no head is shifted: every head attends inside the plain groups": _grouped(q, k, v, G),
        "the shifted heads are not rolled back (+G/2) after attention": with_roll(slice(half, None), -1, False),
        "the FIRST half of the heads is shifted; the official code shifts heads [H // 2:]":
            with_roll(slice(None, half), -1, True),
        "every head is shifted; only the second half should be": with_roll(slice(None), -1, True),
    }


@exercise(1)
def check_rolled_s2_attention(rolled_s2_attention) -> str:
    """Check ``rolled_s2_attention(q, k, v, group_size) -> (B, H, N, D)`` against the official roll."""
    if "s2_attention" in getattr(getattr(rolled_s2_attention, "__code__", None), "co_names", ()):
        raise AssertionError("your function calls s2_attention, the very function it is checked against: "
                             "write the roll, the grouping and the attention yourself")
    q, k, v = _qkv()
    copies = [x.clone() for x in (q, k, v)]
    got = call(rolled_s2_attention, q, k, v, 4)
    if any(not torch.equal(a, b) for a, b in zip((q, k, v), copies)):
        raise AssertionError("your function changed q, k or v in place (the official shift() does): "
                             "build new tensors, e.g. with torch.cat or .roll, which copies")
    if not isinstance(got, torch.Tensor) or got.shape != q.shape:
        raise AssertionError(f"return a tensor of the input's shape {tuple(q.shape)}, got "
                             f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    expected = s2_attention(q, k, v, 4, wrap=True)
    if not torch.allclose(got, expected, atol=1e-5):
        for message, wrong in _rolled_slips(q, k, v, 4).items():
            if torch.allclose(got, wrong, atol=1e-5):
                raise AssertionError(message)
        if torch.allclose(got, s2_attention(q, k, v, 4), atol=1e-5):
            raise AssertionError("this is the leak-free cut; the exercise asks for the official roll, where "
                                 "the first G/2 tokens wrap around into the last group")
        bad = (got - expected).abs().amax(dim=(0, 2, 3)) > 1e-5
        raise AssertionError(f"heads {bad.nonzero().flatten().tolist()} differ from the official roll")
    return "your S2-Attn equals the official roll (lorakit's s2_attention with wrap=True)"


# ---------------------------------------------------------------- exercise 3: FLOPs of the leak-free cut


def leak_free_flops(seq_len: int, group_size: int, head_dim: int, n_heads: int) -> int:
    """FLOPs of Q·Kᵀ over the groups the leak-free S²-Attn needs (2 per multiply-add)."""
    plain = (seq_len // group_size) * group_size ** 2
    half = group_size // 2
    shifted = (seq_len // group_size - 1) * group_size ** 2 + 2 * half ** 2
    return 2 * head_dim * (n_heads // 2 * plain + (n_heads - n_heads // 2) * shifted)


@exercise(3)
def check_leak_free_score_flops(leak_free_score_flops) -> str:
    """Check ``leak_free_score_flops(seq_len, group_size, head_dim, n_heads) -> int`` on a few settings."""
    for N, G, d, H in [(512, 128, 32, 4), (8192, 2048, 128, 32), (96, 24, 8, 6)]:
        got = call(leak_free_score_flops, N, G, d, H)
        expected = leak_free_flops(N, G, d, H)
        if got == expected:
            continue
        full_groups = 2 * d * H * (N // G) * G ** 2
        slips = {
            2 * d * H * N * N: "that is full attention (N² per head); count only the pairs inside groups",
            full_groups: "every head counted with N/G full groups: the shifted heads' first and last groups "
                         "hold only G/2 tokens each in the leak-free cut",
            expected // 2: "each product of two d-vectors is d multiplies AND d adds: 2·d FLOPs",
            expected // H: "multiply by the number of heads",
        }
        raise AssertionError(f"N={N}, G={G}, d={d}, H={H}: got {got:,}, expected {expected:,}; "
                             + slips.get(got, "count the plain and the shifted heads separately"))
    ratio = 2 * 32 * 4 * 512 ** 2 / leak_free_flops(512, 128, 32, 4)
    return f"at N = 512, G = 128 the leak-free cut needs {ratio:.2f}x fewer score FLOPs than full attention"


# ---------------------------------------------------------------- exercise 2: interpolated rotary angles


def _reference_angles(positions: torch.Tensor, head_dim: int, theta: float, factor: float) -> torch.Tensor:
    """transformers' LlamaRotaryEmbedding with rope_type "linear": angles (N, head_dim // 2)."""
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim,
                         rope_parameters={"rope_type": "linear", "factor": float(factor), "rope_theta": theta})
    rotary = LlamaRotaryEmbedding(config)
    return positions.double()[:, None] * rotary.inv_freq.double()[None, :]


@exercise(2)
def check_interpolated_angles(interpolated_angles) -> str:
    """Check ``interpolated_angles(positions (N,), head_dim, theta, factor) -> (N, head_dim // 2)``."""
    positions = torch.arange(0, 512, 37)
    head_dim, theta, factor = 32, 10000.0, 4.0
    got = call(interpolated_angles, positions, head_dim, theta, factor)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (len(positions), head_dim // 2):
        raise AssertionError(f"return a tensor of shape (len(positions), head_dim // 2) = "
                             f"{(len(positions), head_dim // 2)}, one angle per position and frequency")
    expected = _reference_angles(positions, head_dim, theta, factor)
    if torch.allclose(got.double(), expected, rtol=1e-4, atol=1e-4):
        return "your angles equal transformers' linear rotary embedding (rope_type='linear', factor=4)"
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    m = positions.double()[:, None]
    slips = {
        "positions are multiplied by the factor; interpolation divides them (m / factor)":
            m * factor * theta ** (-2 * i / head_dim),
        "no interpolation: divide the positions by the factor":  m * theta ** (-2 * i / head_dim),
        "the exponent is -2i / head_dim (the frequencies pair up dimensions), not -i / head_dim":
            m / factor * theta ** (-i / head_dim),
        "the frequencies are theta ** (-2i / d), a negative exponent": m / factor * theta ** (2 * i / head_dim),
    }
    for message, wrong in slips.items():
        if torch.allclose(got.double(), wrong, rtol=1e-4, atol=1e-4):
            raise AssertionError(message)
    return_diff = (got.double() - expected).abs().max().item()
    raise AssertionError(f"max difference {return_diff:.3g} from transformers' angles; expected "
                         "(m / factor) * theta ** (-2 i / head_dim)")


__all__ = ["check_interpolated_angles", "check_leak_free_score_flops", "check_rolled_s2_attention",
           "leak_free_flops"]
