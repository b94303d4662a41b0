"""Evaluation: exact match on the QA task, batched greedy generation (left-padded), perplexity, passkeys.

The one home of left padding (:func:`left_padded`) and of generation speed (:func:`generation_seconds`)."""
from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Sequence

import torch

from lorakit.data.corpus import own_format_prompt
from lorakit.data.qa import format_prompt
from lorakit.course.timing import median_seconds
from lorakit.stats import CI
from lorakit.training.loop import collate


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


def left_padded(model, tokenizer, prompts: Sequence[str]):
    """``prompts`` tokenized into one batch on ``model``'s device, padded on the left.

    Left padding puts every prompt's last token in the last column, where generation continues and
    where the next-token logits are read. The tokenizer's own ``padding_side`` is left as it was.
    """
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return tokenizer(list(prompts), return_tensors="pt", padding=True).to(next(model.parameters()).device)
    finally:
        tokenizer.padding_side = side


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
    outputs = []
    for i in range(0, len(prompts), batch_size):
        batch = left_padded(model, tokenizer, prompts[i:i + batch_size])
        extra = {} if adapter_names is None else {"adapter_names": list(adapter_names[i:i + batch_size])}
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **extra)
        new = out[:, batch["input_ids"].shape[1]:]
        for row in tokenizer.batch_decode(new, skip_special_tokens=True):
            outputs.append(row.split("\n")[0] if stop_at_newline else row)
    return outputs


def generation_seconds(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8, repeats: int = 3,
                       **generate_kwargs) -> float:
    """Median seconds for one batched greedy ``generate`` over ``prompts`` (left-padded)."""
    batch = left_padded(model, tokenizer, prompts)

    @torch.no_grad()
    def run():
        return model.generate(**batch, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                              do_sample=False, pad_token_id=tokenizer.pad_token_id, **generate_kwargs)

    model.eval()
    return median_seconds(run, repeats=repeats, warmup=1)


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
    pretrained on (``scripts/producers/pretrain_tiny_lm.py`` logs it). The same numbers as
    :func:`evaluate_qa`'s ``answer_in_reply``; returns ``{"rate": fraction, "replies": [...]}``.
    """
    scored = evaluate_qa(model, tokenizer, examples, max_new_tokens, prompt_fn, batch_size)
    return {"rate": scored["answer_in_reply"], "replies": scored["predictions"]}


@torch.no_grad()
def document_nll(model, tokenizer, texts: Sequence[str], batch_size: int = 16,
                 max_length: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Each text's summed negative log-likelihood (nats) and number of predicted tokens.

    Each text is its own sequence with EOS appended, truncated to ``max_length`` tokens; padding is
    masked out. ``batch_size`` texts go through the model at once, so the logits take
    ``batch_size * max_length * vocab_size`` floats at most (never the whole list).

    Returns:
        ``(nll, n_tokens)``: float64 and int64, both of shape ``(len(texts),)``. Corpus perplexity
        is ``exp(nll.sum() / n_tokens.sum())``; :func:`perplexity_ci` resamples the documents.
    """
    if not texts:
        raise ValueError("perplexity needs at least one text")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    model.eval()
    device = next(model.parameters()).device
    nll, n_tokens = [], []
    for i in range(0, len(texts), batch_size):
        batch = [t + tokenizer.eos_token for t in texts[i:i + batch_size]]
        enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length).to(device)
        logits = model(**enc).logits[:, :-1].float()                       # (B, T - 1, V)
        targets = enc["input_ids"][:, 1:]
        mask = enc["attention_mask"][:, 1:]
        token_nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        nll.append((token_nll * mask).sum(dim=1).double().cpu())           # (B,)
        n_tokens.append(mask.sum(dim=1).long().cpu())
    return torch.cat(nll), torch.cat(n_tokens)


def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 256) -> float:
    """Token-level perplexity of ``model`` on ``texts``: ``exp(total NLL / total tokens)``.

    Works for any causal LM, quantized ones included; arguments as in :func:`document_nll`.
    """
    nll, n_tokens = document_nll(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    return math.exp(nll.sum().item() / n_tokens.sum().item())


def _resampled_sums(values: Sequence[torch.Tensor], n_boot: int, seed: int) -> list[torch.Tensor]:
    """Sums of each tensor over the same ``n_boot`` bootstrap resamples of the documents."""
    n = values[0].numel()
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, n, (n_boot, n), generator=gen)  # (n_boot, n): documents drawn with replacement
    return [v.double()[idx].sum(dim=1) for v in values]   # each (n_boot,)


def _interval(point: float, draws: torch.Tensor, level: float) -> CI:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    tail = (1 - level) / 2
    low, high = torch.quantile(draws, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return CI(point, low, high, level)


def perplexity_ci(nll: torch.Tensor, n_tokens: torch.Tensor, level: float = 0.95, n_boot: int = 2000,
                  seed: int = 0) -> CI:
    """Bootstrap interval of corpus perplexity, resampling whole documents (tokens of one document
    are not independent). ``nll``, ``n_tokens``: from :func:`document_nll`."""
    nll, n_tokens = torch.as_tensor(nll), torch.as_tensor(n_tokens)
    if nll.shape != n_tokens.shape or nll.dim() != 1 or nll.numel() == 0:
        raise ValueError(f"nll and n_tokens must be (n,) tensors of one shape, got {tuple(nll.shape)} "
                         f"and {tuple(n_tokens.shape)}")
    total_nll, total_tokens = _resampled_sums([nll, n_tokens], n_boot, seed)
    point = math.exp(nll.sum().item() / n_tokens.sum().item())
    return _interval(point, torch.exp(total_nll / total_tokens), level)


def perplexity_ratio_ci(nll_a: torch.Tensor, nll_b: torch.Tensor, n_tokens: torch.Tensor, level: float = 0.95,
                        n_boot: int = 2000, seed: int = 0) -> CI:
    """Paired bootstrap interval of ``ppl_a / ppl_b - 1`` (relative change) for two models scored on
    the same documents. The interval is not a verdict: the course compares formats by
    :func:`lorakit.stats.compare` on the mean NLL per token, with a margin in nats."""
    nll_a, nll_b, n_tokens = (torch.as_tensor(x) for x in (nll_a, nll_b, n_tokens))
    if not nll_a.shape == nll_b.shape == n_tokens.shape or nll_a.dim() != 1:
        raise ValueError("a paired comparison needs (n,) NLLs of both models on the same n documents")
    diff, total_tokens = _resampled_sums([nll_a - nll_b, n_tokens], n_boot, seed)
    point = math.exp((nll_a - nll_b).sum().item() / n_tokens.sum().item()) - 1
    return _interval(point, torch.exp(diff / total_tokens) - 1, level)


@torch.no_grad()
def passkey_accuracy(model, tokenizer, examples: Sequence[dict], batch_size: int = 32) -> dict:
    """Passkey retrieval: would greedy decoding after the prompt write the key?

    ``examples`` come from :func:`lorakit.data.longdocs.passkey_document` (``prompt`` ends with
    "The pass key is", ``answer`` is ``" <key>."``). Scored by teacher forcing, in one forward pass
    over prompt + answer + EOS: greedy decoding writes the key exactly when, at each key token, the
    most likely next token is that token given the key's earlier tokens, and that is what the
    forward pass reads off. Unlike a generation loop it never decodes with a cache, so it also runs
    under S²-Attn (at the training length).

    Returns ``{"accuracy", "correct": [bool per example], "predictions": [the argmax tokens at the
    key's positions, decoded], "by_depth": {depth: accuracy}}`` (the requested depths).
    """
    model.eval()
    device = next(model.parameters()).device
    correct, predictions = [], []
    for i in range(0, len(examples), batch_size):
        rows, spans = [], []
        for e in examples[i:i + batch_size]:
            prompt = tokenizer(e["prompt"], add_special_tokens=False)["input_ids"]
            answer = tokenizer(e["answer"], add_special_tokens=False)["input_ids"]
            key = tokenizer(" " + e["key"], add_special_tokens=False)["input_ids"]
            if answer[:len(key)] != key:
                raise ValueError(f"the answer {e['answer']!r} does not start with the key's tokens")
            rows.append(prompt + answer + [tokenizer.eos_token_id])
            spans.append((len(prompt), key))
        batch = collate([{"input_ids": r} for r in rows], tokenizer.pad_token_id)
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        for row, (start, key) in enumerate(spans):
            guess = logits[row, start - 1:start - 1 + len(key)].argmax(-1).tolist()   # position t predicts t + 1
            correct.append(guess == key)
            predictions.append(tokenizer.decode(guess))
    by_depth: dict[float, list[bool]] = {}
    for ok, e in zip(correct, examples):
        by_depth.setdefault(e["depth"], []).append(ok)
    return {"accuracy": sum(correct) / len(correct), "correct": correct, "predictions": predictions,
            "by_depth": {d: sum(v) / len(v) for d, v in sorted(by_depth.items())}}


