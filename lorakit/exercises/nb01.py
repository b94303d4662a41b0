"""Checkers for notebook 01 (LoRA math and parameter counting).

Exercise 1, ``lora_branch_macs(tokens, d_in, d_out, r) -> (thin, formed)``: the multiply-adds of the
LoRA branch for a batch of ``tokens`` tokens, computed the thin way, (x·Aᵀ)·Bᵀ, and by forming
ΔW = B·A first, then x·ΔWᵀ. It answers "why never form B·A?" with numbers.
Exercise 2, ``count_lora_by_hand(config, r, target_modules) -> int``: LoRA's trainable parameters
for a Llama-family ``config.json``, from the config's numbers alone.
Exercise 3, ``merge_by_hand(peft_model, base) -> base``: the real thing with PEFT. Fold every LoRA
update of a PEFT model into a plain copy of its base model, W + scaling * B A, on configs the notebook
did not show (rsLoRA, the MLP layers, per-layer ``rank_pattern`` and ``alpha_pattern``); graded by the
logits, against PEFT's own ``merge_and_unload`` on held-out input, with PEFT's and lorakit's merges
unavailable.

All three follow :mod:`lorakit.exercises`: a stub returning ``None`` is "not done yet", a wrong answer is
named when it matches a usual slip (a missing factor, grouped-query attention ignored, ...).
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence

import torch

from lorakit.count import count_lora, load_config_dict, meta_model
from lorakit.exercises import Shortcut, call, exercise, named_slip, without

# ---------------------------------------------------------------- exercise 1: multiply-adds

MACS_CASES = ((1, 4096, 4096, 8), (16, 4096, 11008, 8), (3, 40, 24, 4), (128, 512, 128, 16))


def branch_macs(tokens: int, d_in: int, d_out: int, r: int) -> tuple[int, int]:
    """The answer: (thin, formed) multiply-adds of the LoRA branch on ``tokens`` tokens.

    Thin: x (T, in) @ Aᵀ (in, r) costs T·in·r, then (T, r) @ Bᵀ (r, out) costs T·r·out.
    Formed: B (out, r) @ A (r, in) costs out·r·in, then x (T, in) @ ΔWᵀ (in, out) costs T·in·out.
    """
    return tokens * r * (d_in + d_out), d_out * r * d_in + tokens * d_in * d_out


def _macs_slips(tokens: int, d_in: int, d_out: int, r: int) -> dict[str, tuple[int, int]]:
    thin, formed = branch_macs(tokens, d_in, d_out, r)
    return {
        "the answer is (thin, formed): you swapped them": (formed, thin),
        "the thin way costs something for every token: multiply by `tokens`": (r * (d_in + d_out), formed),
        "forming ΔW = B·A is a matmul too: (out, r) @ (r, in) costs out·r·in": (thin, tokens * d_in * d_out),
        "after forming ΔW you still multiply every token by it: T·in·out": (thin, d_out * r * d_in),
        "the thin way is two matmuls whose costs add, T·in·r + T·r·out, not multiply": (tokens * d_in * r * d_out, formed),
    }


@exercise(1)
def check_lora_macs(lora_branch_macs: Callable) -> str:
    """Check ``lora_branch_macs(tokens, d_in, d_out, r) -> (thin, formed)`` on a few shapes."""
    for tokens, d_in, d_out, r in MACS_CASES:
        got = call(lora_branch_macs, tokens, d_in, d_out, r)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"return two numbers, (thin, formed); got {got!r}")
        got = tuple(int(g) for g in got)
        expected = branch_macs(tokens, d_in, d_out, r)
        if got == expected:
            continue
        where = f"(tokens={tokens}, d_in={d_in}, d_out={d_out}, r={r}: got {got}, expected {expected})"
        raise AssertionError(f"{named_slip(got, _macs_slips(tokens, d_in, d_out, r)) or 'wrong count'} {where}")
    thin, formed = branch_macs(1, 4096, 4096, 8)
    return (f"one token through a 4096 x 4096 layer at r = 8: {thin:,} multiply-adds the thin way, "
            f"{formed:,} forming B·A first ({formed // thin:,}x more)")


# ---------------------------------------------------------------- exercise 2: counting by hand

CHECK_CONFIGS = ("HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-2-7b-hf", "mistralai/Mistral-7B-v0.1")
CHECK_TARGETS = (["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def _linear_shapes(config: dict, gqa: bool = True) -> dict[str, tuple[int, int]]:
    """(in, out) of each Llama linear layer; ``gqa=False`` is the slip of ignoring KV heads."""
    d, ff = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or d // heads
    kv = config.get("num_key_value_heads") or heads
    kv_out = kv * head_dim if gqa else d
    return {"q_proj": (d, heads * head_dim), "k_proj": (d, kv_out), "v_proj": (d, kv_out),
            "o_proj": (heads * head_dim, d), "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}


def _count_slips(config: dict, r: int, targets: Sequence[str]) -> dict[str, int]:
    layers = config["num_hidden_layers"]
    right, no_gqa = _linear_shapes(config), _linear_shapes(config, gqa=False)
    per_layer = sum(r * sum(right[t]) for t in targets)
    return {
        "k_proj and v_proj output num_key_value_heads * head_dim features, not hidden_size "
        "(grouped-query attention)": layers * sum(r * sum(no_gqa[t]) for t in targets),
        "you counted one layer; multiply by num_hidden_layers": per_layer,
        "you counted the full matrices (in * out); LoRA trains A (r, in) and B (out, r): r * (in + out)":
            layers * sum(right[t][0] * right[t][1] for t in targets),
        "you counted only A or only B per layer; a LoRA pair is A (r, in) plus B (out, r)":
            layers * sum(r * right[t][0] for t in targets),
        "you left out the rank: each layer adds r * (in + out)": layers * sum(sum(right[t]) for t in targets),
    }


@exercise(2)
def check_lora_count(count_lora_by_hand: Callable) -> str:
    """Check ``count_lora_by_hand(config: dict, r: int, target_modules: list[str]) -> int``.

    ``config`` is a Llama-family ``config.json`` as a dict; the answer is compared with
    :func:`lorakit.count.count_lora`, which builds the model on the meta device.
    """
    for name in CHECK_CONFIGS:
        for targets in CHECK_TARGETS:
            for r in (8, 16):
                config = load_config_dict(name)
                with without(count_lora_by_hand, {"count_lora": count_lora, "meta_model": meta_model}), \
                        _model_building_blocked():
                    got = call(count_lora_by_hand, dict(config), r, list(targets))
                expected = count_lora(name, targets, r).trainable
                if got == expected:
                    continue
                shown = f"{got:,}" if isinstance(got, int) and not isinstance(got, bool) else repr(got)
                where = f"({name}, r={r}, targets {targets}: got {shown}, expected {expected:,})"
                slip = named_slip(got, _count_slips(config, r, targets))
                raise AssertionError(f"{slip} {where}" if slip else f"wrong count {where}; per layer, sum "
                                     "r * (in + out) over the targets, then multiply by num_hidden_layers")
    return f"your counts match lorakit.count on {len(CHECK_CONFIGS)} architectures, 2 target sets, r = 8 and 16"


@contextlib.contextmanager
def _model_building_blocked() -> Iterator[None]:
    """Building any transformers model (``from_config``, a model class called on a config, the meta
    device or not) raises :class:`Shortcut`: the exercise is the arithmetic on the config."""
    from transformers import PreTrainedModel

    saved = vars(PreTrainedModel)["__init__"]

    def raiser(*args, **kwargs):
        raise Shortcut("building the model with transformers (count from the config's numbers instead)")

    PreTrainedModel.__init__ = raiser
    try:
        yield
    finally:
        PreTrainedModel.__init__ = saved


# ---------------------------------------------------------------- exercise 3: merge a PEFT adapter by hand

# LoraConfig arguments the checker wraps the shipped model with: the notebook's q,v at r = 8, then what
# §5 did not show: rsLoRA on the MLP, and per-layer ranks and alphas (rank_pattern, alpha_pattern)
MERGE_CONFIGS = (
    {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]},
    {"r": 4, "lora_alpha": 8, "use_rslora": True, "target_modules": ["gate_proj", "up_proj", "down_proj"]},
    {"r": 8, "lora_alpha": 16, "target_modules": "all-linear", "rank_pattern": {"down_proj": 2},
     "alpha_pattern": {"o_proj": 64}},
)
IN_PLACE_ON_LEAF = "a leaf Variable that requires grad is being used in an in-place operation"   # PyTorch's words
MERGE_TOLERANCE = 1e-4   # of the largest logit: float32 rounding of W + s·B·A in another order


def _merge_helpers() -> dict[str, Callable]:
    """lorakit's merges, imported by the notebook: unavailable while the learner's function runs."""
    from lorakit import lora

    return {"lorakit.lora.merge_lora": lora.merge_lora, "lorakit.lora.merge_and_unload": lora.merge_and_unload}


@contextlib.contextmanager
def _peft_merges_blocked() -> Iterator[None]:
    """PEFT's own merge (``merge_and_unload``, ``merge_adapter``, a layer's ``merge`` and
    ``get_delta_weight``) raises :class:`Shortcut` while the learner's function runs."""
    from peft.tuners.lora import layer as lora_layer
    from peft.tuners.tuners_utils import BaseTuner

    targets = [(BaseTuner, "merge_and_unload"), (BaseTuner, "merge_adapter"),
               (BaseTuner, "_unload_and_optionally_merge"), (lora_layer.Linear, "merge"),
               (lora_layer.Linear, "get_delta_weight")]
    saved = [(cls, name, vars(cls)[name]) for cls, name in targets]

    def blocked(name: str) -> Callable:
        def raiser(*args, **kwargs):
            raise Shortcut(f"PEFT's {name}")
        return raiser

    for cls, name, _ in saved:
        setattr(cls, name, blocked(name))
    try:
        yield
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def _adapted(peft_model) -> dict[str, torch.nn.Module]:
    """PEFT's LoRA layers by the name their base layer has in the plain model."""
    return {name.removeprefix("base_model.model."): m for name, m in peft_model.named_modules()
            if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {})}


def _merge_inputs(tokenizer) -> dict[str, torch.Tensor]:
    """Held-out prompts of the qa task's test split (the notebook used a validation example)."""
    from lorakit.data.qa import format_prompt, make_split

    tokenizer.padding_side = "left"
    return tokenizer([format_prompt(e) for e in make_split("test", n=4)], return_tensors="pt", padding=True)


def _merge_slips(peft_model, kwargs: dict) -> dict[str, dict[str, torch.Tensor]]:
    """For each usual slip, the update it adds to each adapted layer."""
    slips: dict[str, dict[str, torch.Tensor]] = {}
    r, alpha = kwargs["r"], kwargs["lora_alpha"]
    for name, m in _adapted(peft_model).items():
        A, B = m.lora_A["default"].weight.detach(), m.lora_B["default"].weight.detach()
        BA = B @ A
        entries = {
            "the update is scaled: W + scaling * B @ A, with the layer's own scaling (lora_alpha / r, or "
            "lora_alpha / sqrt(r) with rsLoRA)": BA,
            "the update is scaling * B @ A, added once; you subtracted it": -m.scaling["default"] * BA,
            "you added the update twice": 2 * m.scaling["default"] * BA,
        }
        if kwargs.get("use_rslora"):
            entries["with use_rslora=True the scaling is lora_alpha / sqrt(r), not lora_alpha / r"] = alpha / r * BA
        if kwargs.get("rank_pattern") or kwargs.get("alpha_pattern"):
            entries["rank_pattern and alpha_pattern give some layers their own r and alpha: read each layer's "
                    "own scaling, not the config's r and lora_alpha"] = alpha / r * BA
        if BA.shape[0] == BA.shape[1]:
            entries["B @ A is (out, in), like the weight; you added its transpose (A.T @ B.T)"] = m.scaling["default"] * BA.T
        for message, update in entries.items():
            slips.setdefault(message, {})[name] = update
    return slips


@exercise(3)
def check_merge_by_hand(merge_by_hand: Callable) -> str:
    """Check ``merge_by_hand(peft_model, base) -> base``: every LoRA update of ``peft_model`` folded into
    the plain model ``base`` (a fresh copy of the same base model), compared by logits with PEFT's
    ``merge_and_unload`` on held-out prompts, with PEFT's and lorakit's merges unavailable."""
    from peft import LoraConfig, get_peft_model

    from lorakit.models.loading import load

    fresh, tokenizer, _ = load(None, quiet=True)
    fresh.eval()
    batch = _merge_inputs(tokenizer)
    worst = 0.0
    for i, kwargs in enumerate(MERGE_CONFIGS):
        torch.manual_seed(i)
        config = LoraConfig(**kwargs, init_lora_weights=False)   # B random, not 0: the merge changes the model
        peft_model = get_peft_model(copy.deepcopy(fresh), config).eval()
        with torch.no_grad():
            expected = copy.deepcopy(peft_model).merge_and_unload()(**batch).logits
        adapted = _adapted(peft_model)
        w0 = {name: fresh.get_submodule(name).weight.detach().clone() for name in adapted}
        base = copy.deepcopy(fresh)
        where = f"(LoraConfig({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}))"
        try:
            with without(merge_by_hand, _merge_helpers()), _peft_merges_blocked():
                got_model = call(merge_by_hand, peft_model, base)
        except AssertionError as err:
            if IN_PLACE_ON_LEAF not in str(err):
                raise
            raise AssertionError(f"wrap the in-place update in `with torch.no_grad():`, as §5 did: the weights "
                                 f"require gradients, and PyTorch refuses to change them in place otherwise {where}") from None
        if not isinstance(got_model, torch.nn.Module):
            raise AssertionError(f"return the plain model with the updates folded in, got {type(got_model).__name__}")
        left = [n for n, _ in got_model.named_parameters() if "lora_" in n]
        if left:
            merged = [n for n, m in got_model.named_modules()
                      if n.removeprefix("base_model.model.") in w0 and hasattr(m, "base_layer")
                      and not torch.equal(m.base_layer.weight.detach(), w0[n.removeprefix("base_model.model.")])]
            if not merged:
                raise AssertionError(f"you returned a model with its LoRA layers and nothing merged ({left[0]}): "
                                     f"return `base`, a plain model with no LoRA layers, with every update folded "
                                     f"into its weights {where}")
            raise AssertionError(f"the model you returned still has LoRA layers ({left[0]}): their branch adds the "
                                 f"update a second time. Fold the updates into `base` and return it {where}")
        with torch.no_grad():
            got = got_model.eval()(**batch).logits
        if got.shape == expected.shape:
            gap = ((got - expected).abs().max() / expected.abs().max()).item()
            if gap <= MERGE_TOLERANCE:
                worst = max(worst, gap)
                continue
        updates = {}
        for name in adapted:
            try:
                updates[name] = got_model.get_submodule(name).weight.detach() - w0[name]
            except AttributeError:
                raise AssertionError(f"the model you returned has no layer {name}: return `base`, the plain "
                                     f"model, with the updates folded in {where}") from None
        missed = [n for n, u in updates.items() if not u.any()]
        if missed:
            raise AssertionError(f"{len(missed)} of {len(updates)} adapted layers were not merged (e.g. {missed[0]}): "
                                 f"every layer PEFT adapted has its own A and B {where}")

        def same(got_updates, slip_updates):
            return all(got_updates[n].shape == u.shape and torch.allclose(got_updates[n], u, rtol=1e-3, atol=1e-6)
                       for n, u in slip_updates.items())

        slip = named_slip(updates, _merge_slips(peft_model, kwargs), same)
        raise AssertionError(f"{slip or 'the merged model computes other logits than PEFT merge_and_unload'} {where}")
    return (f"your merge gives PEFT's merge_and_unload logits (largest difference {worst:.0e} of the largest "
            f"logit) on {len(MERGE_CONFIGS)} configs: q,v; rsLoRA on the MLP; rank_pattern and alpha_pattern")
