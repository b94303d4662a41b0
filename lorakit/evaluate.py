"""Exact match on the QA task, batched greedy generation to get the answers, and perplexity."""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence

import torch

from .data.corpus import own_format_prompt
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


def answer_in_reply(reply: str, golds: Sequence[str]) -> bool:
    """True when a normalised gold answer appears as whole words in the normalised reply.

    The lenient twin of :func:`exact_match`: "Tom lives in Lima." counts for "Lima", "Limassol" does not.
    """
    padded = f" {normalize_answer(reply)} "
    return any(normalize_answer(g) and f" {normalize_answer(g)} " in padded for g in golds)


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8,
             batch_size: int = 32, stop_at_newline: bool = True) -> list[str]:
    """Greedy continuations of ``prompts``, cut at the first newline (and at EOS).

    Prompts are left-padded so a batch decodes together; the model is put in eval mode.
    """
    model.eval()
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outputs = []
    try:
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True).to(device)
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            new = out[:, batch["input_ids"].shape[1]:]
            for row in tokenizer.batch_decode(new, skip_special_tokens=True):
                outputs.append(row.split("\n")[0] if stop_at_newline else row)
    finally:
        tokenizer.padding_side = side
    return outputs


def evaluate_qa(model, tokenizer, examples: Sequence[dict], max_new_tokens: int = 8,
                prompt_fn: Callable[[dict], str] = format_prompt, batch_size: int = 32) -> dict:
    """Greedy answers to ``examples`` (first line of the reply), scored strictly and leniently.

    Args:
        prompt_fn: the prompt format (default the course's template; e.g.
            :func:`lorakit.data.corpus.own_format_prompt` for the pretraining format).
        batch_size: prompts per generation batch (a preset's ``eval_batch_size``); memory grows with
            it, never with ``len(examples)``.

    Returns ``{"exact_match": fraction, "correct": [bool per example], "answer_in_reply": fraction,
    "in_reply": [bool per example], "in_context": fraction, "predictions": [...]}``: exact match
    (:func:`exact_match`), the lenient :func:`answer_in_reply`, and how often the bare prediction
    occurs in the context (does the model copy from the passage at all). The per-example lists feed
    :func:`lorakit.stats.bootstrap_ci`.
    """
    prompts = [prompt_fn(e) for e in examples]
    preds = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    em = [exact_match(p, e["answers"]["text"]) for p, e in zip(preds, examples)]
    in_reply = [answer_in_reply(p, e["answers"]["text"]) for p, e in zip(preds, examples)]
    found = [bool(p.strip()) and p.strip().rstrip(".") in e["context"] for p, e in zip(preds, examples)]
    n = max(len(examples), 1)
    return {"exact_match": sum(em) / n, "correct": em, "answer_in_reply": sum(in_reply) / n,
            "in_reply": in_reply, "in_context": sum(found) / n, "predictions": preds}


def answer_in_reply_rate(model, tokenizer, examples: Sequence[dict], max_new_tokens: int = 24,
                         prompt_fn: Callable[[dict], str] = own_format_prompt, batch_size: int = 32) -> dict:
    """How often the gold answer appears in the model's reply (any phrasing counts): the reading probe.

    With the default prompt it measures whether a base model can read a passage in the format it was
    pretrained on (``scripts/pretrain_tiny_lm.py`` logs it). The same numbers as
    :func:`evaluate_qa`'s ``answer_in_reply``; returns ``{"rate": fraction, "replies": [...]}``.
    """
    scored = evaluate_qa(model, tokenizer, examples, max_new_tokens, prompt_fn, batch_size)
    return {"rate": scored["answer_in_reply"], "replies": scored["predictions"]}


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
