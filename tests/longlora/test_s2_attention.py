"""S²-Attn on tensors: against full causal attention (PyTorch's and transformers' SDPA path),
against the shifted groups computed one by one, the official roll's leak, gradients, bad input."""
import pytest
import torch
import torch.nn.functional as F

from lorakit.longlora.s2_attention import s2_attention, s2_attention_mask, shift_heads, unshift_heads


def _qkv(B=2, H=4, N=16, D=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=gen) for _ in range(3)]


def _causal(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def test_one_group_without_shift_is_full_causal_attention():
    q, k, v = _qkv()
    torch.testing.assert_close(s2_attention(q, k, v, group_size=16, shift=False), _causal(q, k, v), rtol=0, atol=0)


def test_one_group_equals_transformers_sdpa_path():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = _qkv()
    module = torch.nn.Module()
    module.is_causal = True
    ref, _ = sdpa_attention_forward(module, q, k, v, attention_mask=None, scaling=0.3)   # (B, N, H, D)
    got = s2_attention(q, k, v, group_size=16, scaling=0.3, shift=False)
    torch.testing.assert_close(got.transpose(1, 2), ref)


def test_one_group_plain_heads_are_full_attention_and_shifted_heads_see_each_half():
    q, k, v = _qkv()
    got = s2_attention(q, k, v, group_size=16)
    torch.testing.assert_close(got[:, :2], _causal(q, k, v)[:, :2])
    halves = [_causal(q[:, 2:, s], k[:, 2:, s], v[:, 2:, s]) for s in (slice(0, 8), slice(8, 16))]
    torch.testing.assert_close(got[:, 2:], torch.cat(halves, dim=2))


@pytest.mark.parametrize("group_size", [4, 8])
def test_plain_heads_equal_attention_inside_each_group(group_size):
    q, k, v = _qkv()
    got = s2_attention(q, k, v, group_size)
    for start in range(0, 16, group_size):
        s = slice(start, start + group_size)
        torch.testing.assert_close(got[:, :2, s], _causal(q[:, :2, s], k[:, :2, s], v[:, :2, s]))


@pytest.mark.parametrize("group_size", [4, 8])
def test_shifted_heads_equal_attention_over_the_shifted_groups(group_size):
    """Groups [0, G/2), [G/2, 3G/2), ..., [N - G/2, N), each computed on its own slice."""
    q, k, v = _qkv()
    got = s2_attention(q, k, v, group_size)
    half = group_size // 2
    bounds = [0, *range(half, 16, group_size), 16]
    for a, b in zip(bounds, bounds[1:]):
        s = slice(a, b)
        torch.testing.assert_close(got[:, 2:, s], _causal(q[:, 2:, s], k[:, 2:, s], v[:, 2:, s]))


def test_roll_form_lets_the_first_tokens_see_the_end():
    """The official roll: the first G/2 tokens of the shifted heads attend to the last G/2 as well."""
    q, k, v = _qkv()
    got = s2_attention(q, k, v, 8, wrap=True)
    order = torch.cat([torch.arange(12, 16), torch.arange(0, 4)])          # the wrapped last group
    wrapped = _causal(q[:, 2:, order], k[:, 2:, order], v[:, 2:, order])
    torch.testing.assert_close(got[:, 2:, :4], wrapped[:, :, 4:])            # tokens 0..3 saw 12..15
    torch.testing.assert_close(got[:, 2:, 12:], wrapped[:, :, :4])           # tokens 12..15 did not see 0..3
    torch.testing.assert_close(got[:, :, 4:12], s2_attention(q, k, v, 8)[:, :, 4:12])


@pytest.mark.parametrize("wrap", [False, True])
def test_causality_leak(wrap):
    """Changing the last key and value changes earlier outputs only in the roll form."""
    q, k, v = _qkv()
    k2, v2 = k.clone(), v.clone()
    k2[:, :, -1] += 1.0
    v2[:, :, -1] += 1.0
    changed = (s2_attention(q, k2, v2, 8, wrap=wrap) - s2_attention(q, k, v, 8, wrap=wrap)).abs().amax(dim=(0, 3))
    early = changed[:, :-1] > 0                                               # (H, N - 1)
    if wrap:
        assert early[2:, :4].all() and not early[:2].any() and not early[2:, 4:].any()
    else:
        assert not early.any()


@pytest.mark.parametrize("wrap", [False, True])
def test_dense_mask_describes_the_computation(wrap):
    q, k, v = _qkv()
    masks = s2_attention_mask(16, 4, wrap=wrap)
    ref = torch.cat([F.scaled_dot_product_attention(q[:, :2], k[:, :2], v[:, :2], attn_mask=masks[0]),
                     F.scaled_dot_product_attention(q[:, 2:], k[:, 2:], v[:, 2:], attn_mask=masks[1])], dim=1)
    torch.testing.assert_close(s2_attention(q, k, v, 4, wrap=wrap), ref)


@pytest.mark.parametrize("wrap", [False, True])
def test_a_full_causal_mask_changes_nothing_and_padding_is_hidden(wrap):
    q, k, v = _qkv()
    causal = torch.ones(16, 16, dtype=torch.bool).tril()[None, None].expand(2, 1, 16, 16)
    torch.testing.assert_close(s2_attention(q, k, v, 8, attention_mask=causal, wrap=wrap),
                               s2_attention(q, k, v, 8, wrap=wrap), rtol=0, atol=0)
    padded = causal.clone()
    padded[1, :, :, 12:] = False                                              # example 1: last 4 tokens are padding
    got = s2_attention(q, k, v, 8, attention_mask=padded, wrap=wrap)
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 12:] = 100.0
    v2[1, :, 12:] = 100.0
    again = s2_attention(q, k2, v2, 8, attention_mask=padded, wrap=wrap)
    torch.testing.assert_close(got[:, :, :12], again[:, :, :12])              # no real token sees the padding


def test_inputs_are_not_modified_and_gradients_flow():
    q, k, v = (x.requires_grad_() for x in _qkv())
    copies = [x.detach().clone() for x in (q, k, v)]
    s2_attention(q, k, v, 4).square().sum().backward()
    for x, c in zip((q, k, v), copies):
        assert torch.equal(x.detach(), c)
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_shift_heads_round_trip():
    x = torch.arange(16.0).view(1, 2, 8, 1).expand(1, 2, 8, 1).clone()
    shifted = shift_heads(x, 2)
    assert shifted[0, 0, :, 0].tolist() == x[0, 0, :, 0].tolist()
    assert shifted[0, 1, :, 0].tolist() == [10, 11, 12, 13, 14, 15, 8, 9]
    assert torch.equal(unshift_heads(shifted, 2), x)
    assert torch.equal(x, torch.arange(16.0).view(1, 2, 8, 1))               # input untouched


def test_float16_matches_float32():
    q, k, v = _qkv()
    got = s2_attention(*(x.half() for x in (q, k, v)), 4).float()
    torch.testing.assert_close(got, s2_attention(q, k, v, 4), atol=5e-3, rtol=5e-3)


@pytest.mark.parametrize("group_size, message", [(6, "not a multiple of group_size=6"), (3, "even group_size"),
                                                 (0, "positive int")])
def test_bad_group_size_is_a_clear_error(group_size, message):
    q, k, v = _qkv(N=12 if group_size == 3 else 16)
    with pytest.raises(ValueError, match=message):
        s2_attention(q, k, v, group_size)


def test_mismatched_shapes_are_a_clear_error():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="repeat grouped-query"):
        s2_attention(q, k[:, :2], v[:, :2], 4)


def test_reach_hops_half_a_group_per_layer():
    """By hand: the last of 512 tokens (G = 128) reads 384.. in one layer, then each layer adds one
    half group (64 tokens) through the other half of the heads: 320, 256, 192."""
    from lorakit.longlora.s2_attention import s2_reach

    firsts = [int(s2_reach(512, 128, n)[-1].nonzero().min()) for n in (1, 2, 3, 4)]
    assert firsts == [384, 320, 256, 192]
    assert torch.equal(s2_reach(64, 64, 1), torch.ones(64, 64, dtype=torch.bool).tril())   # one group: full
    assert torch.equal(s2_reach(32, 8, 1), s2_attention_mask(32, 8)[0] | s2_attention_mask(32, 8)[1])
    with pytest.raises(ValueError):
        s2_reach(32, 8, 0)


def test_reach_without_shift_stays_in_the_group():
    """No shift: no head crosses a group boundary, so depth adds nothing: the last token reads its group only."""
    from lorakit.longlora.s2_attention import s2_reach

    assert [int(s2_reach(512, 128, n, shift=False)[-1].nonzero().min()) for n in (1, 4, 8)] == [384, 384, 384]
    assert int(s2_reach(512, 64, 4)[-1].nonzero().min()) == 512 - (64 + 3 * 32)     # half a group per layer


def test_reach_with_one_full_attention_layer_covers_everything():
    from lorakit.longlora.s2_attention import s2_reach

    full = torch.ones(512, 512, dtype=torch.bool).tril()
    assert torch.equal(s2_reach(512, 128, 4, s2_layers=(0, 1, 2)), full)
    assert torch.equal(s2_reach(512, 128, 4, s2_layers=(1, 2, 3)), full)
    # naming every layer is the default
    assert torch.equal(s2_reach(512, 128, 4, s2_layers=(0, 1, 2, 3)), s2_reach(512, 128, 4))
    with pytest.raises(ValueError, match="does not have"):
        s2_reach(32, 8, 2, s2_layers=(2,))
