"""Run a validated :class:`~lorakit.recipe.config.RecipeConfig`: the recipe of notebooks 02 and 04.

model (LoRA over a 16/32-bit base, QLoRA over an NF4 base, or a full fine-tune) -> prompt/completion
data -> TRL ``SFTTrainer`` (periodic evaluation, checkpoints to resume from) -> exact match on the test
split -> the adapter written atomically -> one final line with the metrics.

Under ``accelerate launch`` every process runs this file; the trainer splits each batch across them.
Only the main process evaluates, writes files and prints, so metrics appear once.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch

from lorakit.recipe.config import RecipeConfig, to_dict

ADAPTER_DIR = "adapter"
METRICS_FILE = "metrics.json"


def _state():
    """accelerate's process state; on a machine without CUDA the processes join over gloo on the CPU."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def torch_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> lorakit.models.device's rule for ``device``; else the named dtype."""
    from lorakit.models.device import DTYPES, compute_dtype

    return compute_dtype(device) if name == "auto" else DTYPES[name]


def load_model_and_tokenizer(cfg: RecipeConfig, device: torch.device):
    """The base model as the method needs it (frozen under LoRA/QLoRA adapters, or all trainable)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from lorakit.models.loading import load_tokenizer, resolve_model_id

    source = resolve_model_id(cfg.model.id)
    tokenizer = load_tokenizer(source)
    dtype = torch_dtype(cfg.model.dtype, device)
    kwargs = {"dtype": dtype}
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    if cfg.method == "qlora":
        from lorakit.training.qlora import bnb_config

        q = cfg.quantization
        kwargs["quantization_config"] = bnb_config(
            q.double_quant, torch_dtype(q.compute_dtype, device), q.quant_type,
            torch_dtype(q.quant_storage, device) if q.quant_storage else None)
        if device.type == "cuda" and cfg.distributed.strategy != "fsdp":
            kwargs["device_map"] = {"": _state().local_process_index}
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if cfg.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
    if cfg.method in ("lora", "qlora"):
        lora = cfg.lora
        # Seed the adapters' initialisation here: whatever ran before (accelerate's and torch.distributed's
        # set-up draw from the global generator) must not change A, or one process and two would start
        # from different adapters (measured: lora_A differed by twice its size before this line).
        torch.manual_seed(cfg.training.seed)
        model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                 target_modules=lora.target_modules, use_rslora=lora.use_rslora,
                                                 task_type="CAUSAL_LM"))
    return model, tokenizer, source


def load_data(cfg: RecipeConfig, eos_token: str):
    """A ``DatasetDict`` with ``prompt``/``completion`` columns (and ``raw_test`` rows for QA scoring)."""
    from lorakit.training.sft import load_qa_splits

    d = cfg.data
    sizes = {d.eval_split: d.eval_examples}
    if d.max_train_examples:
        sizes[d.train_split] = d.max_train_examples
    if d.source == "qa":
        return load_qa_splits(eos_token, sizes=sizes)
    from datasets import load_dataset

    path = cfg.resolve_path(d.source)
    if path.exists():
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix, None)
        data = load_dataset(kind, data_files=str(path)) if kind else load_dataset(str(path))
    else:
        data = load_dataset(d.source)
    data = data.rename_columns({k: v for k, v in ((d.prompt_column, "prompt"), (d.completion_column, "completion"))
                                if k != v})
    data = data.map(lambda row: {"completion": row["completion"] + eos_token})
    for split, n in sizes.items():
        if split in data:
            data[split] = data[split].select(range(min(n, len(data[split]))))
    return data


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest ``checkpoint-<step>`` folder the trainer finished writing, or ``None``.

    The trainer writes ``trainer_state.json`` last; a run killed while saving leaves a folder
    without it, which is skipped (transformers' ``get_last_checkpoint`` would pick it and fail).
    """
    if not output_dir.is_dir():
        return None
    steps = sorted((int(p.name.split("-")[1]), p) for p in output_dir.glob("checkpoint-*")
                   if p.name.split("-")[1].isdigit() and p.is_dir())
    complete = [p for _, p in steps if (p / "trainer_state.json").is_file()]
    return str(complete[-1]) if complete else None


def save_adapter_atomically(trainer, output_dir: Path, state) -> Path:
    """Write the adapter to ``adapter.tmp/``, then rename it to ``adapter/``.

    A run killed while saving leaves at most a stray ``adapter.tmp/`` (or the previous adapter as
    ``adapter.old/``), never a half-written ``adapter/`` that loads. Every process takes part in the
    save (FSDP gathers the shards); only the main one renames.
    """
    final, tmp, old = (output_dir / f"{ADAPTER_DIR}{suffix}" for suffix in ("", ".tmp", ".old"))
    if state.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    state.wait_for_everyone()
    trainer.save_model(str(tmp))
    state.wait_for_everyone()
    if state.is_main_process:
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)   # a rename within one folder: atomic on POSIX
        if old.exists():
            shutil.rmtree(old)
    state.wait_for_everyone()
    return final


def _time_limit(max_seconds: float | None):
    """``lorakit.training.sft.TimeLimitCallback`` whose stop decision is shared by all processes.

    Each process has its own clock; if one stopped a step earlier than the others, the others would
    wait forever in the next gradient all-reduce. The flag is all-reduced (max) after every step.
    """
    from lorakit.training.sft import TimeLimitCallback

    class SharedTimeLimit(TimeLimitCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control = super().on_step_end(args, state, control, **kwargs)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                flag = torch.tensor([1.0 if control.should_training_stop else 0.0])
                if torch.distributed.get_backend() == "nccl":
                    flag = flag.cuda()
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                control.should_training_stop = bool(flag.item())
            return control

    return SharedTimeLimit(max_seconds)


def _training_args(cfg: RecipeConfig, output_dir: Path, model, device: torch.device):
    from lorakit.training.sft import sft_config

    t = cfg.training
    compute = torch_dtype(cfg.quantization.compute_dtype if cfg.quantization else cfg.model.dtype, device)
    return sft_config(
        output_dir, learning_rate=t.learning_rate, batch_size=t.per_device_batch_size, max_steps=t.max_steps,
        warmup_steps=t.warmup_steps, max_grad_norm=t.max_grad_norm, eval_steps=t.eval_every or 1,
        logging_steps=t.logging_every or 1, max_length=cfg.data.max_length, seed=t.seed, dtype=compute,
        device=device, eval_strategy="steps" if t.eval_every else "no",
        save_strategy="steps" if t.save_every else "no", save_steps=t.save_every or 1,
        save_total_limit=cfg.output.save_total_limit, optim=t.optim, lr_scheduler_type=t.lr_scheduler,
        gradient_accumulation_steps=t.gradient_accumulation_steps, weight_decay=t.weight_decay,
        activation_checkpointing=t.gradient_checkpointing, use_cpu=device.type != "cuda")


def _qa_test_rows(n: int) -> list[dict]:
    from lorakit.course.paths import QA_DIR

    with (QA_DIR / "test.jsonl").open() as f:
        return [json.loads(line) for line, _ in zip(f, range(n))]


def _score(cfg: RecipeConfig, model, tokenizer) -> dict:
    """Exact match on the QA test split with a bootstrap interval (QA data only, main process)."""
    from lorakit.evaluate import evaluate_qa
    from lorakit.stats import bootstrap_ci

    if cfg.data.source != "qa" or not cfg.data.test_examples:
        return {}
    if cfg.distributed.strategy == "fsdp":
        return {"exact_match": None, "note": "exact match is not computed on FSDP-sharded weights"}
    scored = evaluate_qa(model, tokenizer, _qa_test_rows(cfg.data.test_examples))
    ci = bootstrap_ci([float(c) for c in scored["correct"]])
    return {"exact_match": scored["exact_match"], "exact_match_ci": [ci.low, ci.high],
            "test_examples": len(scored["correct"])}


def run(cfg: RecipeConfig, resume: bool = False, overwrite: bool = False) -> dict:
    """Train, evaluate and save as ``cfg`` says; returns the metrics (on every process)."""
    from trl import SFTTrainer

    from lorakit.training.qlora import adapter_dtype, restore_adapters_, trainable_snapshot

    state = _state()
    output_dir = cfg.resolve_path(cfg.output.dir)
    checkpoint = last_checkpoint(output_dir) if resume else None
    if not resume and last_checkpoint(output_dir) is not None:
        if not overwrite:
            raise FileExistsError(f"{output_dir} holds checkpoints of an earlier run: pass --resume to continue "
                                  "it, or --overwrite to start again")
        if state.is_main_process:
            shutil.rmtree(output_dir)
    state.wait_for_everyone()
    device = state.device
    model, tokenizer, source = load_model_and_tokenizer(cfg, device)
    data = load_data(cfg, tokenizer.eos_token)
    limit = _time_limit(cfg.training.max_seconds)
    args = _training_args(cfg, output_dir, model, device)
    before = trainable_snapshot(model)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data[cfg.data.train_split],
                         eval_dataset=data[cfg.data.eval_split] if cfg.training.eval_every else None,
                         processing_class=tokenizer, callbacks=[limit])
    if cfg.method == "qlora" and not args.bf16:   # TRL casts a quantized model's adapters to bfloat16;
        # the course's rule (adapter_dtype) keeps them in float32 unless the run computes in bfloat16
        restore_adapters_(model, before, adapter_dtype(torch.float16 if args.fp16 else torch.float32))
    if state.is_main_process and resume:
        print(f"resuming from {checkpoint}" if checkpoint else f"no checkpoint in {output_dir}: starting from step 0")
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    adapter = save_adapter_atomically(trainer, output_dir, state)
    evals = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    metrics = {"method": cfg.method, "model": source, "steps": trainer.state.global_step,
               "processes": state.num_processes, "seconds": round(seconds, 1),
               "global_batch_size": cfg.training.per_device_batch_size * state.num_processes
               * cfg.training.gradient_accumulation_steps,
               "train_loss": result.training_loss, "eval_loss": evals[-1] if evals else None,
               "stopped_by_time_limit": limit.stopped_early, "adapter": str(adapter), "config": to_dict(cfg)}
    if state.is_main_process:
        metrics.update(_score(cfg, trainer.model, tokenizer))
        (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        print(final_line(metrics), flush=True)
    state.wait_for_everyone()
    return metrics


def final_line(m: dict) -> str:
    """One line with the run's metrics, the last thing the command prints."""
    parts = [f"method={m['method']}", f"steps={m['steps']}", f"processes={m['processes']}",
             f"global_batch={m['global_batch_size']}", f"seconds={m['seconds']}",
             f"train_loss={m['train_loss']:.4f}"]
    if m.get("eval_loss") is not None:
        parts.append(f"eval_loss={m['eval_loss']:.4f}")
    if m.get("exact_match") is not None:
        low, high = m["exact_match_ci"]
        parts.append(f"exact_match={m['exact_match']:.3f} [{low:.3f}, {high:.3f}]")
    parts.append(f"adapter={m['adapter']}")
    return "lorakit-train: " + " ".join(parts)
