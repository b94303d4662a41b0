"""Checkers for the LongLoRA notebook (S²-Attn, position interpolation).

Exercise 1, ``rolled_s2_attention(q, k, v, group_size)``: S²-Attn as the official code computes it
(roll half the heads, cut into groups, causal attention, roll back), checked against
``lorakit.longlora.s2_attention(..., wrap=True)``.
Exercise 2, ``interpolated_angles(positions, head_dim, theta, factor)``: the rotary angles under linear
position interpolation, checked against transformers' own ``"linear"`` rotary embedding.
Exercise 3, ``leak_free_score_flops(seq_len, group_size, head_dim, n_heads)``: the FLOPs of Q·Kᵀ that
the leak-free cut actually needs (its shifted heads have two half-size groups at the ends).
Exercise 4, ``extend_context_yourself(tokenizer, train)``: the real thing. Load the shipped model with
linear position interpolation set through its config, put the notebook's stage-1 format adapter on it
(PEFT), add a LoRA adapter of your own, train it on 512-token passkey documents, and return it. The
notebook gives the training (the course's loop, ``lorakit.training.loop.finetune``, with the loss on the
key), so the learner's work is those three moves. Graded by passkey retrieval at 4x the pretraining
length on held-out keys, within a time budget; the course's helpers that would make the moves
(interpolation, the format adapter, LongLoRA's trainable set, the experiment) are unavailable while it
runs.

Each checker runs the learner's function on inputs where the usual slips give different answers,
and names the slip it recognises.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from lorakit.longlora.s2_attention import s2_attention
from lorakit.exercises import call, exercise, without

# ---------------------------------------------------------------- exercise 1: the rolled S²-Attn


def _qkv(seed: int = 0, B: int = 2, H: int = 4, N: int = 16, D: int = 8):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=gen) for _ in range(3)]


def _grouped(q, k, v, G, causal: bool = True):
    B, H, N, D = q.shape

    def split(x):
        return x.reshape(B, H, N // G, G, D).transpose(1, 2).reshape(-1, H, G, D)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return out.reshape(B, N // G, H, G, D).transpose(1, 2).reshape(B, H, N, D)


def _rolled_slips(q, k, v, G) -> dict[str, torch.Tensor]:
    """Outputs of the usual mistakes, for recognising them."""
    half, s = q.shape[1] // 2, G // 2

    def with_roll(heads: slice, direction: int, back: bool, causal: bool = True):
        qs, ks, vs = (x.clone() for x in (q, k, v))
        for x in (qs, ks, vs):
            x[:, heads] = x[:, heads].roll(direction * s, dims=2)
        out = _grouped(qs, ks, vs, G, causal)
        if back:
            out[:, heads] = out[:, heads].roll(-direction * s, dims=2)
        return out

    return {
        "no head is shifted: every head attends inside the plain groups": _grouped(q, k, v, G),
        "the shifted heads are not rolled back (+G/2) after attention": with_roll(slice(half, None), -1, False),
        "the FIRST half of the heads is shifted; the official code shifts heads [H // 2:]":
            with_roll(slice(None, half), -1, True),
        "every head is shifted; only the second half should be": with_roll(slice(None), -1, True),
        "attention inside a group must be causal (is_causal=True): a token reads itself and the tokens "
        "before it in its group, not those after": with_roll(slice(half, None), -1, True, causal=False),
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
        plain = bad[: q.shape[1] // 2].any()               # the plain heads need no roll: only the attention
        raise AssertionError(f"heads {bad.nonzero().flatten().tolist()} differ from the official roll"
                             + ("; the plain heads differ too, so look at the attention inside a group: it must be "
                                "causal, each token reading itself and the tokens before it" if plain else ""))
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


# ---------------------------------------------------------------- exercise 4: extend the context yourself

PASSKEY_BAR = 0.6            # passkey accuracy at 4x the pretraining length, on held-out keys
REFERENCE_STEPS = 231        # the time budget, in reference steps (LoRA r = 16 on every linear layer, batch 4 x 512
                             # tokens) timed on the learner's machine: the step count of the one-stage run in
                             # shared/reference/tiny-model-experiments.md; the solution trains 80 steps.
                             # In seconds it is what the check measures (it prints the step time): 88 s at 0.38 s a
                             # step when the solutions notebook ran, 230 s at about 1 s on a busier run
REFERENCE_REPEATS = 5        # reference steps timed (after one warm-up); the budget uses their median
PASSKEY_N_EVAL = 50          # held-out passkey examples scored
PASSKEY_N_TRAIN = 200        # 512-token passkey examples handed to the learner
LONG_LEN, FACTOR = 512, 4    # 4 x the shipped model's 128-token pretraining length
HELDOUT_KEYS_SEED = 4_242    # the evaluation set's seed: used nowhere else in the course


def _longlora_shortcuts() -> dict:
    """The course's helpers that would make the exercise's moves (interpolation, the format adapter, the LoRA
    set-up, the whole experiment). ``lorakit.training.loop.finetune`` is not one: the notebook hands it over."""
    from lorakit.data import longdocs
    from lorakit.longlora import position, trainable
    from lorakit.studies import longlora as study

    return {"lorakit.longlora.extend_context": position.extend_context,
            "lorakit.longlora.longlora_trainable": trainable.longlora_trainable,
            "lorakit.studies.longlora.load_format": study.load_format,
            "lorakit.studies.longlora.teach_format": study.teach_format,
            "lorakit.studies.longlora.prepare": study.prepare,
            "lorakit.studies.longlora.train_variant": study.train_variant,
            "lorakit.studies.longlora.run_longlora_variant": study.run_longlora_variant,
            "lorakit.exercises.nb07._passkey_sets": _passkey_sets,          # the checker's own held-out keys,
            "lorakit.data.longdocs.passkey_split": longdocs.passkey_split,      # and what would rebuild them from
            "lorakit.data.longdocs.passkey_document": longdocs.passkey_document}   # HELDOUT_KEYS_SEED


@functools.cache
def _passkey_sets(tokenizer) -> tuple[list[dict], list[dict]]:
    """(training examples for the learner, held-out evaluation examples whose keys are not in training).

    Built once per tokenizer; the learner gets copies of the training examples."""
    from lorakit.data.longdocs import TRAIN_SEED, passkey_split

    train = passkey_split(tokenizer, PASSKEY_N_TRAIN, LONG_LEN, seed=TRAIN_SEED)
    seen = {e["key"] for e in train}
    pool = passkey_split(tokenizer, PASSKEY_N_EVAL + 10, LONG_LEN, seed=HELDOUT_KEYS_SEED)
    heldout = [e for e in pool if e["key"] not in seen][:PASSKEY_N_EVAL]
    return train, heldout


def _reference_step_seconds(repeats: int = REFERENCE_REPEATS) -> float:
    """Seconds of one reference training step on this machine, now (the median of ``repeats``, after a warm-up).

    The step is the one the budget is counted in: the shipped model with LoRA r = 16 on every linear
    layer, a batch of 4 x 512 random tokens, forward, backward and an AdamW update.
    """
    import time

    from peft import LoraConfig, get_peft_model

    from lorakit.models.loading import load_model

    torch.manual_seed(0)
    model = get_peft_model(load_model("tiny-lm", dtype=torch.float32, device="cpu"),
                           LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    ids = torch.randint(0, model.config.vocab_size, (4, LONG_LEN), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i:                                              # the first step warms up
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _interpolation(model) -> tuple[float, float]:
    """(the factor the live model computes with, the factor its config claims)."""
    from lorakit.longlora.position import interpolation_factor, rotary_embedding

    params = getattr(rotary_embedding(model).config, "rope_parameters", None) or {}
    claimed = float(params.get("factor", 1.0)) if params.get("rope_type") == "linear" else 1.0
    return interpolation_factor(model), claimed


@exercise(4)
def check_extend_context_yourself(extend_context_yourself, tokenizer=None, seconds: float | None = None,
                                  bar: float = PASSKEY_BAR) -> str:
    """Check ``extend_context_yourself(tokenizer, train) -> PEFT model`` by its passkey retrieval at 512 tokens.

    ``train``: 200 passkey examples of 512 tokens (``lorakit.data.longdocs.passkey_document`` dicts). The call
    must take at most ``seconds`` (by default :data:`REFERENCE_STEPS` reference training steps, timed on
    this machine right after the call, the median of :data:`REFERENCE_REPEATS`; the verdict prints the step
    time), return a model with LoRA layers whose live rotary positions are interpolated by 4, and retrieve
    at least ``bar`` of 50 held-out keys at 512 tokens. While it runs, the course's helpers that do the
    exercise's steps, and those that would rebuild the held-out keys, are unavailable.
    """
    import time

    from lorakit.evaluate import passkey_accuracy
    from lorakit.models.loading import load_tokenizer

    tokenizer = tokenizer or load_tokenizer("tiny-lm")
    train, heldout = _passkey_sets(tokenizer)
    start = time.perf_counter()
    with without(extend_context_yourself, _longlora_shortcuts()):
        tuned = call(extend_context_yourself, tokenizer, [dict(e) for e in train])
    elapsed = time.perf_counter() - start
    if not isinstance(tuned, torch.nn.Module) or not any("lora_" in n for n, _ in tuned.named_parameters()):
        raise AssertionError("return your PEFT model (get_peft_model(model, your LoraConfig), trained); got "
                             f"{type(tuned).__name__} without LoRA layers")
    live, claimed = _interpolation(tuned)
    if abs(live - FACTOR) > 1e-3:
        if abs(claimed - FACTOR) <= 1e-3:
            raise AssertionError("the config says linear interpolation by 4, but the model still computes plain "
                                 "positions: a loaded model keeps its rotary frequencies, so set rope_parameters on "
                                 "the config you pass to from_pretrained")
        raise AssertionError(f"the model computes positions interpolated by {live:g}; the exercise extends the "
                             f"context {FACTOR}x with linear interpolation by {FACTOR}")
    budget = ""
    if seconds is None:
        step = _reference_step_seconds()
        seconds = REFERENCE_STEPS * step
        budget = f", {REFERENCE_STEPS} reference training steps of {step:.2f} s measured on this machine"
    if elapsed > seconds:
        raise AssertionError(f"your function took {elapsed:.0f} s, over the budget of {seconds:.0f} s{budget}: "
                             "fewer steps, or a higher learning rate")
    result = passkey_accuracy(tuned, tokenizer, heldout, batch_size=25)
    acc = result["accuracy"]
    if acc < bar:
        raise AssertionError(f"passkey accuracy {acc:.0%} on {len(heldout)} held-out keys at {LONG_LEN} tokens, below "
                             f"{bar:.0%} (after {elapsed:.0f} s; budget {seconds:.0f} s{budget}): did you start from the format adapter, and put "
                             "the loss where the key is? More steps or another learning rate")
    return (f"{acc:.0%} of {len(heldout)} held-out keys retrieved at {LONG_LEN} tokens (4x the pretraining length) "
            f"after {elapsed:.0f} s of your own fine-tuning (budget {seconds:.0f} s{budget})")


__all__ = ["check_extend_context_yourself", "check_interpolated_angles", "check_leak_free_score_flops",
           "check_rolled_s2_attention", "leak_free_flops"]
