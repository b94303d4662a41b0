"""lorakit.studies.nf4_merge: the three merges, the kept fraction against the update's size, real PEFT models."""
import warnings

import pytest
import torch

from lorakit.course.paths import TINY_LM_DIR
from lorakit.studies import nf4_merge

SHIPPED = str(TINY_LM_DIR)


def _weights(seed=0, shape=(128, 256)):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g) * 0.02
    return w, nf4_merge.requantize(w), torch.randn(shape, generator=g)


def test_three_merges_and_their_shapes():
    w, q, d = _weights()
    d = d * 0.001
    assert torch.equal(nf4_merge.merged_weight("base", w, q, d), w + d)
    assert torch.equal(nf4_merge.merged_weight("nf4_dequantized", w, q, d), q + d)
    requant = nf4_merge.merged_weight("nf4_requantized", w, q, d)
    again = nf4_merge.requantize(requant)                               # on NF4 code values: nearly a fixed point
    assert (again - requant).abs().max() < 0.01 * requant.abs().max()  # (the 8-bit scales round a little)
    assert not torch.equal(requant, q + d)
    with pytest.raises(ValueError, match="kind must be one of"):
        nf4_merge.merged_weight("nf4", w, q, d)
    with pytest.raises(ValueError, match="shapes differ"):
        nf4_merge.merged_weight("base", w, q, d[:, :64])


def test_small_updates_are_rounded_away_large_ones_kept():
    w, q, d = _weights(1)
    sizes, kept = [], []
    for target in (0.003, 0.03, 0.3):                 # |dW| / |W|
        delta = {"x": d * (target * q.norm() / d.norm())}
        sizes.append(nf4_merge.relative_size({"x": q}, delta))
        kept.append(nf4_merge.kept_fraction({"x": q}, delta))
    assert sizes == pytest.approx([0.003, 0.03, 0.3], rel=1e-4)
    assert kept[0]["kept"] < 0.1 and kept[2]["kept"] > 0.85       # a tiny push snaps back; a large one survives
    assert kept[0]["kept"] < kept[1]["kept"] < kept[2]["kept"]
    assert kept[0]["moved"] < kept[2]["moved"] <= 1
    assert kept[0]["noise"] > kept[2]["noise"]         # relative to |dW|, rounding noise dominates small updates
    with pytest.raises(ValueError, match="zero"):
        nf4_merge.kept_fraction({"x": q}, {"x": torch.zeros_like(q)})
    with pytest.raises(ValueError, match="no weight for the layers"):
        nf4_merge.kept_fraction({}, {"x": d})


@pytest.mark.parametrize("bad", [0, -1.0, True, "1"])
def test_scaled_deltas_refuses_non_positive_factors(bad):
    with pytest.raises(ValueError, match="factor"):
        nf4_merge.scaled_deltas({"x": torch.ones(2)}, bad)


def test_dequantized_merge_is_the_trained_function_on_a_real_qlora_model():
    from lorakit.models.loading import load_model
    from lorakit.studies.qlora_vs_lora import lora_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft = lora_model(SHIPPED, "qlora", r=4, dtype=torch.float32, checkpointing=False)
        with pytest.raises(ValueError, match="zero"):          # B starts at 0: no update yet
            nf4_merge.kept_fraction(*nf4_merge.adapter_parts(peft))
        torch.manual_seed(0)
        with torch.no_grad():
            for n, p in peft.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.05)
        nf4, deltas = nf4_merge.adapter_parts(peft)
        assert set(deltas) == set(nf4) and "model.layers.0.self_attn.q_proj" in deltas
        plain = load_model(SHIPPED, dtype=torch.float32)
        base = {k: plain.get_submodule(k).weight.detach().clone() for k in deltas}
        ids = torch.randint(2, 500, (2, 12))
        with torch.no_grad():
            want = peft.eval()(input_ids=ids).logits
            got = nf4_merge.merged_model(plain, "nf4_dequantized", base, nf4, deltas).eval()(input_ids=ids).logits
            assert (want - got).abs().max() < 1e-4
            other = nf4_merge.merged_model(plain, "base", base, nf4, deltas)(input_ids=ids).logits
            assert (want - other).abs().max() > 1e-3           # the original base is another function
        with pytest.raises(ValueError, match="Linear4bit"):
            nf4_merge.adapter_parts(plain)
