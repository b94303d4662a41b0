"""lorakit.studies.qlora_gap: per-example answer loss, the bases, the learning-rate choice, the snapshot round trip."""
import warnings

import pytest
import torch

from lorakit.course.paths import TINY_LM_DIR
from lorakit.data.qa import make_split
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.studies import qlora_gap, qlora_vs_lora

SHIPPED = str(TINY_LM_DIR)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(SHIPPED)


def test_completion_losses_is_the_answer_tokens_mean_cross_entropy(tokenizer):
    # the per-example value equals the model's own loss (labels -100 on the prompt) on that example alone
    from lorakit.data.qa import format_example
    from lorakit.training.loop import collate, encode_pairs

    model = load_model(SHIPPED, dtype=torch.float32)
    examples = make_split("validation", 5)
    losses = qlora_gap.completion_losses(model, tokenizer, examples, batch_size=2)   # batches of mixed lengths
    assert losses.shape == (5,) and losses.dtype == torch.float32
    for i in (0, 4):
        batch = collate(encode_pairs(tokenizer, [format_example(examples[i])]), tokenizer.pad_token_id)
        with torch.no_grad():
            own = model(**batch).loss.item()
        assert losses[i].item() == pytest.approx(own, rel=1e-4)
    with pytest.raises(ValueError, match="at least one example"):
        qlora_gap.completion_losses(model, tokenizer, [])
    with pytest.raises(ValueError, match="batch_size"):
        qlora_gap.completion_losses(model, tokenizer, examples, batch_size=0)


def test_base_losses_differ_by_base_and_refuse_unknown_ones(tokenizer):
    from lorakit.data.corpus import heldout_texts

    out = qlora_gap.base_losses(SHIPPED, tokenizer, make_split("validation", 4), texts=heldout_texts(3))
    assert set(out) == {"task", "heldout"} and set(out["task"]) == set(qlora_gap.BASES)
    assert out["heldout"]["fp32"].shape == (3,) and out["task"]["nf4"].shape == (4,)
    # 4-bit rounding changes the model: its losses are not the unquantized ones
    assert not torch.allclose(out["task"]["nf4"], out["task"]["fp32"])
    assert not torch.allclose(out["heldout"]["fp4"], out["heldout"]["nf4"])
    with pytest.raises(ValueError, match="base must be one of"):
        qlora_gap.load_base(SHIPPED, "int8")


def test_choose_lr_takes_the_best_mean_and_the_smaller_rate_on_a_tie():
    assert qlora_gap.choose_lr({2e-3: [[1, 0], [0, 0]], 4e-3: [[1, 1], [0, 1]]}) == 4e-3
    assert qlora_gap.choose_lr({8e-3: [[1, 0]], 2e-3: [[0, 1]]}) == 2e-3     # tie: the smaller
    with pytest.raises(ValueError, match="at least one"):
        qlora_gap.choose_lr({})
    with pytest.raises(ValueError, match="no validation scores"):
        qlora_gap.choose_lr({2e-3: []})


def test_lr_run_trains_at_the_rate_asked_and_its_snapshot_scores_the_same(tokenizer):
    import datasets
    from lorakit.models import presets
    from lorakit.training.sft import load_qa_splits

    datasets.disable_progress_bars()
    data = load_qa_splits(tokenizer.eos_token, sizes={"train": 32})
    preset = presets.get("cpu", batch_size=4)
    validation = make_split("validation", 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = {lr: qlora_gap.lr_run("qlora", lr, 0, 3, [2, 3], preset, tokenizer, data, validation, r=4)
                for lr in (1e-3, 5e-2)}
    assert set(runs[1e-3]["validation"]) == {2, 3} and len(runs[1e-3]["validation"][3]) == 6
    # a larger rate moves the adapters further: the rate reached the optimizer
    moved = {lr: sum(v.norm().item() for n, v in r["snapshots"][3].items() if "lora_B" in n) for lr, r in runs.items()}
    assert moved[5e-2] > 5 * moved[1e-3] > 0
    # the snapshot, loaded into a fresh model, is the trained weights, not the fresh ones, and scores as the run did
    snap = runs[5e-2]["snapshots"][3]
    loaded = dict(qlora_gap.load_snapshot("qlora", 0, snap, r=4).named_parameters())
    fresh = dict(qlora_vs_lora.lora_model(None, "qlora", r=4, seed=0, checkpointing=False).named_parameters())
    b = next(n for n in snap if "lora_B" in n)
    assert torch.equal(loaded[b], snap[b]) and not torch.equal(fresh[b], snap[b])
    assert qlora_gap.score_snapshot("qlora", 0, snap, tokenizer, validation, r=4) == runs[5e-2]["validation"][3]
    with pytest.raises(ValueError, match="lacks"):
        qlora_gap.score_snapshot("qlora", 0, {"not.a.parameter": torch.zeros(1)}, tokenizer, validation, r=4)
    with pytest.raises(ValueError, match="lr must be a positive"):
        qlora_gap.lr_run("qlora", 0.0, 0, 3, [3], preset, tokenizer, data, validation)
    with pytest.raises(ValueError, match="goes past"):
        qlora_gap.lr_run("qlora", 1e-3, 0, 3, [4], preset, tokenizer, data, validation)
