"""The comparison of QLoRA and LoRA on one model: the same LoRA, the base in NF4 or not.

:func:`lora_model` builds either method's PEFT model from the same seed; :func:`train_sft` trains it
with TRL's ``SFTTrainer`` for a fixed number of steps and times it; :func:`run_method` is one row of the
table (scored at chosen steps by :class:`ScoreAt`). ``scripts/producers/qlora_vs_lora.py`` runs both methods
over seeds and writes the table notebook 04 reads.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from transformers import TrainerCallback

from lorakit.count import count_parameters
from lorakit.evaluate import evaluate_qa
from lorakit.models.device import compute_dtype
from lorakit.studies.ablations import encode_correct
from lorakit.training.qlora import adapter_dtype, bnb_config, restore_adapters_, trainable_snapshot


def producer_setup(n_test: int | None = None):
    """What notebook 04's producer scripts share: libraries quiet, the ``cpu`` preset, the shipped tokenizer and
    the QA splits, returned as ``(preset, tokenizer, data, test)``; ``test`` holds the first ``n_test`` test
    questions (``None`` when ``n_test`` is None)."""
    import warnings

    import datasets
    import transformers

    from lorakit.data.qa import make_split
    from lorakit.models import presets
    from lorakit.models.loading import load_tokenizer
    from lorakit.training.sft import load_qa_splits

    if n_test is not None and (not isinstance(n_test, int) or isinstance(n_test, bool) or n_test < 1):
        raise ValueError(f"n_test must be a positive int or None, got {n_test!r}")
    warnings.filterwarnings("ignore")
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    preset = presets.resolve(None, preset="cpu")
    tokenizer = load_tokenizer(None)
    data = load_qa_splits(tokenizer.eos_token)
    test = make_split("test", n_test) if n_test is not None else None
    return preset, tokenizer, data, test


def lora_model(model_id, method: str, r: int = 16, dtype: torch.dtype | None = None,
               checkpointing: bool | None = None, seed: int = 0) -> nn.Module:
    """A fresh PEFT model for the comparison of QLoRA and LoRA: the same LoRA on all linear layers.

    ``method="qlora"``: the base in NF4 with double quantization (:func:`bnb_config`), then
    ``prepare_model_for_kbit_training`` (gradient checkpointing unless ``checkpointing=False``).
    ``method="lora"``: the base unquantized in ``dtype`` (checkpointing only if asked).
    In both, LoRA with ``r`` and ``lora_alpha = r`` on ``"all-linear"``, float32 adapter weights,
    initialised right after ``torch.manual_seed(seed)`` (so both methods start from the same A).
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from lorakit.models.loading import load_model

    if method not in ("qlora", "lora"):
        raise ValueError(f"method must be 'qlora' or 'lora', got {method!r}")
    dtype = dtype or compute_dtype()
    if method == "qlora":
        model = load_model(model_id, quantization_config=bnb_config(True, dtype))
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing is not False)
    else:
        model = load_model(model_id, dtype=dtype)
        if checkpointing:
            model.activation_checkpointing_enable()
            model.enable_input_require_grads()
    config = LoraConfig(r=r, lora_alpha=r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    return get_peft_model(model, config)



def train_sft(model, tokenizer, train_dataset, steps: int, preset, optim: str = "paged_adamw_32bit",
              checkpointing: bool = False, seed: int = 0, dtype: torch.dtype | None = None,
              adapters: torch.dtype | str | None = None, callbacks=None):
    """Train with TRL's ``SFTTrainer`` and the course's ``SFTConfig`` (:func:`lorakit.training.sft.sft_config`).

    Args:
        train_dataset: prompt/completion rows (:func:`lorakit.training.sft.load_qa_splits`).
        steps: optimizer steps (no time cap, so two methods see the same batches).
        preset: a :class:`lorakit.models.presets.Preset` (learning rate, batch size, sequence length).
        optim: transformers' ``optim`` name, e.g. ``"paged_adamw_32bit"`` (QLoRA's) or ``"adamw_torch"``.
        checkpointing: ``activation_checkpointing`` (gradient checkpointing's name since transformers 5.23).
        dtype: the compute dtype (default :func:`lorakit.models.device.compute_dtype`).
        adapters: the dtype the LoRA weights train in: default :func:`adapter_dtype` (float32 unless
            the compute dtype is bfloat16), restored after TRL's cast; ``"trl"`` keeps what TRL did
            (bfloat16 for a quantized model).
        callbacks: extra ``TrainerCallback`` objects.

    Returns:
        ``(trainer, seconds per step)``: the median wall time of one optimizer step, the first step (warm-up)
        left out (:class:`lorakit.course.timing.StepTimer`), so the first run of a process is not slower on paper;
        work that ``callbacks`` do at the end of a step (scoring) is off the clock. ``steps`` must be >= 2.
    """
    import tempfile

    from transformers import PrinterCallback
    from trl import SFTTrainer

    from lorakit.course.timing import StepTimer
    from lorakit.training.sft import sft_config

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (the first step is warm-up, left off the clock), got {steps!r}")

    dtype = dtype or compute_dtype()
    args = sft_config(tempfile.mkdtemp(), learning_rate=preset.lora_lr, batch_size=preset.batch_size,
                      max_steps=steps, max_length=preset.max_length, seed=seed, dtype=dtype,
                      optim=optim, eval_strategy="no", activation_checkpointing=checkpointing,
                      disable_tqdm=True, logging_steps=steps)
    before = trainable_snapshot(model)
    timer = StepTimer(warmup=1)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer,
                         callbacks=[timer, *(callbacks or [])])
    trainer.remove_callback(PrinterCallback)  # no log dicts printed
    if adapters != "trl":                     # undo TRL's bfloat16 cast where the rule says float32
        restore_adapters_(model, before, adapters or adapter_dtype(dtype))
    trainer.train()
    return trainer, timer.seconds_per_step()


class ScoreAt(TrainerCallback):
    """Exact match on ``test`` after each step in ``steps``; the scoring time is kept off the clock."""

    def __init__(self, steps, tokenizer, test, batch_size):
        self.steps, self.tokenizer, self.test, self.batch_size = set(steps), tokenizer, test, batch_size
        self.scores, self.eval_seconds = {}, 0.0

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps:
            start = time.perf_counter()
            model.eval()
            out = evaluate_qa(model, self.tokenizer, self.test, batch_size=self.batch_size)
            model.train()
            self.scores[state.global_step] = out
            self.eval_seconds += time.perf_counter() - start
        return control


def run_method(method: str, seed: int, steps: int, eval_at, preset, tokenizer, data, test) -> dict:
    """One run of ``method`` ("qlora" or "lora") from ``seed``: exact match at the steps ``eval_at``, seconds per step
    (the median step, warm-up and scoring off the clock), the adapters' dtype and the trainable parameters; a row
    of notebook 04's table."""
    model = lora_model(None, method, r=16, seed=seed, checkpointing=False)
    scorer = ScoreAt(eval_at, tokenizer, test, preset.eval_batch_size)
    trainer, seconds = train_sft(model, tokenizer, data["train"], steps, preset, seed=seed, callbacks=[scorer])
    return {"method": method, "seed": seed, "steps": steps,
            "adapter_dtype": str(next(p.dtype for p in model.parameters() if p.requires_grad)),
            "em": {str(s): out["exact_match"] for s, out in sorted(scorer.scores.items())},
            "correct": {str(s): encode_correct(out["correct"]) for s, out in sorted(scorer.scores.items())},
            "seconds_per_step": round(seconds, 4), "trainable": count_parameters(model)[0]}


__all__ = ["ScoreAt", "lora_model", "producer_setup", "run_method", "train_sft"]
