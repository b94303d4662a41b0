"""Checkers for notebook 02 (LoRA fine-tuning with PEFT and TRL).

Exercise 1, ``build_labels(turns, eos_id)``: the ``(input_ids, labels)`` of a whole conversation,
``turns`` a list of ``(user_ids, assistant_ids)``: every user turn masked with -100, every answer and
its EOS in the loss. The one-turn formula the notebook shows (section 5) covers only the first case,
so retyping it is refused with its slip named.
Exercise 2, ``largest_rank(config, target_modules, budget)``: the largest LoRA rank whose adapter
fits a budget of trainable parameters on a real architecture, from its ``config.json`` alone.
Exercise 3, ``adamw_state_bytes(model)``: what AdamW's state will take for a model, before training.
Exercise 4, ``finetune_record(model, tokenizer, train)``: the real thing. Fine-tune the shipped model on the ``record`` task, which the notebook did not train, with the
learner's own ``LoraConfig`` and ``SFTConfig``, tuned on the validation split and graded by the
result: exact match on record examples of a split only the checker draws, within a time budget.

Exercise 2 runs the learner's function with ``count_lora`` and ``meta_model`` (imported by the
notebook) unavailable. Each checker compares with an independent answer (a reference loop, a meta
model, a real optimizer after one step) and, when the answer is wrong, recognises the usual slips
and names them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from lorakit.count import count_lora, load_config_dict, meta_model
from lorakit.training.loop import IGNORE_INDEX
from lorakit.exercises import call, exercise, named_slip, without

# what the notebook imports that computes exercise 2's answer: the checker makes them unavailable
COUNTING_HELPERS = {"count_lora": count_lora, "meta_model": meta_model}

# ---------------------------------------------------------------- exercise 1: the labels of a conversation

# (user, assistant) turns: one turn (what section 5 shows), then conversations the one-turn formula
# does not cover (every answer is in the loss, each followed by its EOS; every user turn is masked)
LABEL_CASES = (
    ([([11, 12, 13, 14], [21, 22])], 0),
    ([([5], [7, 8, 9]), ([4, 4], [6])], 2),
    ([([3, 3, 4], [3]), ([8], [9, 9]), ([1, 5], [2])], 1),
)


def reference_labels(turns, eos_id: int) -> tuple[list[int], list[int]]:
    """The answer to exercise 1: the ids of the whole conversation, -100 on every user token."""
    ids, labels = [], []
    for user, answer in turns:
        ids += list(user) + list(answer) + [eos_id]
        labels += [IGNORE_INDEX] * len(user) + list(answer) + [eos_id]
    return ids, labels


def _as_list(x, what: str) -> list[int]:
    if isinstance(x, torch.Tensor):
        if x.dim() != 1:
            raise AssertionError(f"{what} must be one flat sequence of ids, got a tensor of shape {tuple(x.shape)}")
        x = x.tolist()
    if not isinstance(x, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in x):
        raise AssertionError(f"{what} must be a list (or 1-D tensor) of ints, got {x!r}")
    return list(x)


def _label_slips(turns, eos: int) -> dict[str, tuple[list[int], list[int]]]:
    """Wrong (input_ids, labels) pairs a learner is likely to produce, keyed by what went wrong."""
    ids, labels = reference_labels(turns, eos)
    last_user, last_answer = turns[-1]
    before = len(ids) - len(last_answer) - 1
    no_eos_ids = [t for u, a in turns for t in list(u) + list(a)]
    no_eos_labels = [t for u, a in turns for t in [IGNORE_INDEX] * len(u) + list(a)]
    inner_ids = no_eos_ids + [eos]
    inner_labels = no_eos_labels + [eos]
    first_user = len(turns[0][0])
    slips = {
        "that is the one-turn formula of section 5 on the whole conversation: only the last answer is in "
        "the loss. Every assistant answer is trained on, each with its EOS":
            (ids, [IGNORE_INDEX] * before + list(last_answer) + [eos]),
        "each answer ends with its own EOS (the model must learn to stop after every answer), not only "
        "the last one": (inner_ids, inner_labels),
        "the answers are not followed by EOS: append eos_id after each, to input_ids and labels, or the "
        "model never learns where to stop": (no_eos_ids, no_eos_labels),
        "you shifted the labels by one; keep labels aligned with input_ids: the model shifts them "
        "itself (logits at position t are scored against labels[t + 1])": (ids, labels[1:] + [IGNORE_INDEX]),
        "masked positions must be -100 (cross_entropy's ignore_index), not 0":
            (ids, [0 if v == IGNORE_INDEX else v for v in labels]),
        "you masked the answers and kept the user turns: the loss is on the answers and their EOS only":
            (ids, [t if v == IGNORE_INDEX else IGNORE_INDEX for t, v in zip(ids, labels)]),
        "an EOS is masked: keep each one in the loss, so the model learns to stop after the answer":
            (ids, [IGNORE_INDEX if t == eos and v == eos else v for t, v in zip(ids, labels)]),
        "only the first user turn is masked: every user turn is read, never scored":
            (ids, [IGNORE_INDEX] * first_user + ids[first_user:]),
        "the user turns are not masked: set their labels to -100, so the loss is on the answers only":
            (ids, list(ids)),
        "that is the first turn only (the one-turn formula of section 5): input_ids hold the whole "
        "conversation, every turn in order": reference_labels(turns[:1], eos),
    }
    return {m: w for m, w in slips.items() if w != (ids, labels)}


@exercise(1)
def check_build_labels(build_labels: Callable) -> str:
    """Check ``build_labels(turns, eos_id) -> (input_ids, labels)``, ``turns`` a list of
    ``(user_ids, assistant_ids)``, on one turn and on conversations of two and three."""
    for turns, eos in LABEL_CASES:
        got = call(build_labels, [(list(u), list(a)) for u, a in turns], eos)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"return a pair (input_ids, labels), got {type(got).__name__}")
        ids, labels = _as_list(got[0], "input_ids"), _as_list(got[1], "labels")
        expected = reference_labels(turns, eos)
        if (ids, labels) == expected:
            continue
        slip = named_slip((ids, labels), _label_slips(turns, eos))
        if slip:
            raise AssertionError(f"{slip} ({len(turns)} turns)")
        if len(ids) != len(labels):
            raise AssertionError(f"input_ids has {len(ids)} ids but labels has {len(labels)}: one label per input id")
        raise AssertionError(f"for turns {turns}, eos {eos} expected {expected}, got {(ids, labels)}")
    return ("labels of one turn and of whole conversations: every answer and its EOS in the loss, every "
            "user turn masked")


# ---------------------------------------------------------------- exercise 2: a parameter budget

BUDGET_CASES = (
    ("HuggingFaceTB/SmolLM2-135M", "all-linear", 2_000_000),
    ("HuggingFaceTB/SmolLM2-135M", ["q_proj", "v_proj"], 1_000_000),
    ("mistralai/Mistral-7B-v0.1", ["q_proj", "k_proj", "v_proj", "o_proj"], 20_000_000),
    ("meta-llama/Llama-2-7b-hf", "all-linear", 4_194_304),
    ("Qwen/Qwen2.5-0.5B", "all-linear", 10_000_000),
    ("Qwen/Qwen3-0.6B", ["q_proj", "k_proj", "v_proj", "o_proj"], 5_000_000),
)
# Qwen3-0.6B's config.json (the hub's, trimmed to what builds the model): its attention is wider than the
# residual stream, num_attention_heads * head_dim = 16 * 128 = 2048 against hidden_size 1024, so q_proj
# outputs and o_proj takes in 2048 features. Kept here, not in data/architectures/, which notebook 01 lists.
QWEN3_0_6B = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
    "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
    "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_theta": 1000000, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}
EXTRA_CONFIGS = {"Qwen/Qwen3-0.6B": QWEN3_0_6B}
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _config(name: str) -> dict:
    """The config.json of a case: a shipped one (data/architectures/) or one kept in this module."""
    return dict(EXTRA_CONFIGS[name]) if name in EXTRA_CONFIGS else load_config_dict(name)


def _per_rank(name: str, targets) -> int:
    """Trainable parameters at r = 1: the cost of one unit of rank (the count is linear in r)."""
    if name in EXTRA_CONFIGS:
        from transformers import AutoConfig

        raw = _config(name)
        return count_lora(meta_model(AutoConfig.for_model(raw.pop("model_type"), **raw)), targets, 1).trainable
    return count_lora(name, targets, 1).trainable


def _budget_slips(config: dict, targets, budget: int, right: int, per_rank: int) -> dict[str, int]:
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    names = ALL_LINEAR if targets == "all-linear" else targets
    no_gqa = layers * sum(d + (config["intermediate_size"] if n in ("gate_proj", "up_proj", "down_proj") else d)
                          for n in names)
    head_dim = config.get("head_dim") or d // config["num_attention_heads"]
    kv = config.get("num_key_value_heads", config["num_attention_heads"]) * head_dim
    square_q = {"q_proj": 2 * d, "k_proj": d + kv, "v_proj": d + kv, "o_proj": 2 * d,
                "gate_proj": d + config["intermediate_size"], "up_proj": d + config["intermediate_size"],
                "down_proj": d + config["intermediate_size"]}
    return {
        # first: on Qwen3-0.6B (8 x 128 = 1024 = hidden_size for k and v) both slips give the same rank
        "q_proj outputs num_attention_heads * head_dim features and o_proj takes them in: that is not "
        "hidden_size when the config sets head_dim (Qwen3)": budget // (layers * sum(square_q[n] for n in names)),
        "k_proj and v_proj output num_key_value_heads * head_dim features (grouped-query attention), "
        "not hidden_size": budget // no_gqa,
        "that rank does not fit: round down (budget // cost of one rank), never up": right + 1,
        "you found the rank for one layer; the adapter has a pair in every one of the num_hidden_layers layers":
            budget // (per_rank // layers),
    }


@exercise(2)
def check_largest_rank(largest_rank: Callable) -> str:
    """Check ``largest_rank(config: dict, target_modules, budget: int) -> int`` on real configs."""
    for name, targets, budget in BUDGET_CASES:
        config = _config(name)
        with without(largest_rank, COUNTING_HELPERS):
            got = call(largest_rank, dict(config), targets if isinstance(targets, str) else list(targets), budget)
        if isinstance(got, bool) or not isinstance(got, int):
            raise AssertionError(f"return the rank as an int, got {got!r}")
        per_rank = _per_rank(name, targets)
        right = budget // per_rank
        if got == right:
            continue
        where = f"({name}, targets {targets}, budget {budget:,}: got r = {got}, expected r = {right})"
        slip = named_slip(got, _budget_slips(config, targets, budget, right, per_rank))
        if slip:
            raise AssertionError(f"{slip} {where}")
        if got * per_rank > budget:
            raise AssertionError(f"r = {got} trains {got * per_rank:,} parameters, over the budget {where}")
        raise AssertionError(f"not the largest rank that fits {where}")
    return f"largest ranks right on {len(BUDGET_CASES)} budgets (SmolLM2, Mistral, Llama-2, Qwen2.5, Qwen3)"


# ---------------------------------------------------------------- exercise 3: optimizer state


def _state_cases() -> list[torch.nn.Module]:
    """A frozen base with a small trainable part, a fully trainable model, tied weights, and a
    bfloat16 model (AdamW keeps its state in each weight's dtype: 2 bytes a number there, not 4)."""
    torch.manual_seed(0)
    frozen = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 4, bias=False))
    frozen[0].requires_grad_(False)
    full = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    tied = torch.nn.Sequential(torch.nn.Embedding(10, 6), torch.nn.Linear(6, 10, bias=False))
    tied[1].weight = tied[0].weight
    half = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Linear(8, 3)).to(torch.bfloat16)
    half[0].requires_grad_(False)
    return [frozen, full, tied, half]


def _measured_state_bytes(model: torch.nn.Module) -> int:
    from lorakit.memory.probe import optimizer_state_bytes

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return optimizer_state_bytes(optimizer)


@exercise(3)
def check_adamw_state_bytes(adamw_state_bytes: Callable) -> str:
    """Check ``adamw_state_bytes(model) -> int`` against AdamW's real state after one step."""
    for model in _state_cases():
        got = call(adamw_state_bytes, model)
        expected = _measured_state_bytes(model)
        if got == expected:
            continue
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        every = sum(p.numel() for p in model.parameters())
        listed = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)
        slips = {
            "count only the trainable weights (requires_grad=True): frozen ones get no optimizer state":
                (8 * every, 4 * every),
            "that is half: AdamW keeps two tensors per trainable weight (exp_avg and exp_avg_sq), "
            "each float32 here (4 bytes)": (4 * trainable,),
            "that is the number of state entries; multiply by the bytes per entry (element_size())":
                (2 * trainable,),
            "AdamW keeps its state in each weight's own dtype: a bfloat16 weight's state takes 2 bytes a "
            "number, not 4 (use p.element_size())": (8 * trainable,),
            "a tied weight (one tensor used twice) has one state: count each tensor once": (8 * listed,),
        }
        for message, wrongs in slips.items():
            if got in wrongs:
                raise AssertionError(f"{message} (expected {expected:,} bytes, got {got:,})")
        raise AssertionError(f"expected {expected:,} bytes (AdamW's state after one step), got {got:,}")
    return "your estimate equals AdamW's state after a real step, frozen weights, tied weights and bfloat16 included"


# ---------------------------------------------------------------- exercise 4: the real thing

RECORD_BAR = 0.9             # exact match on examples the learner never saw
RECORD_SECONDS = 60.0        # wall-clock budget of the learner's fine-tuning, on the course's 2-core CPU
RECORD_N_EVAL = 100          # examples scored, from the checker's own split (below)
RECORD_CHECK_SEED = 4104     # the checker's own record examples: not train, validation or test
SHIPPED_DISTANCE = 0.05      # ||mine - shipped|| / ||shipped|| below this: the shipped adapter, touched up


def _check_examples(n: int = RECORD_N_EVAL) -> list[dict]:
    """The record examples exercise 4 is graded on: a split of the checker's own, drawn with its own
    seed, so the learner tunes on validation and is graded on examples never tuned on."""
    from lorakit.data import record, world

    return world.make_split("check", n, make_example=record.make_example, seeds={"check": RECORD_CHECK_SEED},
                            sizes={"check": n}, prefix="record-")


def _course_shortcuts() -> dict[str, Callable]:
    """The course's own trainers, the shipped record adapter and the graded examples: exercise 4
    asks for the learner's own recipe, trained without the examples it is graded on."""
    from lorakit.studies import adapters
    from lorakit.training import loop as train, sft

    return {"lorakit.studies.adapters.train_adapter": adapters.train_adapter,
            "lorakit.studies.adapters.adapter_path": adapters.adapter_path,
            "lorakit.training.loop.finetune": train.finetune, "lorakit.training.sft.sft_config": sft.sft_config,
            "the checker's graded examples (_check_examples)": _check_examples}


def _lora_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters() if "lora_" in n}


def _shipped_lora() -> dict[str, torch.Tensor]:
    """The shipped ``record`` adapter's LoRA tensors, named as in a model holding one adapter
    (``...q_proj.lora_A.weight``: the adapter's name, ``.default`` or other, left out)."""
    from safetensors.torch import load_file

    from lorakit.studies.adapters import ADAPTERS_DIR

    path = ADAPTERS_DIR / "record" / "adapter_model.safetensors"
    return load_file(str(path)) if path.exists() else {}


def _without_adapter_name(name: str) -> str:
    return re.sub(r"\.(lora_[AB])\.[^.]+\.weight$", r".\1.weight", name)


def shipped_distance(model) -> float | None:
    """``||mine - shipped|| / ||shipped||`` over the LoRA tensors that match the shipped ``record``
    adapter's by name and shape, or ``None`` when none match (another rank or other layers)."""
    shipped = _shipped_lora()
    diff = norm = 0.0
    matched = 0
    for name, mine in _lora_weights(model).items():
        theirs = shipped.get(_without_adapter_name(name))
        if theirs is None or tuple(theirs.shape) != tuple(mine.shape):
            continue
        theirs, mine = theirs.double(), mine.double().cpu()
        diff += float((mine - theirs).pow(2).sum())
        norm += float(theirs.pow(2).sum())
        matched += 1
    if not matched or norm == 0.0:
        return None
    return (diff / norm) ** 0.5


def changed_base_weights(model, base: dict[str, torch.Tensor]) -> tuple[list[str], int]:
    """The base weights of ``model`` that differ from ``base`` (names as in the plain model), and how
    many were compared. A PEFT model names an adapted layer's weight ``...q_proj.base_layer.weight``;
    it is compared with the plain model's ``...q_proj.weight``."""
    changed, compared = [], 0
    for n, p in model.named_parameters():
        if "lora_" in n:
            continue
        plain = n.removeprefix("base_model.model.").replace(".base_layer.", ".")
        if plain not in base:
            continue
        compared += 1
        if p.shape != base[plain].shape or not torch.equal(p.detach().to(base[plain].device), base[plain]):
            changed.append(plain)
    return changed, compared


@exercise(4)
def check_finetune_record(finetune_record: Callable, model=None, tokenizer=None,
                          seconds: float = RECORD_SECONDS, bar: float = RECORD_BAR,
                          n_eval: int = RECORD_N_EVAL) -> str:
    """Check ``finetune_record(model, tokenizer, train) -> peft_model`` by its result.

    ``model`` and ``tokenizer`` default to a fresh copy of the shipped model; ``train`` is the
    ``record`` task's train split (SQuAD-schema dicts). The call must take at most ``seconds`` of
    wall time, return a model with LoRA layers whose base weights, adapted layers' included, are
    unchanged (LoRA, not full fine-tuning), not the shipped ``record`` adapter nor a near copy of it,
    and reach ``bar`` exact match on ``n_eval`` record examples of the checker's own split (the
    learner tunes on the validation split and never sees them). The course's own trainers are
    unavailable while the learner's function runs.
    """
    import time

    from lorakit.data.tasks import TASKS
    from lorakit.models.loading import load
    from lorakit.studies.adapters import score

    if model is None:
        model, tokenizer, _ = load(None, quiet=True)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = TASKS["record"]
    start = time.perf_counter()
    with without(finetune_record, _course_shortcuts()):
        tuned = call(finetune_record, model, tokenizer, task.make_split("train"))
    elapsed = time.perf_counter() - start
    lora = _lora_weights(tuned) if isinstance(tuned, torch.nn.Module) else {}
    if not lora:
        raise AssertionError("return the trained PEFT model (get_peft_model(model, your LoraConfig), trained); "
                             f"got {type(tuned).__name__} without LoRA layers")
    changed, _ = changed_base_weights(tuned, base)
    if changed:
        raise AssertionError(f"{len(changed)} base weights changed (e.g. {changed[0]}): LoRA trains the adapter "
                             "only and leaves every base weight as loaded; did you unfreeze or edit the model?")
    distance = shipped_distance(tuned)
    if distance is not None and distance < SHIPPED_DISTANCE:
        raise AssertionError(f"these are the shipped record adapter's weights (relative distance {distance:.3f}): "
                             "train your own")
    if elapsed > seconds:
        raise AssertionError(f"fine-tuning took {elapsed:.0f} s, over the budget of {seconds:.0f} s: fewer "
                             "steps, a smaller batch or a higher learning rate")
    correct = score(tuned, tokenizer, "record", _check_examples(n_eval))
    em = sum(correct) / len(correct)
    if em < bar:
        raise AssertionError(f"exact match {em:.0%} on {n_eval} examples you did not tune on, below {bar:.0%} "
                             f"({elapsed:.0f} s of training): more steps, another learning rate, or check "
                             "that the completion ends with EOS")
    return (f"exact match {em:.0%} on {n_eval} examples you did not tune on, after {elapsed:.0f} s of your own "
            "fine-tuning")


__all__ = ["COUNTING_HELPERS", "changed_base_weights", "check_adamw_state_bytes", "check_build_labels",
           "check_finetune_record", "check_largest_rank", "reference_labels", "shipped_distance"]
