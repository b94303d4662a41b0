"""Two-task merges: what keeps both tasks, and the measured reason the plain sum does not.

Notebook 05's three adapters fail every ``add_weighted_adapter`` merge, although their task vectors
are nearly orthogonal (cosine 0.009 to 0.041). Orthogonal *weights* are not orthogonal *effects*: a
layer's update acts on whatever input reaches it, and on this 128-wide model every task's inputs
share most directions. So this module measures interference where it acts, on a layer's inputs.

For one layer, let X_t hold the inputs (one row per token) that reach it on task t's text, with t's
own adapter active, and G_t = X_tᵀX_t their Gram matrix. A merged update ΔW_m serves task t as far as
X_t·ΔW_mᵀ stays close to X_t·ΔW_tᵀ, t's own update on t's inputs. :func:`interference` measures the
miss over every layer::

    interference_t(ΔW_m) = sqrt(Σ_layers ‖X_t (ΔW_m − ΔW_t)ᵀ‖²) / sqrt(Σ_layers ‖X_t ΔW_tᵀ‖²)

0 means task t sees exactly its own update; 1 means a miss as large as the update itself. For the
plain sum ΔW_a + ΔW_b, task a's miss is X_a·ΔW_bᵀ: the *other* adapter's update on a's inputs, which
the weight cosine does not see.

Two merges of the same adapters, scored the same way (the merged ΔW added into a copy of the base):

- :func:`task_arithmetic`: Σ w_i·ΔW_i (what PEFT's ``cat`` gives exactly), weights from a grid;
- :func:`regmean`: RegMean (Jin et al. 2023, "Dataless knowledge fusion by merging weights of
  language models", arXiv 2212.09849): per layer, the ΔW_m that minimises Σ_i ‖X_i (ΔW_m − ΔW_i)ᵀ‖²,
  ΔW_m = (Σ_i ΔW_i·G_i)(Σ_i G_i)⁻¹, with the off-diagonal of each G_i scaled by ``alpha`` (the
  paper's regulariser: ``alpha`` 0 gives back a weighted mean per input feature). As run here each
  G_i is a per-token mean, XᵀX / tokens, as in MergeLM's ``regmean_merging`` (github.com/yule-BUAA/MergeLM;
  the paper's formula writes sums), and may be multiplied by
  a per-task input weight λ_i (``weights``), which is this course's addition, not the paper's. It
  needs data and compute that task arithmetic does not: here the prompt *and answer* of 128 train
  examples per task (so the answers are seen, though no loss is computed on them), a forward pass
  per example with each adapter, and one solve per layer. At α = 1 and λ = 1 it minimises exactly
  the numerator of :func:`interference` summed over tasks, so its own interference is low by
  construction.

``scripts/producers/two_task_merge.py`` writes ``data/results/05_two_task_merge.json``; notebook 05
reads it (:func:`load_table`) and re-runs one point live.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from lorakit.course.paths import RESULTS_DATA_DIR
from lorakit.data.tasks import get_task

TABLE_PATH = RESULTS_DATA_DIR / "05_two_task_merge.json"
PREFIX = "base_model.model."


def _plain(name: str) -> str:
    """A PEFT module name without PEFT's ``base_model.model.`` prefix: the base model's own name."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _check_deltas(deltas, what="deltas") -> None:
    if not isinstance(deltas, Mapping) or not deltas:
        raise TypeError(f"{what} must be a non-empty {{layer: ΔW tensor}} mapping")
    for k, v in deltas.items():
        if not isinstance(v, torch.Tensor) or v.dim() != 2:
            raise TypeError(f"{what}[{k!r}] must be a 2-D tensor (out, in)")


def plain_deltas(peft_model, adapter: str) -> dict[str, torch.Tensor]:
    """``{base module name: ΔW}`` of ``adapter`` (PEFT's ``get_delta_weight``), names without PEFT's prefix."""
    from lorakit.lora.peft import lora_delta_weights

    out = {_plain(k): v.detach() for k, v in lora_delta_weights(peft_model, adapter).items()}
    if not out:
        raise ValueError(f"adapter {adapter!r} has no LoRA layer in this model")
    return out


def relative_size(deltas: Mapping[str, torch.Tensor], model) -> float:
    """‖ΔW‖ / ‖W‖ over the layers ``deltas`` covers (Frobenius, all layers together) in ``model``."""
    _check_deltas(deltas)
    modules = dict(model.named_modules())
    num = den = 0.0
    for name, d in deltas.items():
        target = modules.get(name) or modules.get(PREFIX + name)
        if target is None:
            raise ValueError(f"no module {name!r} in the model")
        w = getattr(target, "base_layer", target).weight
        if w.shape != d.shape:
            raise ValueError(f"{name}: ΔW is {tuple(d.shape)}, the weight {tuple(w.shape)}")
        num += float(d.detach().double().norm() ** 2)
        den += float(w.detach().double().norm() ** 2)
    return (num / den) ** 0.5


def input_grams(peft_model, tokenizer, task: str, examples: Sequence[dict], adapter: str | None,
                batch_size: int = 32) -> dict[str, torch.Tensor]:
    """``{base module name: XᵀX / tokens}`` (float64) of the inputs reaching every LoRA layer on ``task``'s text.

    The text is each example's prompt followed by its answer (what the adapter was trained on), padding
    left out. Divided by the number of tokens (a per-token mean, as MergeLM's ``regmean_merging`` does; the
    paper's formula writes sums), so that a task with longer texts does not outweigh another in
    :func:`regmean`. ``adapter`` is made active for the pass (``None``: adapters disabled, the base model); the
    model's active adapter is restored afterwards.
    """
    from contextlib import nullcontext

    from peft.tuners.lora import LoraLayer

    if not examples:
        raise ValueError("input_grams needs at least one example")
    spec = get_task(task)
    layers = {n: m for n, m in peft_model.named_modules() if isinstance(m, LoraLayer)}
    if not layers:
        raise ValueError("the model has no LoRA layer")
    grams = {_plain(n): torch.zeros(m.in_features, m.in_features, dtype=torch.float64) for n, m in layers.items()}
    current: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=_plain(n): current.__setitem__(n, inp[0].detach()))
             for n, m in layers.items()]
    active, tokens = peft_model.active_adapter, 0
    try:
        if adapter is not None:
            peft_model.set_adapter(adapter)
        texts = ["".join(spec.format_example(e)) for e in examples]
        with torch.no_grad(), (peft_model.disable_adapter() if adapter is None else nullcontext()):
            for i in range(0, len(texts), batch_size):
                enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True)
                peft_model(**enc)
                mask = enc["attention_mask"].bool()
                tokens += int(mask.sum())
                for n, x in current.items():
                    rows = x[mask].double()
                    grams[n] += rows.T @ rows
    finally:
        for h in hooks:
            h.remove()
        peft_model.set_adapter(active)
    return {n: g / tokens for n, g in grams.items()}


def interference(merged: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor],
                 grams: Mapping[str, torch.Tensor]) -> float:
    """sqrt(Σ ‖X(ΔW_m − ΔW_own)ᵀ‖²) / sqrt(Σ ‖X ΔW_ownᵀ‖²) over every layer either covers, from G = XᵀX.

    A layer that one of them lacks counts as ΔW = 0 there: an update on a layer the own adapter never
    touched is a miss like any other.
    """
    _check_deltas(own, "own")
    if not isinstance(merged, Mapping):
        raise TypeError("merged must be a {layer: ΔW tensor} mapping")
    num = den = 0.0
    for name in sorted(set(own) | set(merged)):
        if name not in grams:
            raise ValueError(f"no Gram matrix for layer {name!r}")
        g = grams[name]
        ref = merged[name] if name in merged else own[name]
        d = own[name].double() if name in own else torch.zeros_like(ref, dtype=torch.float64)
        m = merged[name].double() if name in merged else torch.zeros_like(d)
        e = m - d
        num += float(torch.einsum("oi,ij,oj->", e, g, e))
        den += float(torch.einsum("oi,ij,oj->", d, g, d))
    if den <= 0:
        raise ValueError("the own update is zero on these inputs")
    return max(num, 0.0) ** 0.5 / den ** 0.5


def task_arithmetic(deltas: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Σ w_i·ΔW_i per layer (a layer missing from an adapter counts as 0 there)."""
    if len(deltas) != len(weights) or not deltas:
        raise ValueError(f"one weight per adapter: {len(deltas)} adapters, {len(weights)} weights")
    for d in deltas:
        _check_deltas(d)
    out: dict[str, torch.Tensor] = {}
    for d, w in zip(deltas, weights):
        for name, x in d.items():
            out[name] = out[name] + float(w) * x if name in out else float(w) * x
    return out


def regmean(deltas: Sequence[Mapping[str, torch.Tensor]], grams: Sequence[Mapping[str, torch.Tensor]],
            alpha: float = 1.0, weights: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """RegMean per layer: ΔW_m = (Σ ΔW_i·G̃_i)(Σ G̃_i)⁻¹, G̃_i = λ_i·(alpha·G_i + (1 − alpha)·diag(G_i)).

    ``weights`` (λ_i, default all 1) say how much each task's inputs count in the fit: a larger λ_i
    pulls the merge toward adapter i's outputs on task i's inputs.
    A layer that an adapter lacks counts as ΔW_i = 0 there (its inputs still weigh in); every layer
    needs a Gram matrix from every adapter's task.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if len(deltas) != len(grams) or len(deltas) < 2:
        raise ValueError("regmean needs two or more adapters, one Gram dict each")
    weights = [1.0] * len(deltas) if weights is None else [float(w) for w in weights]
    if len(weights) != len(deltas) or any(w <= 0 for w in weights):
        raise ValueError(f"one positive weight per adapter: {len(deltas)} adapters, weights {weights}")
    for d in deltas:
        _check_deltas(d)
    layers = sorted(set().union(*deltas))
    out = {}
    for name in layers:
        gs = []
        for g, lam in zip(grams, weights):
            if name not in g:
                raise ValueError(f"no Gram matrix for layer {name!r}")
            gs.append(lam * (alpha * g[name] + (1 - alpha) * torch.diag(torch.diag(g[name]))))
        num = sum(d[name].double() @ g for d, g in zip(deltas, gs) if name in d)
        total = sum(gs)
        dtype = next(d[name].dtype for d in deltas if name in d)
        out[name] = torch.linalg.solve(total.T, num.T).T.to(dtype)   # num · total⁻¹
    return out


def merged_model(base_model, deltas: Mapping[str, torch.Tensor]):
    """A copy of ``base_model`` (no adapters) with ΔW added to each named layer's weight."""
    _check_deltas(deltas)
    model = copy.deepcopy(base_model)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, d in deltas.items():
            if name not in modules:
                raise ValueError(f"no module {name!r} in the base model")
            modules[name].weight += d.to(modules[name].weight.dtype)
    return model


def ratios(em: Mapping[str, float], own: Mapping[str, float]) -> dict[str, float]:
    """``{task: merged EM ÷ own adapter's EM}`` (``ValueError`` where an own EM is 0)."""
    if set(em) - set(own):
        raise ValueError(f"no own-adapter score for {sorted(set(em) - set(own))}")
    if any(own[t] <= 0 for t in em):
        raise ValueError("an own adapter scores 0: the ratio is undefined")
    return {t: em[t] / own[t] for t in em}


def choose(rows: Sequence[Mapping], own: Mapping[str, float]) -> int:
    """Index of the row (``{"validation": {task: EM}}``) whose weaker task keeps most of its own EM.

    Ties: the higher mean ratio, then the first row.
    """
    if not rows:
        raise ValueError("choose needs at least one scored setting")
    keys = []
    for row in rows:
        r = ratios(row["validation"], own)
        keys.append((round(min(r.values()), 9), round(sum(r.values()) / len(r), 9)))
    return keys.index(max(keys))


def save_table(table: dict, path: str | Path = TABLE_PATH) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1) + "\n")
    return path


def load_table(path: str | Path = TABLE_PATH) -> dict:
    """The shipped two-task table (``data/results/05_two_task_merge.json``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run python scripts/producers/two_task_merge.py")
    return json.loads(path.read_text())
