"""Why QLoRA rises later than LoRA on the shipped model: the 4-bit base's damage, and the learning rate.

Notebook 04's table (``data/results/04_qlora_vs_lora.json``) shows QLoRA's exact match rising later than
LoRA's at the same learning rate and steps. The arms differ only in the base, so two measurements:

* **the base's damage before fine-tuning**: the loss of the untrained base on the task's validation
  answers (:func:`completion_losses`, the loss training minimizes: answer tokens and EOS only), for the
  unquantized base, NF4 (QLoRA's) and FP4 (bitsandbytes' default), one number per example so that
  :mod:`lorakit.stats` can put intervals on it (:func:`base_losses`);
* **whether a learning rate chosen on validation closes the gap** at LoRA's steps: QLoRA trained at
  each rate of a small grid (:func:`lr_run`, scored on validation at chosen steps, the adapter kept
  there), the rate picked on validation (:func:`choose_lr`), and only the pick scored on test
  (:func:`score_snapshot`).

``scripts/producers/qlora_gap.py`` runs both and writes ``data/results/04_qlora_gap.json``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from transformers import TrainerCallback

from lorakit.data.qa import format_example
from lorakit.evaluate import evaluate_qa
from lorakit.training.loop import IGNORE_INDEX, collate, encode_pairs

BASES = ("fp32", "nf4", "fp4")


@torch.no_grad()
def completion_losses(model: nn.Module, tokenizer, examples: Sequence[dict], batch_size: int = 32) -> torch.Tensor:
    """Per example: the mean cross-entropy (nats per token) of the answer and its EOS given the prompt.

    The loss the fine-tune minimizes (completion-only, as TRL's ``completion_only_loss`` and
    :func:`lorakit.training.loop.encode_pairs`), here averaged within each example rather than over the
    batch's tokens, so each example is one value for a bootstrap over examples. Returns a float32
    tensor of ``len(examples)`` values.
    """
    if not examples:
        raise ValueError("completion_losses needs at least one example")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    encoded = encode_pairs(tokenizer, [format_example(e) for e in examples])
    for i in range(0, len(encoded), batch_size):
        batch = {k: v.to(device) for k, v in collate(encoded[i:i + batch_size], tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        labels = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels,
                                                ignore_index=IGNORE_INDEX, reduction="none")
        mask = (labels != IGNORE_INDEX).float()
        out.append((nll * mask).sum(1) / mask.sum(1))
    model.train(was_training)
    return torch.cat(out).cpu()


def load_base(model_id, base: str, dtype: torch.dtype | None = None) -> nn.Module:
    """The untrained base: ``"fp32"`` unquantized (in ``dtype``, float32 on a CPU), ``"nf4"`` or ``"fp4"``
    through bitsandbytes (double quantization, as QLoRA), computing in ``dtype``."""
    from lorakit.models.device import compute_dtype
    from lorakit.models.loading import load_model
    from lorakit.training.qlora import bnb_config

    if base not in BASES:
        raise ValueError(f"base must be one of {BASES}, got {base!r}")
    dtype = dtype or compute_dtype()
    if base == "fp32":
        return load_model(model_id, dtype=dtype)
    return load_model(model_id, quantization_config=bnb_config(True, dtype, quant_type=base))


def heldout_losses(model: nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 16) -> torch.Tensor:
    """Per held-out document: its mean next-token loss (nats per token), from
    :func:`lorakit.evaluate.document_nll`; the pretraining task, where the task's answers are new to the base."""
    from lorakit.evaluate import document_nll

    nll, n_tokens = document_nll(model, tokenizer, texts, batch_size=batch_size)
    return (nll / n_tokens).float()


def base_losses(model_id, tokenizer, examples: Sequence[dict], bases: Sequence[str] = BASES,
                batch_size: int = 32, dtype: torch.dtype | None = None,
                texts: Sequence[str] | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Each untrained base's losses (:func:`load_base`): ``{"task": {base: per-example completion loss on
    examples}}``, plus ``"heldout": {base: per-document loss on texts}`` when ``texts`` are given."""
    out = {"task": {}, **({"heldout": {}} if texts is not None else {})}
    for b in bases:
        model = load_base(model_id, b, dtype)
        out["task"][b] = completion_losses(model, tokenizer, examples, batch_size)
        if texts is not None:
            out["heldout"][b] = heldout_losses(model, tokenizer, texts)
    return out


class ValidateAt(TrainerCallback):
    """At each step of ``steps``: exact match on ``examples`` (0/1 per example) and a copy of the trainable weights.

    The copy lets the producer score the run at that step on test later, after a rate has been chosen on
    validation, without training it again. Greedy decoding draws no random numbers, so scoring mid-run
    leaves the run unchanged.
    """

    def __init__(self, steps: Sequence[int], tokenizer, examples: Sequence[dict], batch_size: int = 32):
        if not steps or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps):
            raise ValueError(f"steps must be positive ints, got {steps!r}")
        self.steps, self.tokenizer, self.examples, self.batch_size = set(steps), tokenizer, examples, batch_size
        self.correct: dict[int, list[int]] = {}
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps:
            model.eval()
            out = evaluate_qa(model, self.tokenizer, self.examples, batch_size=self.batch_size)
            model.train()
            self.correct[state.global_step] = [int(c) for c in out["correct"]]
            self.snapshots[state.global_step] = {n: p.detach().clone() for n, p in model.named_parameters()
                                                 if p.requires_grad}
        return control


def lr_run(method: str, lr: float, seed: int, steps: int, eval_at: Sequence[int], preset, tokenizer, data,
           validation: Sequence[dict], r: int = 16) -> dict:
    """One run of :func:`lorakit.studies.qlora_vs_lora.lora_model` at learning rate ``lr`` (else the preset's
    settings, as notebook 04's table), scored on ``validation`` at each step of ``eval_at``.

    Returns ``{"method", "lr", "seed", "steps", "validation": {step: [0/1, ...]}, "snapshots": {step: {name: tensor}},
    "seconds_per_step"}``.
    """
    from lorakit.studies.qlora_vs_lora import lora_model, train_sft

    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if max(eval_at) > steps:
        raise ValueError(f"eval_at {list(eval_at)} goes past steps={steps}")
    model = lora_model(None, method, r=r, seed=seed, checkpointing=False)
    scorer = ValidateAt(eval_at, tokenizer, validation, preset.eval_batch_size)
    _, seconds = train_sft(model, tokenizer, data["train"], steps, dataclasses.replace(preset, lora_lr=float(lr)),
                           seed=seed, callbacks=[scorer])
    return {"method": method, "lr": float(lr), "seed": seed, "steps": steps, "validation": scorer.correct,
            "snapshots": scorer.snapshots, "seconds_per_step": round(seconds, 4)}


def choose_lr(validation: Mapping[float, Sequence[Sequence[int]]]) -> float:
    """The rate whose validation exact match, averaged over its seeds and questions, is highest.

    ``validation``: ``{lr: [[0/1 per question] per seed]}``. Ties go to the smaller rate (the gentler choice).
    """
    if not validation:
        raise ValueError("choose_lr needs at least one learning rate")
    means = {}
    for lr, runs in validation.items():
        if not runs or not all(len(r) for r in runs):
            raise ValueError(f"lr {lr}: no validation scores")
        means[lr] = sum(sum(r) / len(r) for r in runs) / len(runs)
    best = max(means.values())
    return min(lr for lr, m in means.items() if m == best)


def load_snapshot(method: str, seed: int, snapshot: Mapping[str, torch.Tensor], r: int = 16) -> nn.Module:
    """A fresh ``method`` model (:func:`lorakit.studies.qlora_vs_lora.lora_model`) carrying the trainable weights
    in ``snapshot`` (:class:`ValidateAt`'s copies), in eval mode."""
    from lorakit.studies.qlora_vs_lora import lora_model

    model = lora_model(None, method, r=r, seed=seed, checkpointing=False)
    params = dict(model.named_parameters())
    missing = set(snapshot) - set(params)
    if missing:
        raise ValueError(f"snapshot names {len(missing)} parameters the model lacks, e.g. {sorted(missing)[0]}")
    with torch.no_grad():
        for name, value in snapshot.items():
            params[name].copy_(value.to(params[name].dtype))
    return model.eval()


def score_snapshot(method: str, seed: int, snapshot: Mapping[str, torch.Tensor], tokenizer, examples: Sequence[dict],
                   batch_size: int = 32, r: int = 16) -> list[int]:
    """Exact match (0/1 per example) of :func:`load_snapshot`'s model on ``examples``."""
    model = load_snapshot(method, seed, snapshot, r)
    return [int(c) for c in evaluate_qa(model, tokenizer, examples, batch_size=batch_size)["correct"]]


__all__ = ["BASES", "ValidateAt", "base_losses", "choose_lr", "completion_losses", "heldout_losses", "load_base", "load_snapshot", "lr_run",
           "score_snapshot"]
