"""Where S²-Attn training carries over to full attention on the shipped model, and the reach hypothesis.

Notebook 07's sweep (:mod:`lorakit.studies.longlora`) trains LoRA with S²-Attn at 4× the pretraining
length (groups of a quarter, the paper's setting) and finds that, read with full attention, it
retrieves almost no passkey. The notebook proposes a cause, *reach*: during training the question
reads only its group, and information from further back moves about half a group per layer through
the shifted heads, so through 4 layers at ``G = 128`` the question can draw only on the last
``128 + 3 · 64 = 320`` of 512 tokens (:func:`~lorakit.longlora.s2_attention.s2_reach`), and
retrieval beyond that is never trained.

This study varies what sets the reach, all else equal (the sweep's stage 1, LoRA on q, k, v, o,
100 steps, 3 seeds): the group size (:data:`SETTINGS`: ratios 1/8, 1/4, 1/2), the shift (on, off) and
how many of the layers use S²-Attn (all, or all but the first or the last: one full-attention layer
reaches every token). Each trained model is read with full attention on validation passkey examples (where the
setting is chosen), on the sweep's test examples, and with its own pattern on the test examples; the
held-out perplexity is the sweep's. :func:`within_reach` splits each example by whether its key lies
inside the training reach of the question's position.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lorakit.data.longdocs import long_documents, passkey_split
from lorakit.evaluate import document_nll, passkey_accuracy
from lorakit.longlora.attention import disable_s2_attn, enable_s2_attn, group_size_for
from lorakit.longlora.s2_attention import check_layers, s2_reach
from lorakit.studies.longlora import VARIANTS, Data, ExperimentConfig, prepare
from lorakit.training.loop import TrainConfig, finetune
from lorakit.data.longdocs import lm_pair

VALIDATION_SEED = 9_100
"""Seed of the validation passkey examples (the test examples use ``lorakit.studies.longlora.EVAL_SEED``)."""
VALIDATION_DOC_SEED = 9_200
"""Seed of the validation long documents (perplexity for choosing; the test documents use ``HELDOUT_SEED``)."""


@dataclass(frozen=True)
class S2Setting:
    """How S²-Attn is applied in training: group size (as a share of the length), shift, which layers."""

    group_size_ratio: float | None = 0.25   # None: no S²-Attn (LoRA with full attention, the reference)
    shift: bool = True
    layers: tuple[int, ...] | None = None    # layers using S²-Attn; None = all

    def __post_init__(self):
        if self.group_size_ratio is not None and not 0 < self.group_size_ratio <= 1:
            raise ValueError(f"group_size_ratio must be in (0, 1] or None (full attention), got {self.group_size_ratio}")
        if not isinstance(self.shift, bool):
            raise TypeError(f"shift must be a bool, got {self.shift!r}")
        object.__setattr__(self, "layers", check_layers(self.layers))

    @property
    def s2(self) -> bool:
        return self.group_size_ratio is not None

    @property
    def label(self) -> str:
        if not self.s2:
            return "LoRA, full attention"
        where = "" if self.layers is None else f", only layers {','.join(map(str, self.layers))}"
        if not self.shift:     # the S in S2-Attn is the shift: without it, it is the paper's "short attention"
            return f"short attention (no shift), G = N/{1 / self.group_size_ratio:g}{where}"
        return f"S2-Attn, G = N/{1 / self.group_size_ratio:g}, shift{where}"


SETTINGS = {
    "full": S2Setting(None),
    "g1/8": S2Setting(0.125),
    "g1/4": S2Setting(0.25),                          # the paper's setting (the sweep's lora_s2)
    "g1/2": S2Setting(0.5),
    "g1/4_noshift": S2Setting(0.25, shift=False),
    "g1/2_noshift": S2Setting(0.5, shift=False),
    "g1/4_layers012": S2Setting(0.25, layers=(0, 1, 2)),   # the last layer keeps full attention
    "g1/4_layers123": S2Setting(0.25, layers=(1, 2, 3)),   # the first layer keeps full attention
}
"""The settings trained; ``g1/4`` is the paper's (LongLoRA's group of a quarter, shift, every layer)."""
PAPER = "g1/4"
SHIFTED = tuple(n for n, s in SETTINGS.items() if s.s2 and s.shift)
"""The S²-Attn settings proper (with the shift): the candidates for the paper's perplexity claim."""


def reach_first(seq_len: int, setting: S2Setting, n_layers: int, position: int) -> int:
    """The earliest token ``position`` can draw on through ``n_layers`` layers of ``setting``'s training pattern.

    0 with full attention. Example: 512 tokens, groups of 128 with the shift, 4 layers, the last
    position: 192 (it reaches 320 tokens back).
    """
    if not 0 <= position < seq_len:
        raise ValueError(f"position must be in [0, {seq_len}), got {position}")
    if not setting.s2:
        return 0
    reach = s2_reach(seq_len, group_size_for(seq_len, setting.group_size_ratio), n_layers, shift=setting.shift,
                     s2_layers=setting.layers)
    return int(reach[position].nonzero().min())


def question_position(tokenizer, example: dict) -> int:
    """The position whose output predicts the key's first token: the prompt's last token."""
    return len(tokenizer(example["prompt"], add_special_tokens=False)["input_ids"]) - 1


def within_reach(tokenizer, examples, setting: S2Setting, n_layers: int, seq_len: int) -> list[bool]:
    """Per example: does its key start inside the training reach of the question's position?"""
    out = []
    for e in examples:
        first = reach_first(seq_len, setting, n_layers, question_position(tokenizer, e))
        out.append(e["key_position"] >= first)
    return out


def enable(model, setting: S2Setting):
    """Switch ``model`` to ``setting``'s training attention (nothing for the full-attention reference)."""
    if setting.s2:
        enable_s2_attn(model, setting.group_size_ratio, shift=setting.shift, layers=setting.layers)
    return model


def train_setting(base, tokenizer, data: Data, config: ExperimentConfig, setting: S2Setting):
    """Stage 2 as the sweep's ``lora_s2`` (or ``lora_full``), with ``setting``'s attention; full attention after.

    Returns ``(model, TrainResult)``; ``base`` is untouched.
    """
    model = prepare(base, VARIANTS["lora_full"], config)          # interpolation + LoRA on q, k, v, o, seeded
    enable(model, setting)
    run = finetune(model, tokenizer, data.long_train,
                   TrainConfig(lr=config.lora_lr, batch_size=config.long_batch, max_steps=config.long_steps,
                               max_seconds=None, seed=config.seed), to_pair=lm_pair)
    disable_s2_attn(model)
    model.eval()
    return model, run


def validation_examples(tokenizer, config: ExperimentConfig, n: int | None = None) -> list[dict]:
    """Passkey examples at the long length for choosing the setting (fixed seed, not the test examples)."""
    return passkey_split(tokenizer, n or config.n_passkey, config.long_len, seed=VALIDATION_SEED)


def validation_documents(tokenizer, config: ExperimentConfig, n: int | None = None) -> list[str]:
    """Long documents for choosing on perplexity (:data:`VALIDATION_DOC_SEED`, not the test documents)."""
    return long_documents(tokenizer, n or config.n_ppl, config.long_len, seed=VALIDATION_DOC_SEED)


def evaluate_setting(model, tokenizer, data: Data, validation: list[dict] | None, config: ExperimentConfig,
                     setting: S2Setting, ppl: bool = True, val_docs: list[str] | None = None) -> dict:
    """Passkey (validation and test, full attention; test under the training pattern too) and held-out loss.

    Returns per-example lists (``val_correct``, ``test_correct``, ``own_correct``, ``doc_nll``,
    ``val_doc_nll``) and their means, plus ``within_reach`` for the test examples. ``validation=None``
    skips the validation examples, ``ppl=False`` the held-out test documents, ``val_docs=None`` the
    validation documents (their perplexity is ``val_ppl``).
    """
    n_layers = model.config.num_hidden_layers
    record = {}
    with torch.no_grad():
        if validation is not None:
            val = passkey_accuracy(model, tokenizer, validation, batch_size=config.eval_batch)
            record.update(val_correct=[int(c) for c in val["correct"]], val_accuracy=val["accuracy"])
        test = passkey_accuracy(model, tokenizer, data.passkey_eval, batch_size=config.eval_batch)
        record.update({"test_correct": [int(c) for c in test["correct"]], "test_accuracy": test["accuracy"],
                       "test_by_depth": test["by_depth"],
                       "within_reach": [int(w) for w in within_reach(tokenizer, data.passkey_eval, setting, n_layers,
                                                                     config.long_len)]})
        if setting.s2:
            enable(model, setting)
            try:
                own = passkey_accuracy(model, tokenizer, data.passkey_eval, batch_size=config.eval_batch)
            finally:
                disable_s2_attn(model)
            record.update(own_correct=[int(c) for c in own["correct"]], own_accuracy=own["accuracy"])
        if ppl:
            nll, n_tokens = document_nll(model, tokenizer, data.heldout, batch_size=config.ppl_batch,
                                         max_length=config.long_len)
            record["doc_nll"] = (nll / n_tokens).tolist()
            record["ppl"] = float(torch.tensor(record["doc_nll"]).mean().exp())
        if val_docs is not None:
            nll, n_tokens = document_nll(model, tokenizer, val_docs, batch_size=config.ppl_batch,
                                         max_length=config.long_len)
            record["val_doc_nll"] = (nll / n_tokens).tolist()
            record["val_ppl"] = float(torch.tensor(record["val_doc_nll"]).mean().exp())
    return record


def accuracy_by_reach(correct, within) -> dict:
    """``{"within": accuracy on keys inside the reach or None, "beyond": ..., "n_within", "n_beyond"}``."""
    if len(correct) != len(within):
        raise ValueError(f"correct and within must be per example, same length: {len(correct)} vs {len(within)}")
    inside = [c for c, w in zip(correct, within) if w]
    outside = [c for c, w in zip(correct, within) if not w]
    mean = lambda xs: sum(xs) / len(xs) if xs else None
    return {"within": mean(inside), "beyond": mean(outside), "n_within": len(inside), "n_beyond": len(outside)}


def choose_on_validation(records: dict, candidates=None) -> str:
    """The S²-Attn setting with the highest validation passkey accuracy, averaged over seeds.

    ``records``: ``{setting: {seed: record}}`` as the producer writes them. Ties go to the first in
    ``candidates`` (default: the S²-Attn settings of :data:`SETTINGS`, in order). Test scores are not read.
    """
    candidates = [n for n in (candidates or SETTINGS) if n in records and SETTINGS[n].s2]
    if not candidates:
        raise ValueError(f"no S2-Attn setting among the records: {sorted(records)}")
    score = {n: sum(r["val_accuracy"] for r in records[n].values()) / len(records[n]) for n in candidates}
    return max(candidates, key=lambda n: (score[n], -candidates.index(n)))


def choose_on_validation_ppl(records: dict, candidates=SHIFTED) -> str:
    """The setting among ``candidates`` with the lowest validation perplexity (``val_ppl``), averaged over seeds.

    Only settings whose every seed has ``val_ppl`` compete; ties go to the first in ``candidates``.
    Test scores are not read.
    """
    candidates = [n for n in candidates if n in records and records[n]
                  and all("val_ppl" in r for r in records[n].values())]
    if not candidates:
        raise ValueError(f"no setting with a validation perplexity among {sorted(records)}")
    score = {n: sum(r["val_ppl"] for r in records[n].values()) / len(records[n]) for n in candidates}
    return min(candidates, key=lambda n: (score[n], candidates.index(n)))


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def reach_rows(reach_file: dict, reference_runs: list[dict] | None = None) -> dict:
    """Per setting of the producer's file, what the notebook's table shows, read from the file only.

    Args:
        reach_file: ``data/results/07_longlora_reach.json`` as loaded (``runs``, ``test_examples``,
            ``config``, ``n_layers``).
        reference_runs: the sweep's ``lora_full`` records, one per seed (their test keys are in
            ``passkey_correct``), shown as the row ``"full"``; ``None`` leaves it out.

    Returns ``{setting: {"label", "reach_from" (the first token the question can draw on through
    every layer of the training pattern), "window_from" (the first it reads in one S²-Attn step: its
    own group), "val" (None for the reference), "test", "test_seeds" (each seed's accuracy),
    "in_reach", "beyond_reach", "in_window", "beyond_window", "between" (keys inside the reach but
    before the window: reachable only through more than one layer)}}`` for the question of the last test
    example (every test example asks at the same token). Accuracies are read with full attention,
    each example averaged over the seeds; a split with no key is ``None``.
    """
    seq_len = reach_file["config"]["short_len"] * reach_file["config"]["factor"]
    keys, questions = reach_file["test_examples"]["key_position"], reach_file["test_examples"]["question_position"]
    runs = dict(reach_file["runs"])
    if reference_runs is not None:
        runs = {"full": {str(i): {"test_correct": r["passkey_correct"]} for i, r in enumerate(reference_runs)}, **runs}
    rows = {}
    for name in [n for n in SETTINGS if n in runs]:                           # in the order of SETTINGS
        setting, by_seed = SETTINGS[name], runs[name]
        one_step = S2Setting(setting.group_size_ratio, setting.shift)          # the S2 pattern of one layer
        records = [by_seed[s] for s in sorted(by_seed)]
        test = [sum(r["test_correct"][i] for r in records) / len(records) for i in range(len(keys))]
        firsts = {"reach": [reach_first(seq_len, setting, reach_file["n_layers"], q) for q in questions],
                  "window": [reach_first(seq_len, one_step, 1, q) for q in questions]}
        row = {"label": setting.label, "reach_from": firsts["reach"][-1], "window_from": firsts["window"][-1],
               "val": _mean([r["val_accuracy"] for r in records]) if "val_accuracy" in records[0] else None,
               "test": _mean(test), "test_seeds": [_mean(r["test_correct"]) for r in records]}
        for part, first in firsts.items():
            row[f"in_{part}"] = _mean([t for t, k, f in zip(test, keys, first) if k >= f])
            row[f"beyond_{part}"] = _mean([t for t, k, f in zip(test, keys, first) if k < f])
        row["between"] = _mean([t for t, k, r, w in zip(test, keys, firsts["reach"], firsts["window"]) if r <= k < w])
        rows[name] = row
    return rows

__all__ = ["PAPER", "SETTINGS", "SHIFTED", "S2Setting", "VALIDATION_DOC_SEED", "VALIDATION_SEED", "accuracy_by_reach",
           "choose_on_validation", "choose_on_validation_ppl", "enable",
           "evaluate_setting", "question_position", "reach_first", "reach_rows", "train_setting", "validation_documents",
           "validation_examples", "within_reach"]
