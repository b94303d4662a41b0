"""The LongLoRA notebook's experiment, shared by the notebook and ``scripts/producers/longlora_sweep.py``.

The shipped model was pretrained on 128-token sequences. The experiment extends it to 4× that and
compares, at equal steps, ways of fine-tuning for the longer context (:data:`VARIANTS`), every one
evaluated with full attention at the extended length: passkey retrieval by depth and perplexity on
held-out long documents.

Two stages, so that what is measured at the long length is the length and not the task's format:

1. **Format, at the pretraining length** (:func:`teach_format`): the passkey question is new to the
   model (it answers 0% without fine-tuning, ``shared/reference/tiny-model-experiments.md``), so a
   LoRA fine-tune on 128-token passkey documents teaches it, then is merged. Every variant starts
   from this model.
2. **Length** (:func:`train_variant`): position interpolation by 4 and a fine-tune on 512-token
   passkey documents, loss on every token (LongLoRA fine-tunes as a language model), equal steps.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass, field

import torch

from lorakit.data.longdocs import HELDOUT_SEED, lm_pair, long_documents, passkey_split
from lorakit.evaluate import document_nll, passkey_accuracy
from lorakit.training.loop import TrainConfig, TrainResult, finetune
from lorakit.longlora.attention import disable_s2_attn, enable_s2_attn
from lorakit.longlora.position import extend_context
from lorakit.longlora.trainable import count_trainable, longlora_trainable, peft_model


@dataclass(frozen=True)
class LongLoRAVariant:
    """One way to get a model to the extended length."""

    label: str                   # as printed and plotted
    train: str | None = None     # None (no fine-tuning), "lora" or "full"
    s2: bool = False             # train with S²-Attn (evaluation always uses full attention)
    extra: tuple[str, ...] = ()  # parameters trained besides LoRA ("embed", "norm": LongLoRA)
    interpolate: bool = True     # position interpolation by the extension factor


VARIANTS = {
    "no_pi": LongLoRAVariant("no PI, no stage 2", interpolate=False),
    "pi_only": LongLoRAVariant("PI only"),
    "lora_full": LongLoRAVariant("LoRA, full attention", "lora"),
    "lora_s2": LongLoRAVariant("LoRA, S²-Attn", "lora", s2=True),
    "longlora": LongLoRAVariant("LongLoRA: S²-Attn + embed & norm", "lora", s2=True, extra=("embed", "norm")),
    "full_ft": LongLoRAVariant("full fine-tuning", "full"),
    "lora_plus_full": LongLoRAVariant("LoRA + embed & norm, full attention", "lora", extra=("embed", "norm")),
    "lora_full_no_pi": LongLoRAVariant("LoRA, full attention, no PI", "lora", interpolate=False),
}
"""The five variants this experiment compares (``pi_only`` … ``full_ft``, from the course's issue;
LongLoRA's Table 2 compares full fine-tuning, LoRA and LoRA with trainable embeddings and norms), and three that
separate the effects: ``no_pi`` (the model read at 4× its length with plain positions,
extrapolation), ``lora_plus_full`` (trainable embeddings and norms without S²-Attn) and
``lora_full_no_pi`` (fine-tuning without interpolation)."""


@dataclass
class ExperimentConfig:
    short_len: int = 128          # the shipped model's pretraining length (the format is taught here)
    factor: int = 4               # extension: long_len = factor * short_len
    format_steps: int = 60        # stage 1: LoRA steps at short_len
    format_batch: int = 16
    format_lr: float = 2e-3
    format_r: int = 16            # stage 1 LoRA rank (all linear layers, merged afterwards)
    long_steps: int = 100         # stage 2: steps at long_len, the same for every variant
    long_batch: int = 4
    lora_lr: float = 2e-3         # LoRA and LongLoRA (embed and norm share it, as in LongLoRA's script)
    full_lr: float = 1e-3         # full fine-tuning
    r: int = 8                    # LongLoRA: r = 8, alpha = 16 on q, k, v, o
    lora_alpha: float = 16
    group_size_ratio: float = 0.25
    n_format_train: int = 400
    n_long_train: int = 400
    n_passkey: int = 100          # evaluation: passkey examples at long_len (depths cycle)
    n_passkey_short: int = 50     # evaluation of stage 1: passkey examples at short_len
    n_ppl: int = 40               # evaluation: held-out long documents
    eval_batch: int = 25
    ppl_batch: int = 10
    seed: int = 0                 # training data order and initialisation; evaluation sets are fixed

    @property
    def long_len(self) -> int:
        return self.short_len * self.factor


@dataclass
class Data:
    format_train: list = field(default_factory=list)   # passkey examples at short_len
    long_train: list = field(default_factory=list)     # passkey examples at long_len
    passkey_eval: list = field(default_factory=list)   # passkey examples at long_len (fixed seed)
    passkey_short: list = field(default_factory=list)  # passkey examples at short_len (fixed seed)
    heldout: list = field(default_factory=list)        # held-out long documents (fixed seed)


EVAL_SEED = 9_000


def make_data(tokenizer, config: ExperimentConfig) -> Data:
    """The four data sets; training sets follow ``config.seed``, evaluation sets do not (paired comparisons)."""
    return Data(
        format_train=passkey_split(tokenizer, config.n_format_train, config.short_len, seed=100 + config.seed),
        long_train=passkey_split(tokenizer, config.n_long_train, config.long_len, seed=200 + config.seed),
        passkey_eval=passkey_split(tokenizer, config.n_passkey, config.long_len, seed=EVAL_SEED),
        passkey_short=passkey_split(tokenizer, config.n_passkey_short, config.short_len, seed=EVAL_SEED + 1),
        heldout=long_documents(tokenizer, config.n_ppl, config.long_len, seed=HELDOUT_SEED),
    )


def teach_format(model, tokenizer, data: Data, config: ExperimentConfig, save_to=None):
    """Stage 1: LoRA (all linear layers) on passkey documents at the pretraining length, merged.

    With ``save_to`` (a folder), the adapter is also saved there before merging (PEFT's
    ``save_pretrained``); :func:`load_format` rebuilds the same merged model from it.
    Returns ``(merged model, TrainResult)``; ``model`` itself is consumed (its weights change).
    """
    from peft import LoraConfig

    torch.manual_seed(config.seed)
    wrapped = peft_model(model, LoraConfig(r=config.format_r, lora_alpha=2 * config.format_r,
                                           target_modules="all-linear", lora_dropout=0.0, task_type="CAUSAL_LM"))
    run = finetune(wrapped, tokenizer, data.format_train,
                   TrainConfig(lr=config.format_lr, batch_size=config.format_batch, max_steps=config.format_steps,
                               max_seconds=None, seed=config.seed), to_pair=lm_pair)
    if save_to is not None:
        wrapped.save_pretrained(save_to)
    return wrapped.merge_and_unload(), run


def load_format(model, path):
    """Stage 1 without training: the adapter :func:`teach_format` saved to ``path``, loaded and merged.

    Gives the same merged weights as the :func:`teach_format` run that saved it (the adapter is
    stored in float32). ``model`` is consumed. Raises ``FileNotFoundError`` when ``path`` holds no adapter.
    """
    from pathlib import Path

    from peft import PeftModel

    if not (Path(path) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no PEFT adapter in {path} (expected adapter_config.json from teach_format(save_to=...))")
    with warnings.catch_warnings():   # transformers 5 warns when PEFT 0.21 reads is_gradient_checkpointing
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return PeftModel.from_pretrained(model, str(path)).merge_and_unload()


def prepare(base, variant: LongLoRAVariant, config: ExperimentConfig):
    """A copy of ``base`` set up for ``variant``: interpolation, trainable set, S²-Attn. ``base`` is untouched."""
    model = copy.deepcopy(base)
    if variant.interpolate:
        extend_context(model, config.factor)
    if variant.train == "lora":
        torch.manual_seed(config.seed)
        model = longlora_trainable(model, r=config.r, lora_alpha=config.lora_alpha, extra=variant.extra)
    elif variant.train == "full":
        model.requires_grad_(True)
    if variant.s2:
        enable_s2_attn(model, config.group_size_ratio)
    return model


def train_variant(base, tokenizer, name: str, data: Data, config: ExperimentConfig):
    """Stage 2 for variant ``name``: returns ``(model with full attention, TrainResult or None)``."""
    variant = VARIANTS[name]
    model = prepare(base, variant, config)
    run = None
    if variant.train is not None:
        lr = config.full_lr if variant.train == "full" else config.lora_lr
        run = finetune(model, tokenizer, data.long_train,
                       TrainConfig(lr=lr, batch_size=config.long_batch, max_steps=config.long_steps,
                                   max_seconds=None, seed=config.seed), to_pair=lm_pair)
    disable_s2_attn(model)            # evaluation uses full attention, as LongLoRA's does
    model.eval()
    return model, run


def evaluate(model, tokenizer, data: Data, config: ExperimentConfig, s2: bool = False) -> dict:
    """Passkey retrieval and held-out perplexity at the extended length, per example.

    With ``s2=True`` the model is evaluated under S²-Attn (its training pattern) instead of full
    attention, then switched back. Returns ``{"passkey_correct": [0/1 per example], "depths": [...],
    "by_depth": {depth: acc}, "passkey_accuracy", "doc_nll": [mean nats per token of each document], "ppl", "predictions"}``.
    """
    if s2:
        enable_s2_attn(model, config.group_size_ratio)
    try:
        keys = passkey_accuracy(model, tokenizer, data.passkey_eval, batch_size=config.eval_batch)
        nll, n_tokens = document_nll(model, tokenizer, data.heldout, batch_size=config.ppl_batch,
                                     max_length=config.long_len)
        nll = (nll / n_tokens).tolist()                                # mean nats per token, per document
    finally:
        disable_s2_attn(model)
    return {"passkey_correct": [int(c) for c in keys["correct"]], "depths": [e["depth"] for e in data.passkey_eval],
            "by_depth": keys["by_depth"], "passkey_accuracy": keys["accuracy"], "doc_nll": nll,
            "ppl": float(torch.tensor(nll).mean().exp()), "predictions": keys["predictions"][:5]}


def run_longlora_variant(base, tokenizer, name: str, data: Data, config: ExperimentConfig, s2_eval: bool = True) -> dict:
    """Train (if the variant trains) and evaluate with full attention; one JSON-ready record.

    A variant trained with S²-Attn is also evaluated under S²-Attn (``record["s2_eval"]``) unless
    ``s2_eval=False``.
    """
    model, run = train_variant(base, tokenizer, name, data, config)
    record = evaluate(model, tokenizer, data, config)
    if VARIANTS[name].s2 and s2_eval:
        record["s2_eval"] = evaluate(model, tokenizer, data, config, s2=True)
    record["trainable"] = count_trainable(model) if run is not None else {"total": 0}
    if run is not None:
        record.update(steps=run.steps, train_seconds=round(run.seconds, 2), final_loss=run.final_loss,
                      losses=[round(x, 4) for x in run.losses])
    return record


def config_dict(config: ExperimentConfig) -> dict:
    return asdict(config)


__all__ = ["Data", "EVAL_SEED", "ExperimentConfig", "VARIANTS", "LongLoRAVariant", "config_dict", "evaluate", "load_format", "make_data",
           "prepare", "run_longlora_variant", "teach_format", "train_variant", "TrainResult"]
