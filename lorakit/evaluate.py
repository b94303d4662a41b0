"""Exact match on the QA task, and batched greedy generation to get the answers."""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence

import torch

from .data.qa import format_prompt


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, drop punctuation, articles and extra whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> bool:
    """True when the normalised prediction equals one of the normalised gold answers."""
    return any(normalize_answer(prediction) == normalize_answer(g) for g in golds)


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8,
             batch_size: int = 32, stop_at_newline: bool = True,
             adapter_names: Sequence[str] | None = None) -> list[str]:
    """Greedy continuations of ``prompts``, cut at the first newline (and at EOS).

    Prompts are left-padded so a batch decodes together; the model is put in eval mode.
    ``adapter_names`` (a PEFT model only): one adapter name per prompt (``"__base__"`` for none),
    so one batch mixes adapters; it is split into batches along with the prompts.
    """
    if adapter_names is not None and len(adapter_names) != len(prompts):
        raise ValueError(f"adapter_names needs one name per prompt: {len(adapter_names)} names, "
                         f"{len(prompts)} prompts")
    model.eval()
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outputs = []
    try:
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True).to(device)
            extra = {} if adapter_names is None else {"adapter_names": list(adapter_names[i:i + batch_size])}
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **extra)
            new = out[:, batch["input_ids"].shape[1]:]
            for row in tokenizer.batch_decode(new, skip_special_tokens=True):
                outputs.append(row.split("\n")[0] if stop_at_newline else row)
    finally:
        tokenizer.padding_side = side
    return outputs


def evaluate_qa(model, tokenizer, examples: Sequence[dict], max_new_tokens: int = 8,
                prompt_fn: Callable[[dict], str] = format_prompt, batch_size: int = 32) -> dict:
    """Exact match of greedy answers on ``examples``.

    Returns ``{"exact_match": fraction, "in_context": fraction of answers found in the context,
    "predictions": [...], "correct": [bool per example]}``. ``in_context`` shows whether the model
    reads the passage at all; ``correct`` feeds :func:`lorakit.stats.bootstrap_ci`.
    """
    prompts = [prompt_fn(e) for e in examples]
    preds = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    em = [exact_match(p, e["answers"]["text"]) for p, e in zip(preds, examples)]
    found = [bool(p.strip()) and p.strip().rstrip(".") in e["context"] for p, e in zip(preds, examples)]
    n = max(len(examples), 1)
    return {"exact_match": sum(em) / n, "in_context": sum(found) / n, "predictions": preds, "correct": em}


def own_format_prompt(example: dict) -> str:
    """The question as the tiny model's pretraining text asks it: ``<context>\nQ: <question> A:``."""
    return f"{example['context']}\nQ: {example['question']} A:"


def answer_in_reply_rate(model, tokenizer, examples: Sequence[dict], max_new_tokens: int = 24,
                         prompt_fn: Callable[[dict], str] = own_format_prompt) -> dict:
    """How often the gold answer appears as a word of the model's reply (any phrasing counts).

    Exact match asks for the bare answer; this asks only whether the model *found* it, e.g.
    "Tom lives in Lima." for "Lima". With the default prompt it measures whether a base model can
    read a passage in the format it was pretrained on. Returns ``{"rate": fraction, "replies": [...]}``.
    """
    replies = generate(model, tokenizer, [prompt_fn(e) for e in examples], max_new_tokens=max_new_tokens)
    hits = [e["answers"]["text"][0] in re.findall(r"[A-Za-z]+", r) for r, e in zip(replies, examples)]
    return {"rate": sum(hits) / max(len(examples), 1), "replies": replies}


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 256) -> float:
    """Token-level perplexity of ``model`` on ``texts`` (each text its own sequence, EOS appended).

    Works for any causal LM, quantized ones included; padding is masked out of the mean.
    """
    if not texts:
        raise ValueError("perplexity() needs at least one text")
    model.eval()
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for i in range(0, len(texts), batch_size):
        batch = [t + tokenizer.eos_token for t in texts[i:i + batch_size]]
        enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length).to(device)
        logits = model(**enc).logits[:, :-1].float()
        targets = enc["input_ids"][:, 1:]
        mask = enc["attention_mask"][:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        total_nll += nll[mask].sum().item()
        total_tokens += int(mask.sum())
    return float(torch.exp(torch.tensor(total_nll / total_tokens)))
