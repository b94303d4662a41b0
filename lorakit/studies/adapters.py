"""Several LoRA adapters on one model, through PEFT: the shipped ones, training, scoring, comparing.

The course ships one adapter per task (:mod:`lorakit.data.tasks`) for the shipped model, in PEFT's
format under ``data/adapters/<task>/`` (``adapter_config.json`` + ``adapter_model.safetensors``),
made by ``scripts/producers/train_adapters.py`` with :data:`RECIPE`. A notebook loads them by name::

    model = PeftModel.from_pretrained(base, adapter_path("qa"), adapter_name="qa")
    model.load_adapter(adapter_path("record"), adapter_name="record")

On another model the shipped adapters do not fit (other shapes); :func:`train_adapter` trains one
with the same recipe and saves it in the same format. Scores are exact match on a task's held-out
split (:func:`score`), and outputs are compared as next-token logits (:func:`next_token_logits`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lorakit.data.tasks import TASKS, get_task
from lorakit.evaluate import evaluate_qa, left_padded
from lorakit.course.paths import DATA_DIR
from lorakit.training.loop import TrainConfig, TrainResult, finetune

ADAPTERS_DIR = DATA_DIR / "adapters"


@dataclass(frozen=True)
class AdapterRecipe:
    r: int = 8                       # same rank for every task, so every combination type applies
    lora_alpha: int = 16             # scaling = lora_alpha / r = 2
    target_modules: str = "all-linear"
    lr: float = 2e-3
    batch_size: int = 16
    steps: int = 200                 # per task, on the shipped model (a preset scales it)
    seed: int = 0                    # task i (in TASKS order) trains with seed + i: independent A's

    def task_seed(self, task: str) -> int:
        """The seed of ``task``'s run: its initial A and its batch order.

        One seed for all tasks would start every adapter from the *same* random A; the adapters
        would then share a component that no task put there, and combining them would see it.
        """
        return self.seed + list(TASKS).index(get_task(task).name)

    def lora_config(self):
        """The :class:`peft.LoraConfig` of this recipe (a causal LM, no dropout)."""
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.lora_alpha, target_modules=self.target_modules,
                          lora_dropout=0.0, task_type="CAUSAL_LM")


RECIPE = AdapterRecipe()


def adapter_path(task: str) -> Path:
    """``data/adapters/<task>``: the shipped adapter for ``task`` (trained on the shipped model)."""
    get_task(task)
    path = ADAPTERS_DIR / task
    if not (path / "adapter_config.json").exists():
        raise FileNotFoundError(f"no shipped adapter in {path}; run scripts/producers/train_adapters.py")
    return path


def train_adapter(model, tokenizer, task: str, recipe: AdapterRecipe = RECIPE, steps: int | None = None,
                  lr: float | None = None, batch_size: int | None = None,
                  out_dir: str | Path | None = None):
    """Wrap ``model`` (in place) in a fresh LoRA adapter of ``recipe`` and train it on ``task``.

    Args:
        model: a causal LM without adapters; PEFT injects the LoRA layers into it.
        tokenizer: its tokenizer.
        task: a name in :data:`lorakit.data.tasks.TASKS`; trains on its ``train`` split.
        recipe: rank, alpha, targets, learning rate, batch size, steps and seed.
        steps, lr, batch_size: override the recipe's (e.g. a preset's ``P.steps(300)``, ``P.lora_lr``).
        out_dir: if given, ``save_pretrained`` there (PEFT's format).

    Returns:
        ``(peft_model, TrainResult)``; the adapter is called ``"default"``.
    """
    from peft import get_peft_model

    spec = get_task(task)
    seed = recipe.task_seed(task)
    torch.manual_seed(seed)          # LoRA A's initialisation
    peft_model = get_peft_model(model, recipe.lora_config())
    config = TrainConfig(lr=lr or recipe.lr, batch_size=batch_size or recipe.batch_size,
                         max_steps=steps or recipe.steps, max_seconds=None, seed=seed)
    result = finetune(peft_model, tokenizer, spec.make_split("train"), config, to_pair=spec.format_example)
    if out_dir is not None:
        peft_model.save_pretrained(str(out_dir))
    return peft_model, result


def score(model, tokenizer, task: str, examples: Sequence[dict], batch_size: int = 32) -> list[bool]:
    """Exact match per example of ``model``'s greedy answers on ``task`` (feeds ``bootstrap_ci``)."""
    spec = get_task(task)
    return evaluate_qa(model, tokenizer, examples, max_new_tokens=spec.max_new_tokens,
                       prompt_fn=spec.format_prompt, batch_size=batch_size)["correct"]


def score_tasks(model, tokenizer, eval_sets: Mapping[str, Sequence[dict]], batch_size: int = 32) -> dict[str, list[bool]]:
    """``{task: per-example exact match}`` for every task in ``eval_sets`` (``{task: examples}``)."""
    return {task: score(model, tokenizer, task, examples, batch_size) for task, examples in eval_sets.items()}


def mean(values: Sequence[float]) -> float:
    """The mean of per-example scores (0 for an empty list)."""
    return sum(values) / len(values) if len(values) else 0.0


def combination_scores(peft_model, tokenizer, adapters: Sequence[str], weights: Sequence[float],
                       eval_sets: Mapping[str, Sequence[dict]], combinations: Mapping[str, Mapping],
                       batch_size: int = 32) -> dict[str, dict[str, list[bool]]]:
    """Score every combination of ``adapters`` on every task, one at a time.

    Args:
        peft_model: a ``PeftModel`` holding ``adapters``.
        weights: one weight per adapter, for every combination.
        eval_sets: ``{task: examples}``.
        combinations: ``{label: add_weighted_adapter keyword arguments}``, e.g.
            ``{"ties": {"combination_type": "ties", "density": 0.5}}``.

    Each combination is added with ``add_weighted_adapter``, made active, scored, and deleted, so
    the model ends as it started (same adapters, same active adapter). Returns
    ``{label: {task: per-example exact match}}``.
    """
    active = peft_model.active_adapter
    out = {}
    for label, kwargs in combinations.items():
        name = f"combined_{label}"
        peft_model.add_weighted_adapter(list(adapters), list(weights), name, **kwargs)
        peft_model.set_adapter(name)
        out[label] = score_tasks(peft_model, tokenizer, eval_sets, batch_size)
        peft_model.set_adapter(active)
        peft_model.delete_adapter(name)
    return out


@torch.no_grad()
def next_token_logits(model, tokenizer, prompts: Sequence[str], **forward_kwargs) -> torch.Tensor:
    """The logits for the token after each prompt, (len(prompts), vocab), in float32.

    Prompts are left-padded into one batch (as :func:`lorakit.evaluate.generate` does), so the
    last position is every prompt's next token. ``forward_kwargs`` go to the forward call (e.g.
    PEFT's ``adapter_names=[...]``, one per prompt).
    """
    batch = left_padded(model, tokenizer, prompts)
    model.eval()
    return model(**batch, **forward_kwargs).logits[:, -1].float()


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| over all entries, as a Python float (shapes must match)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare tensors of shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return (a.float() - b.float()).abs().max().item()


def format_score_table(scores: Mapping[str, Mapping[str, Sequence[float]]], percent: bool = True) -> str:
    """A text table of ``scores[row][task]`` (per-example lists): mean and 95% bootstrap interval."""
    from lorakit.stats import bootstrap_ci, format_ci

    rows = list(scores)
    tasks = list(next(iter(scores.values())))
    width = max(len(r) for r in rows) + 2
    lines = [" " * width + "".join(f"{t:>24}" for t in tasks)]
    for r in rows:
        cells = "".join(f"{format_ci(bootstrap_ci(scores[r][t]), percent=percent):>24}" for t in tasks)
        lines.append(f"{r:<{width}}{cells}")
    return "\n".join(lines)


__all__ = [
    "ADAPTERS_DIR", "AdapterRecipe", "RECIPE", "TASKS", "TrainResult", "adapter_path",
    "combination_scores", "format_score_table", "max_abs_diff", "mean",
    "next_token_logits", "score", "score_tasks", "train_adapter",
]
