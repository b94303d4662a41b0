"""The ablations of notebook 06: QA-LoRA against QLoRA-then-requantize over group sizes and bit widths.

``run_sweep`` trains, per seed, one QLoRA adapter (its INT-b deployments only differ after training)
and one QA-LoRA adapter per (bits, group size), and scores every deployable form on the same test
questions. ``scripts/producers/qalora_sweep.py`` runs it and ships the result as JSON in ``data/results/``;
the notebook loads that (:func:`load_sweep`), re-runs one point live, and runs everything live when
``P.live_sweeps`` is set. Per-example scores are kept as strings of 0/1 so intervals can be drawn.

Result layout::

    {"config": {...}, "base": {"ppl": {"float": 3.1, "nf4": ..., "b4_g32": ...}},
     "qlora": {"0": {"trainable_params": ..., "before_merge": "0110...", "after_merge": "...",
                     "requant": {"b4_g32": "...", ...}, "train_seconds": ..., "final_loss": ...}},
     "qalora": {"0": {"b4_g32": {"trainable_params": ..., "before_merge": "...", "after_merge": "...",
                                 "merge_rel_error": ..., "train_seconds": ..., "final_loss": ...}}}}
"""
from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from lorakit.data.qa import format_prompt
from lorakit.evaluate import perplexity
from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.quant import fake_quantize_model_
from lorakit.studies import qalora_compare as compare
from lorakit.qalora.convert import quantize_model_groupwise
from lorakit.qalora.groupwise import check_quant_group_size
from lorakit.studies import tables

SWEEP_FILE = RESULTS_DATA_DIR / "06_qa_lora_sweep.json"
GROUP_SIZES = (32, 64, 128)   # the group-size ablation, at 4 bits
BITS = (4, 3, 2)              # the bit-width ablation, at groups of 32


def key(bits: int, group_size: int) -> str:
    """``"b4_g32"``: the name of one (bits, group size) point."""
    return f"b{bits}_g{group_size}"


def ablation_points(group_sizes: Iterable[int] = GROUP_SIZES, bits: Iterable[int] = BITS,
                    fixed_bits: int = 4, fixed_group: int = 32) -> list[tuple[int, int]]:
    """The (bits, group size) pairs of both ablations, each once.

    Group sizes are swept at ``fixed_bits``, bits at ``fixed_group``: ``[(4, 32), (4, 64), (4, 128), (3, 32), (2, 32)]``.
    """
    points = [(fixed_bits, g) for g in group_sizes] + [(b, fixed_group) for b in bits]
    return list(dict.fromkeys(points))


def dividing(points: Iterable[tuple[int, int]], model: nn.Module) -> tuple[list[tuple[int, int]], list[int]]:
    """Split ``points`` into those whose group size divides every linear layer's in_features, and the skipped sizes."""
    ins = {m.in_features for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.endswith("lm_head")}
    kept, skipped = [], []
    for bits, g in points:
        try:
            for n in ins:
                check_quant_group_size(g, n)
            kept.append((bits, g))
        except ValueError:
            skipped.append(g)
    return kept, sorted(set(skipped))


def _bits_string(correct: Sequence[int]) -> str:
    return "".join(str(int(c)) for c in correct)


def base_perplexities(base: nn.Module, tokenizer, texts: Sequence[str], points: Iterable[tuple[int, int]],
                      batch_size: int = 16, nf4_blocksize: int = 64) -> dict[str, float]:
    """Held-out perplexity of the untrained base: float, NF4, and INT-b round to nearest at each point."""
    ppl = {"float": perplexity(base, tokenizer, texts, batch_size=batch_size)}
    nf4 = copy.deepcopy(base)
    fake_quantize_model_(nf4, "nf4", nf4_blocksize)
    ppl["nf4"] = perplexity(nf4, tokenizer, texts, batch_size=batch_size)
    for bits, g in points:
        quantized = quantize_model_groupwise(copy.deepcopy(base), bits, g)
        ppl[key(bits, g)] = perplexity(quantized, tokenizer, texts, batch_size=batch_size)
    return ppl


def _train_and_score(model, tokenizer, train, test, config: compare.CompareConfig, deploy,
                     eval_batch_size: int) -> tuple[dict, nn.Module, Callable]:
    """Train ``model``, deploy it (``deploy(model)``: its merged form) and score both: the part of a run
    that QLoRA and QA-LoRA share. Returns the record, the deployed model and the scorer."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    run = compare.train(model, tokenizer, train, config)
    merged = deploy(model)
    score = lambda m: _bits_string(compare.exact_match(m, tokenizer, test, eval_batch_size)["correct"])  # noqa: E731
    return ({"trainable_params": trainable, "steps": run.steps, "train_seconds": round(run.seconds, 1),
             "final_loss": round(run.final_loss, 4), "before_merge": score(model), "after_merge": score(merged)},
            merged, score)


def run_qlora(base, tokenizer, train, test, config: compare.CompareConfig, points, eval_batch_size: int = 32) -> dict:
    """One QLoRA run: EM before merge, after the float16 merge, and after re-quantizing to each point."""
    record, merged, score = _train_and_score(compare.qlora_model(base, config), tokenizer, train, test, config,
                                             compare.merged_16bit, eval_batch_size)
    return {**record, "requant": {key(b, g): score(compare.requantized(merged, b, g)) for b, g in points}}


def run_qalora(base, tokenizer, train, test, config: compare.CompareConfig, bits: int, group_size: int,
               probe_ids: torch.Tensor, eval_batch_size: int = 32) -> dict:
    """One QA-LoRA run at (bits, group size): EM before and after its merge, and the merge's logit error."""
    model = compare.qalora_model(base, config, bits, group_size)
    record, merged, _ = _train_and_score(model, tokenizer, train, test, config, compare.qalora_merged,
                                         eval_batch_size)
    return {**record, "merge_rel_error": compare.logits_rel_error(merged, model, probe_ids)}


def run_sweep(base: nn.Module, tokenizer, train: Sequence[dict], test: Sequence[dict], texts: Sequence[str],
              config: compare.CompareConfig, seeds: Sequence[int] = (0,),
              points: Sequence[tuple[int, int]] | None = None, eval_batch_size: int = 32,
              ppl_batch_size: int = 16, log: Callable[[str], None] = print) -> dict:
    """Both ablations for every seed; see the module docstring for the result's layout.

    Args:
        base: the float model (left unchanged); tokenizer: its tokenizer.
        train, test: QA examples; texts: held-out documents for the base model's perplexity.
        config: the shared training settings (its ``seed`` is replaced by each of ``seeds``).
        points: (bits, group size) pairs; default :func:`ablation_points`. Points whose group size
            does not divide the model's layers are skipped (listed in ``config["skipped_group_sizes"]``).
    """
    start = time.perf_counter()
    points, skipped = dividing(points or ablation_points(), base)
    probe = tokenizer([format_prompt(test[0])], return_tensors="pt")["input_ids"].to(next(base.parameters()).device)
    result = {"config": {**dataclasses.asdict(config), "seeds": list(seeds), "points": [list(p) for p in points],
                         "skipped_group_sizes": skipped, "n_test": len(test), "n_texts": len(texts)},
              "base": {"ppl": base_perplexities(base, tokenizer, texts, points, ppl_batch_size, config.nf4_blocksize)},
              "qlora": {}, "qalora": {}}
    log(f"base perplexity: {result['base']['ppl']}")
    for seed in seeds:
        cfg = dataclasses.replace(config, seed=seed)
        result["qlora"][str(seed)] = run_qlora(base, tokenizer, train, test, cfg, points, eval_batch_size)
        log(f"seed {seed} qlora: {_summary(result['qlora'][str(seed)])}")
        result["qalora"][str(seed)] = {}
        for bits, g in points:
            run = run_qalora(base, tokenizer, train, test, cfg, bits, g, probe, eval_batch_size)
            result["qalora"][str(seed)][key(bits, g)] = run
            log(f"seed {seed} qalora {key(bits, g)}: {_summary(run)}")
    result["config"]["seconds"] = round(time.perf_counter() - start, 1)
    return result


def _summary(run: dict) -> str:
    em = lambda s: f"{100 * s.count('1') / len(s):.1f}%"  # noqa: E731
    parts = [f"before {em(run['before_merge'])}", f"after {em(run['after_merge'])}"]
    parts += [f"{k} {em(v)}" for k, v in run.get("requant", {}).items()]
    return ", ".join(parts) + f" ({run['steps']} steps, {run['train_seconds']} s)"


def scores(bits_string: str, n: int | None = None) -> list[int]:
    """The per-example 0/1 scores of a stored string, the first ``n`` of them (all when ``None``)."""
    return [int(c) for c in bits_string[:n]]


def seed_scores(table: dict, method: str, point: str | None = None, stage: str = "after_merge") -> list[list[int]]:
    """Per-question 0/1 exact match at one point, one row per training seed: seeds x questions.

    The 2-D input :func:`lorakit.stats.compare` takes (it averages each question over the seeds, then
    resamples questions, and reports each seed's mean beside the interval).

    Args:
        table: a sweep result (:func:`run_sweep`, :func:`load_sweep`).
        method: ``"qalora"`` (the point's QA-LoRA run), ``"qlora_requant"`` (each seed's QLoRA run
            re-quantized at the point), or ``"qlora"`` (QLoRA itself; no point).
        point: a :func:`key` such as ``"b4_g32"`` (for ``"qalora"`` and ``"qlora_requant"``).
        stage: ``"before_merge"`` or ``"after_merge"`` (for ``"qalora"`` and ``"qlora"``).
    """
    if method not in ("qalora", "qlora_requant", "qlora"):
        raise ValueError(f"method must be 'qalora', 'qlora_requant' or 'qlora', got {method!r}")
    if stage not in ("before_merge", "after_merge"):
        raise ValueError(f"stage must be 'before_merge' or 'after_merge', got {stage!r}")
    runs = []
    for seed, run in table["qalora" if method == "qalora" else "qlora"].items():
        if method == "qlora":
            runs.append(run[stage])
            continue
        at = run if method == "qalora" else run["requant"]
        if point not in at:
            raise ValueError(f"point {point!r} is not in seed {seed}'s {method} runs (points: {sorted(at)})")
        runs.append(at[point][stage] if method == "qalora" else at[point])
    return [scores(r) for r in runs]


def point_scores(table: dict, method: str, point: str | None = None, stage: str = "after_merge") -> list[float]:
    """Per-question exact match at one point, averaged over the table's training seeds (each in [0, 1]).

    The arguments are those of :func:`seed_scores` (one row per seed); this averages its columns.
    Averaging over seeds first, then drawing intervals over questions, gives the interval of the
    seed-averaged score; the spread between seeds is not in it.
    """
    per_seed = seed_scores(table, method, point, stage)
    return [sum(column) / len(column) for column in zip(*per_seed)]


def load_sweep(path: str | Path = SWEEP_FILE) -> dict:
    """The shipped sweep (``data/results/06_qa_lora_sweep.json`` by default)."""
    return tables.load_table(path, "scripts/producers/qalora_sweep.py")


def save_sweep(result: dict, path: str | Path = SWEEP_FILE) -> Path:
    return tables.save_table(result, path)


__all__ = ["BITS", "GROUP_SIZES", "SWEEP_FILE", "ablation_points", "base_perplexities", "dividing", "key",
           "load_sweep", "point_scores", "run_qalora", "run_qlora", "run_sweep", "save_sweep", "scores",
           "seed_scores"]
