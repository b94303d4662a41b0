"""LoRA ablations on the QA task: one short fine-tune per variant, same data, seed and evaluation.

A :class:`Variant` names one change from the course's default LoRA run (r = 16 on every linear
layer, ``lora_alpha = r``, AdamW at the preset's rate, shuffled batches, gradients clipped to 1.0):
another rank, other target modules, another ``lora_alpha`` or rsLoRA, full fine-tuning instead of
LoRA, batches in file order, no clipping, another learning rate. :func:`run_variant` trains it with
:func:`lorakit.training.loop.finetune` from a freshly loaded model and scores exact match on the test
examples, keeping the per-example 0/1 scores so that every number gets a bootstrap interval.
:func:`comparisons` (one seed per run) and :func:`seed_comparisons` (every seed a run was trained
with) compare runs by the course's one rule, :func:`lorakit.stats.compare` (margin 3 points, floor 10%).

``scripts/producers/sweep_lora_ablations.py`` runs :func:`sweep_variants` on the shipped model and writes
``data/results/lora_ablations.json``; notebook 02 reads that table (:func:`load_table`) and re-runs
one variant live to check it. Budgets are either steps (``max_steps``) or wall time
(``max_seconds``, for comparisons "at equal time"); a table built on one machine holds the steps
each time-capped run reached.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lorakit.count import count_parameters
from lorakit.memory.probe import optimizer_state_bytes
from lorakit.evaluate import evaluate_qa
from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.stats import CI, Comparison, bootstrap_ci, compare, format_ci
from lorakit.training.loop import TrainConfig, finetune
from lorakit.studies import tables

TABLE_PATH = RESULTS_DATA_DIR / "lora_ablations.json"
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
QV = ("q_proj", "v_proj")                 # the LoRA paper's choice (§4.2), PEFT's Llama default
CURVE_STEPS = (50, 100, 200)              # the learning curve's shorter runs (group "steps")


@dataclass(frozen=True)
class Variant:
    """One fine-tuning run of an ablation; every field not given is the course's default."""
    name: str
    r: int = 16                                      # LoRA rank; 0 means full fine-tuning (no LoRA)
    lora_alpha: float | None = None                  # None: r, so alpha / r = 1 for every r
    use_rslora: bool = False                         # scale by alpha / sqrt(r) instead of alpha / r
    target_modules: str | tuple[str, ...] = "all-linear"
    lr: float | None = None                          # None: the preset's lora_lr (full_lr if r == 0)
    max_steps: int | None = 300                      # a step budget ...
    max_seconds: float | None = None                 # ... or a wall-clock budget ("equal time")
    shuffle: bool = True                             # False: batches in file order
    max_grad_norm: float | None = 1.0                # None: no gradient clipping

    def __post_init__(self):
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 0:
            raise ValueError(f"{self.name}: r must be an int >= 0 (0 = full fine-tuning), got {self.r!r}")
        if self.max_steps is None and self.max_seconds is None:
            raise ValueError(f"{self.name}: give max_steps or max_seconds (or both)")
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @property
    def full(self) -> bool:
        """True for full fine-tuning (every weight trains, no adapter)."""
        return self.r == 0

    def lora_config(self):
        """The PEFT ``LoraConfig`` of this variant (``ValueError`` for full fine-tuning)."""
        from peft import LoraConfig

        if self.full:
            raise ValueError(f"{self.name} is full fine-tuning: it has no LoraConfig")
        targets = self.target_modules if isinstance(self.target_modules, str) else list(self.target_modules)
        alpha = self.r if self.lora_alpha is None else self.lora_alpha
        return LoraConfig(r=self.r, lora_alpha=alpha, use_rslora=self.use_rslora, target_modules=targets,
                          lora_dropout=0.0, task_type="CAUSAL_LM")

    def train_config(self, preset=None, batch_size: int | None = None, seed: int = 0) -> TrainConfig:
        """The :class:`TrainConfig` of this variant; ``preset`` scales budgets and supplies rates."""
        lr = self.lr
        if lr is None:
            lr = (preset.full_lr if self.full else preset.lora_lr) if preset else (1e-3 if self.full else 2e-3)
        steps = self.max_steps if preset is None or self.max_steps is None else preset.steps(self.max_steps)
        seconds = self.max_seconds if preset is None else preset.seconds(self.max_seconds)
        return TrainConfig(lr=lr, batch_size=batch_size or (preset.batch_size if preset else 16),
                           max_steps=steps, max_seconds=seconds, max_grad_norm=self.max_grad_norm or 0.0,
                           shuffle=self.shuffle, seed=seed)

    def to_dict(self) -> dict:
        """The fields as JSON types (target modules as a list); :meth:`from_dict` inverts it."""
        fields = dataclasses.asdict(self)
        if not isinstance(self.target_modules, str):
            fields["target_modules"] = list(self.target_modules)
        return fields

    @classmethod
    def from_dict(cls, fields: dict) -> Variant:
        return cls(**fields)


def variant_model(variant: Variant, model_id=None, seed: int = 0):
    """A fresh copy of the model, with LoRA per ``variant`` (or all weights trainable for full FT).

    The LoRA weights are drawn after ``torch.manual_seed(seed)``, so a variant is reproducible.
    """
    from peft import get_peft_model

    from lorakit.models.loading import load_model

    model = load_model(model_id)
    torch.manual_seed(seed)
    if variant.full:
        return model.requires_grad_(True)
    return get_peft_model(model, variant.lora_config())


def encode_correct(correct: Sequence[bool]) -> str:
    """Per-example exact match as a compact string: ``[True, False, True]`` -> ``"101"``."""
    return "".join("1" if c else "0" for c in correct)


def decode_correct(text: str) -> list[int]:
    """The inverse of :func:`encode_correct`: ``"101"`` -> ``[1, 0, 1]``."""
    if set(text) - {"0", "1"}:
        raise ValueError("a per-example score string holds only '0' and '1'")
    return [int(c) for c in text]


def run_variant(variant: Variant, tokenizer, train: Sequence[dict], test: Sequence[dict], model_id=None,
                preset=None, seed: int = 0, eval_batch_size: int | None = None) -> dict:
    """Train ``variant`` from a fresh model and score it on ``test``.

    Returns a JSON-ready dict: ``em`` (exact match), ``correct`` (per-example, as
    :func:`encode_correct`), ``trainable`` and ``total`` parameters, ``optimizer_state_bytes``,
    ``seconds`` and ``steps`` of training, ``final_loss``, and the ``variant``'s fields.
    """
    model = variant_model(variant, model_id, seed)
    trainable, total = count_parameters(model)
    config = variant.train_config(preset, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    run = finetune(model, tokenizer, train, config, optimizer=optimizer)
    eval_batch_size = eval_batch_size or (preset.eval_batch_size if preset else 32)
    scores = evaluate_qa(model, tokenizer, test, batch_size=eval_batch_size)
    return {"variant": variant.to_dict(), "em": scores["exact_match"], "correct": encode_correct(scores["correct"]),
            "trainable": trainable, "total": total, "optimizer_state_bytes": optimizer_state_bytes(optimizer),
            "seconds": round(run.seconds, 2), "steps": run.steps, "final_loss": round(run.final_loss, 4)}


def sweep_variants(steps: int = 300, seconds: float = 55.0) -> dict[str, list[Variant]]:
    """The notebook's ablations: ``{group: [Variant, ...]}``, at ``steps`` or at ``seconds`` each.

    ``rank``: r in {1, 2, 4, 8, 16, 64}, all linear layers, alpha = r. ``targets`` (equal time):
    q,v / attention / all linear at r = 16. ``full``: full fine-tuning at equal steps and at equal
    time. ``alpha``: r = 64 with alpha = 16, with and without rsLoRA. ``optimizer``: batches in file
    order or shuffled, with and without clipping. ``lr``: smaller learning rates. ``steps``: the
    default run stopped after 50, 100 and 200 steps (a learning curve). The default run
    (``"r=16"``: r = 16, all linear layers, ``steps`` steps) is shared by several groups.
    """
    base = Variant("r=16", max_steps=steps)
    at_time = dict(max_steps=None, max_seconds=seconds)
    return {
        "rank": [Variant(f"r={r}", r=r, max_steps=steps) if r != 16 else base for r in (1, 2, 4, 8, 16, 64)],
        "targets": [Variant("q,v (time)", target_modules=QV, **at_time),
                    Variant("attention (time)", target_modules=ATTENTION, **at_time),
                    Variant("all-linear (time)", **at_time)],
        "full": [base, Variant("full FT", r=0, max_steps=steps),
                 Variant("all-linear (time)", **at_time), Variant("full FT (time)", r=0, **at_time)],
        "alpha": [Variant("r=64, alpha=16", r=64, lora_alpha=16, max_steps=steps),
                  Variant("r=64, alpha=16, rsLoRA", r=64, lora_alpha=16, use_rslora=True, max_steps=steps),
                  Variant("r=64", r=64, max_steps=steps)],
        "optimizer": [Variant("file order, no clipping", shuffle=False, max_grad_norm=None, max_steps=steps),
                      Variant("file order, clipped", shuffle=False, max_steps=steps),
                      Variant("shuffled, no clipping", max_grad_norm=None, max_steps=steps),
                      base],
        "lr": [Variant("lr 1e-5", lr=1e-5, max_steps=steps), Variant("lr 2e-4", lr=2e-4, max_steps=steps), base],
        "steps": [Variant(f"{n} steps", max_steps=n) for n in CURVE_STEPS if n < steps] + [base],
    }


def unique_variants(groups: dict[str, list[Variant]]) -> list[Variant]:
    """Each variant once, in first-seen order (a name must always mean the same settings)."""
    seen: dict[str, Variant] = {}
    for variants in groups.values():
        for v in variants:
            if v.name in seen and seen[v.name] != v:
                raise ValueError(f"two different variants are both called {v.name!r}")
            seen.setdefault(v.name, v)
    return list(seen.values())


def run_ablations(model_id, tokenizer, train: Sequence[dict], test: Sequence[dict], preset=None, seed: int = 0,
              steps: int = 300, seconds: float = 55.0, only: Sequence[str] | None = None, previous: dict | None = None,
              on_row: Callable[[str, dict], None] | None = None) -> dict:
    """Run the variants of :func:`sweep_variants` and return the table :func:`load_table` reads.

    Args:
        model_id, tokenizer, train, test: the model to fine-tune (a fresh copy per variant), its
            tokenizer, the training examples and the scored test examples.
        preset: scales ``steps``/``seconds`` and gives the learning rates (None: the CPU numbers).
        steps, seconds: the step and wall-clock budgets of :func:`sweep_variants`.
        only, previous: run only the named variants and keep the other rows of ``previous``.
        on_row: called as ``on_row(name, table)`` after each run (to save or print progress).
    """
    import platform
    import time

    from lorakit.course.env import versions

    groups = sweep_variants(steps, seconds)
    variants = unique_variants(groups)
    unknown = set(only or []) - {v.name for v in variants}
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; known: {[v.name for v in variants]}")
    meta = {"model": str(model_id or "data/tiny-lm"), "steps": steps, "seconds": seconds, "n_test": len(test),
            "seed": seed, "preset": getattr(preset, "name", None), "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {'GPU' if torch.cuda.is_available() else 'CPU'}, "
                       f"{torch.get_num_threads()} torch threads", "versions": versions()}
    table = {"meta": meta, "groups": {g: [v.name for v in vs] for g, vs in groups.items()},
             "runs": dict(previous["runs"]) if previous else {}}
    if previous and "seeds" in previous:
        table["seeds"] = previous["seeds"]
    start = time.perf_counter()
    for variant in variants:
        if only and variant.name not in only:
            continue
        table["runs"][variant.name] = run_variant(variant, tokenizer, train, test, model_id=model_id,
                                                  preset=preset, seed=seed)
        if on_row:
            on_row(variant.name, table)
    meta["sweep_seconds"] = round(time.perf_counter() - start, 1)
    table["runs"] = {v.name: table["runs"][v.name] for v in variants if v.name in table["runs"]}
    return table


def run_seeds(table: dict, names: Sequence[str], seeds: Sequence[int], tokenizer, train: Sequence[dict],
              test: Sequence[dict], model_id=None, preset=None,
              on_row: Callable[[str, int, dict], None] | None = None) -> dict:
    """Re-run rows of ``table`` with other seeds, to measure how much a fine-tune varies run to run.

    The bootstrap interval of a row covers only the choice of test questions; a fine-tune with
    another seed (another draw of ``lora_A``, another batch order) lands elsewhere too. Each named
    run is trained again, unchanged but for the seed, and stored as
    ``table["seeds"][name][str(seed)]`` (same fields as a row; ``table["runs"][name]`` stays the
    table's own seed). Returns ``table``, updated in place.
    """
    unknown = [name for name in names if name not in table["runs"]]
    if unknown:
        raise ValueError(f"unknown run(s) {unknown}; the table has {list(table['runs'])}")
    if table["meta"]["seed"] in seeds:
        raise ValueError(f"seed {table['meta']['seed']} is the table's own seed; give other seeds")
    extra = table.setdefault("seeds", {})
    for name in names:
        variant = Variant.from_dict(table["runs"][name]["variant"])
        for seed in seeds:
            row = run_variant(variant, tokenizer, train, test, model_id=model_id, preset=preset, seed=seed)
            extra.setdefault(name, {})[str(seed)] = row
            if on_row:
                on_row(name, seed, table)
    return table


def seed_scores(table: dict, name: str) -> dict[int, list[int]]:
    """``{seed: per-example 0/1}`` of run ``name``: the table's seed first, then any re-runs."""
    if name not in table["runs"]:
        raise ValueError(f"unknown run {name!r}; the table has {list(table['runs'])}")
    scores = {table["meta"]["seed"]: decode_correct(table["runs"][name]["correct"])}
    for seed, row in table.get("seeds", {}).get(name, {}).items():
        scores[int(seed)] = decode_correct(row["correct"])
    return scores


def _check_names(names) -> None:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"names is a list of run names, e.g. ['r=64', 'r=16'], got {names!r}")


def seed_summary(table: dict, names: Sequence[str]) -> list[dict]:
    """Display rows for runs trained with several seeds: exact match per seed and its spread (the
    largest minus the smallest, in points). Compare them with :func:`seed_comparisons`."""
    _check_names(names)
    out = []
    for name in names:
        ems = [sum(c) / len(c) for c in seed_scores(table, name).values()]
        out.append({"run": name, "exact match per seed": "  ".join(f"{100 * em:.1f}" for em in ems),
                    "seeds": len(ems), "spread (points)": f"{100 * (max(ems) - min(ems)):.1f}"})
    return out


def seed_comparisons(table: dict, names: Sequence[str], baseline: str, *, margin: float = 0.03,
                     floor: float | None = 0.10) -> list[Comparison]:
    """Each run of ``names`` (but ``baseline``) against ``baseline`` by :func:`lorakit.stats.compare`,
    on every seed each was trained with (2-D seeds x questions: each question's score is averaged over
    the seeds, then the questions are resampled; the per-seed means come back in ``seed_means``).

    ``margin`` and ``floor`` as in :func:`comparisons`.
    """
    _check_names(names)
    base = list(seed_scores(table, baseline).values())
    return [compare(list(seed_scores(table, name).values()), base, margin=margin, floor=floor, names=(name, baseline))
            for name in names if name != baseline]


def save_table(table: dict, path: str | Path = TABLE_PATH) -> Path:
    """Write a sweep table as indented JSON (see ``scripts/producers/sweep_lora_ablations.py``)."""
    return tables.save_table(table, path)


def load_table(path: str | Path = TABLE_PATH) -> dict:
    """The shipped sweep table: ``{"meta": {...}, "groups": {group: [names]}, "runs": {name: result}}``."""
    return tables.load_table(path, "scripts/producers/sweep_lora_ablations.py")


def group_rows(table: dict, group: str) -> list[dict]:
    """The runs of ``group`` in the table's order, each with its ``name``."""
    if group not in table["groups"]:
        raise ValueError(f"unknown group {group!r}; the table has {sorted(table['groups'])}")
    return [{"name": name, **table["runs"][name]} for name in table["groups"][group]]


def default_settings(table: dict, name: str = "r=16") -> dict:
    """What the table's default run used: ``r``, ``lora_alpha``, ``target_modules``, ``lr``, ``steps``,
    ``n_test``, ``seed`` (a notebook compares its own settings with these before reusing a row)."""
    v = Variant.from_dict(table["runs"][name]["variant"])
    config = v.train_config()
    targets = v.target_modules if isinstance(v.target_modules, str) else list(v.target_modules)
    return {"r": v.r, "lora_alpha": v.r if v.lora_alpha is None else v.lora_alpha, "target_modules": targets,
            "lr": config.lr, "steps": config.max_steps, "n_test": table["meta"]["n_test"], "seed": table["meta"]["seed"]}


def interval(row: dict) -> CI:
    """The bootstrap 95% interval of a run's exact match (from its per-example scores)."""
    return bootstrap_ci(decode_correct(row["correct"]))


def summary(table: dict, group: str, extra: Sequence[str] = ()) -> list[dict]:
    """Display rows of ``group``: run, exact match with its 95% interval, trainable parameters, steps,
    training seconds and any ``extra`` fields of the rows. Compare the rows with :func:`comparisons`."""
    if isinstance(extra, str):
        raise TypeError(f"extra is a list of field names, e.g. ['final_loss'], got the string {extra!r}")
    out = []
    for row in group_rows(table, group):
        line = {"run": row["name"], "exact match [95% CI]": format_ci(interval(row), percent=True),
                "trainable": row["trainable"], "steps": row["steps"], "train s": f"{row['seconds']:.1f}"}
        line.update({key: row[key] for key in extra})
        out.append(line)
    return out


def compare_runs(table: dict, a: str, b: str, *, margin: float = 0.03, floor: float | None = 0.10) -> Comparison:
    """Runs ``a`` and ``b`` of ``table`` (their seed-0 rows), compared on the same test questions by
    :func:`lorakit.stats.compare` (``margin`` and ``floor`` as in :func:`comparisons`)."""
    missing = [name for name in (a, b) if name not in table["runs"]]
    if missing:
        raise ValueError(f"unknown run(s) {missing}; the table has {list(table['runs'])}")
    return compare(decode_correct(table["runs"][a]["correct"]), decode_correct(table["runs"][b]["correct"]),
                   margin=margin, floor=floor, names=(a, b))


def comparisons(table: dict, group: str, baseline: str, *, margin: float = 0.03,
                floor: float | None = 0.10) -> list[Comparison]:
    """Each run of ``group`` (but ``baseline``) against ``baseline`` by the course's one rule
    (:func:`lorakit.stats.compare`), in the group's order; print them with
    :func:`lorakit.stats.comparison_table`.

    Args:
        margin: the equivalence margin in exact match (0.03 = 3 points, the course's), stated up front.
        floor: both runs below it (0.10: the model does not know the template) -> "both fail";
            None for no floor.
    """
    if baseline not in table["runs"]:
        raise ValueError(f"unknown baseline {baseline!r}; the table has {list(table['runs'])}")
    return [compare_runs(table, row["name"], baseline, margin=margin, floor=floor)
            for row in group_rows(table, group) if row["name"] != baseline]


def steps_row(table: dict, steps: int, group: str = "steps") -> str | None:
    """The name of the default-recipe run of ``group`` that trained exactly ``steps`` steps, or None."""
    for row in group_rows(table, group):
        if row["steps"] == steps and row["variant"]["max_seconds"] is None:
            return row["name"]
    return None


__all__ = ["ATTENTION", "CURVE_STEPS", "QV", "TABLE_PATH", "Variant", "variant_model", "compare_runs", "comparisons",
           "decode_correct", "default_settings", "encode_correct", "group_rows", "interval", "load_table",
           "run_seeds", "run_ablations", "run_variant", "save_table", "seed_comparisons", "seed_scores",
           "seed_summary", "steps_row", "summary", "sweep_variants", "unique_variants"]
