"""Supervised fine-tuning with TRL's ``SFTTrainer`` on the course's QA task: data, config, time cap.

The glue every notebook (and ``python -m lorakit.train``) shares when it hands training to TRL:

    from lorakit.training.sft import load_qa_splits, sft_config, TimeLimitCallback
    data = load_qa_splits(tokenizer.eos_token)          # DatasetDict of {"prompt", "completion"}
    args = sft_config("runs/qa", learning_rate=2e-3, max_steps=300, dtype=model.dtype)
    trainer = SFTTrainer(model=peft_model, args=args, train_dataset=data["train"],
                         eval_dataset=data["validation"], processing_class=tokenizer,
                         callbacks=[TimeLimitCallback(60)])

A *prompt/completion* dataset is TRL's format for "condition on this, learn that": each row holds
``prompt`` (the QA template up to ``### ANSWER\\n``) and ``completion`` (the answer, then EOS). With
``completion_only_loss=True`` TRL sets the labels of the prompt's tokens to -100, exactly as
:func:`lorakit.training.loop.encode_pairs` does, so the loss is taken on the answer and its EOS only.

What is left out: packing, chat templates and multi-GPU settings (``accelerate launch`` reads the
same :class:`~trl.SFTConfig`); gradient checkpointing is off by default here (TRL turns it on), since
it recomputes activations in the backward pass, trading speed for memory that a small model does
not need.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from lorakit.data.qa import format_example
from lorakit.models.device import compute_dtype, get_device
from lorakit.course.paths import QA_DIR

SPLITS = ("train", "validation", "test")


def to_prompt_completion(example: dict, eos_token: str | None = None) -> dict[str, str]:
    """One QA example (SQuAD schema) as TRL's prompt/completion pair.

    ``{"context": "Tom lives in Lima.", "question": "Where does Tom live?", "answers": {"text":
    ["Lima"], ...}}`` becomes ``{"prompt": "### CONTEXT\\nTom lives in Lima.\\n\\n### QUESTION\\n
    Where does Tom live?\\n\\n### ANSWER\\n", "completion": "Lima<eos>"}``.

    Args:
        example: a dict with ``context``, ``question`` and ``answers["text"]`` (the first answer is
            the training target).
        eos_token: appended to the completion so the model learns to stop (TRL would add
            ``processing_class.eos_token`` itself; passing it makes the data say so). ``None``: none.
    """
    prompt, answer = format_example(example)
    if eos_token is not None and not isinstance(eos_token, str):
        raise TypeError(f"eos_token must be a string such as tokenizer.eos_token, got {type(eos_token).__name__}")
    return {"prompt": prompt, "completion": answer + (eos_token or "")}


def qa_data_files(data_dir: str | Path = QA_DIR) -> dict[str, str]:
    """``{"train": ".../train.jsonl", ...}`` for ``datasets.load_dataset("json", data_files=...)``."""
    data_dir = Path(data_dir)
    files = {split: data_dir / f"{split}.jsonl" for split in SPLITS}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"QA split files not found: {missing}; write them with "
                                "lorakit.data.qa.write_splits(data_dir)")
    return {split: str(path) for split, path in files.items()}


def load_qa_splits(eos_token: str | None, data_dir: str | Path = QA_DIR, sizes: dict[str, int] | None = None):
    """The QA splits as a ``datasets.DatasetDict`` of prompt/completion rows (other columns dropped).

    Args:
        eos_token: the tokenizer's EOS, appended to every completion (see :func:`to_prompt_completion`).
        data_dir: the folder holding ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl``.
        sizes: keep only the first ``n`` rows of a split, e.g. ``{"validation": 64}``.
    """
    from datasets import load_dataset

    raw = load_dataset("json", data_files=qa_data_files(data_dir))
    for split, n in (sizes or {}).items():
        if split not in raw:
            raise ValueError(f"unknown split {split!r}; expected one of {list(raw)}")
        raw[split] = raw[split].select(range(min(n, len(raw[split]))))
    return raw.map(to_prompt_completion, fn_kwargs={"eos_token": eos_token},
                   remove_columns=raw["train"].column_names)


def mixed_precision(dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> dict[str, bool]:
    """The ``fp16``/``bf16`` flags of ``SFTConfig`` for a model computing in ``dtype`` on ``device``.

    On a GPU, float16 (a T4) gets ``fp16=True``: autocast plus a gradient scaler, which needs the
    *trainable* weights in float32 (PEFT keeps LoRA weights in float32 over a float16 base).
    bfloat16 (compute capability >= 8.0) gets ``bf16=True``. On the CPU both stay off, whatever the
    dtype: the model runs in its own dtype. Both are always set explicitly, because TRL turns
    ``bf16`` on when neither is given, which a T4 cannot run.
    """
    dtype = dtype or compute_dtype(device)
    on_gpu = torch.device(device).type == "cuda" if device is not None else get_device().type == "cuda"
    return {"fp16": on_gpu and dtype == torch.float16, "bf16": on_gpu and dtype == torch.bfloat16}


def sft_config(output_dir: str | Path, *, learning_rate: float = 2e-3, batch_size: int = 16,
               max_steps: int = 300, warmup_steps: int = 20, max_grad_norm: float = 1.0,
               eval_steps: int = 50, eval_batch_size: int = 32, logging_steps: int = 10,
               max_length: int = 512, seed: int = 0, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None, **overrides):
    """The course's ``trl.SFTConfig``: what :func:`lorakit.training.loop.finetune` does, in TRL's words.

    Completion-only loss; AdamW at ``learning_rate`` with ``warmup_steps`` of linear warm-up, then
    constant; gradients clipped to ``max_grad_norm``; shuffled batches; the loss on the validation
    set every ``eval_steps``; a progress bar; no checkpoints; nothing reported to a tracker.

    Args:
        output_dir: where the trainer may write (the adapter is saved by the caller).
        learning_rate: 2e-3 suits LoRA on the shipped tiny model; ~2e-4 for 100M+ models.
        batch_size: examples per step (``per_device_train_batch_size``).
        max_steps: steps to train; pair with :class:`TimeLimitCallback` for a wall-clock cap.
        eval_steps, eval_batch_size: how often and in what batches the eval loss is computed.
        max_length: longest tokenized sequence (TRL truncates longer ones).
        dtype, device: the model's compute dtype and device; they set ``fp16``/``bf16`` through
            :func:`mixed_precision` (default: :func:`lorakit.models.device.compute_dtype`).
        **overrides: any other ``SFTConfig`` field, e.g. ``activation_checkpointing=True``.
    """
    from trl import SFTConfig

    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    settings = dict(
        output_dir=str(output_dir),
        completion_only_loss=True,            # labels -100 on the prompt (prompt/completion data)
        max_length=max_length,
        learning_rate=learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=warmup_steps,
        max_grad_norm=max_grad_norm,
        weight_decay=0.0,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=eval_batch_size,
        max_steps=max_steps,
        eval_strategy="steps",
        eval_steps=eval_steps,
        logging_steps=logging_steps,
        save_strategy="no",
        report_to="none",
        activation_checkpointing=False,       # transformers 5.23's name (gradient_checkpointing is deprecated)
        disable_tqdm=False,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),   # pinning warns (and does nothing) on a CPU
        **mixed_precision(dtype, device),
    )
    settings.update(overrides)
    return SFTConfig(**settings)


class TimeLimitCallback(TrainerCallback):
    """Stop a ``transformers``/TRL trainer after ``max_seconds`` of wall time (neither has a time cap).

    The clock starts at ``on_train_begin`` and is read after every optimizer step, so a run stops at
    the first step that ends past the cap (evaluations during training count). ``stopped_early``
    tells whether the cap, not ``max_steps``, ended training; ``seconds`` is the time it ran.

    The step at which the cap stops training is logged and, where the trainer evaluates during
    training (``eval_strategy="steps"``), evaluated: a run that the cap cuts short (a slow machine, a
    larger model) still ends with a train loss and a validation loss for its last step, even when
    it stopped before the first ``eval_steps``.
    """

    def __init__(self, max_seconds: float | None):
        if max_seconds is not None and (isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float))
                                        or not max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number of seconds or None, got {max_seconds!r}")
        self.max_seconds = max_seconds
        self.stopped_early = False
        self.seconds = 0.0
        self._start: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        self.stopped_early = False

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self._start
        if self.max_seconds is not None and self.seconds >= self.max_seconds and state.global_step < state.max_steps:
            control.should_training_stop = True
            control.should_log = True
            if str(getattr(args, "eval_strategy", "no")).lower().endswith("steps"):
                control.should_evaluate = True
            self.stopped_early = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self._start is not None:
            self.seconds = time.perf_counter() - self._start


def loss_history(log_history: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """``{"train": (steps, losses), "eval": (steps, losses)}`` from ``trainer.state.log_history``."""
    curves: dict[str, tuple[list[int], list[float]]] = {"train": ([], []), "eval": ([], [])}
    for entry in log_history:
        for name, key in (("train", "loss"), ("eval", "eval_loss")):
            if key in entry and "step" in entry:
                curves[name][0].append(int(entry["step"]))
                curves[name][1].append(float(entry[key]))
    return curves


__all__ = ["SPLITS", "TimeLimitCallback", "load_qa_splits", "loss_history", "mixed_precision",
           "qa_data_files", "sft_config", "to_prompt_completion"]
