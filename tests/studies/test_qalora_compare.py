"""lorakit.studies.qalora_compare and .sweep on a small random Llama with the shipped tokenizer (seconds, not minutes)."""
import json

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.data.qa import make_split
from lorakit.lora import LoRALinear
from lorakit.models.loading import load_tokenizer
from lorakit.qalora import GroupQuantLinear
from lorakit.studies import qalora_compare as compare, qalora_sweep as sweep
from lorakit.quant import fake_quantize


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def base(tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config).eval()


CONFIG = compare.CompareConfig(steps=2, r=4, lora_alpha=8, batch_size=4)
IDS = torch.randint(0, 1000, (2, 9), generator=torch.Generator().manual_seed(0))


def logits(model):
    with torch.no_grad():
        return model(IDS).logits


def randomize_adapters(model, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "lora_B"):
                m.lora_B.weight.copy_(torch.randn(m.lora_B.weight.shape, generator=gen) * 0.05)


def test_qlora_model_is_an_nf4_base_with_lora(base):
    before = {n: p.clone() for n, p in base.state_dict().items()}
    model = compare.qlora_model(base, CONFIG)
    assert all(torch.equal(before[n], p) for n, p in base.state_dict().items()), "the input model is left alone"
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, LoRALinear)
    torch.testing.assert_close(q_proj.base_layer.weight, fake_quantize(base.model.layers[0].self_attn.q_proj.weight))
    assert {n.rsplit(".", 2)[-2] for n, p in model.named_parameters() if p.requires_grad} == {"lora_A", "lora_B"}


def test_merged_16bit_stores_float16_values_and_keeps_the_function(base):
    model = compare.qlora_model(base, CONFIG)
    randomize_adapters(model)
    merged = compare.merged_16bit(model)
    w = merged.model.layers[0].mlp.down_proj.weight
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert torch.equal(w, w.half().float()), "every merged weight is a float16 value"
    rel = ((logits(merged) - logits(model)).norm() / logits(model).norm()).item()
    assert 0 < rel < 1e-2, "float16 storage changes the logits a little, not much"


def test_merged_into_float_adds_the_update_to_the_float_weights(base):
    model = compare.qlora_model(base, CONFIG)
    randomize_adapters(model)
    before = {n: p.clone() for n, p in base.state_dict().items()}
    merged = compare.merged_into_float(base, model)
    assert all(torch.equal(before[n], p) for n, p in base.state_dict().items()), "the base is left alone"
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    layer = model.model.layers[0].mlp.down_proj
    w_float = base.model.layers[0].mlp.down_proj.weight
    got = merged.model.layers[0].mlp.down_proj.weight
    torch.testing.assert_close(got, (w_float + layer.delta_weight()).half().float())
    # not the NF4 merge: W + sBA differs from W_nf4 + sBA by NF4's rounding error
    nf4_merged = compare.merged_16bit(model).model.layers[0].mlp.down_proj.weight
    assert (got - nf4_merged).abs().max() > 1e-3
    # re-quantized once from W + sBA: closer to the float merge than the twice-rounded one
    once = compare.requantized(merged, bits=4, group_size=32)
    twice = compare.requantized(compare.merged_16bit(model), bits=4, group_size=32)
    assert compare.logits_rel_error(once, merged, IDS) < compare.logits_rel_error(twice, merged, IDS)


def test_merged_into_float_refuses_bad_input(base):
    with pytest.raises(ValueError, match="no LoRA layers"):
        compare.merged_into_float(base, base)
    with pytest.raises(TypeError):
        compare.merged_into_float(base, "model")
    small = nn.Module()
    small.q = nn.Linear(8, 8)
    from lorakit.lora import inject_lora
    wrapped = inject_lora(small, ["q"], 2, 4)
    with pytest.raises(ValueError, match="no layer"):
        compare.merged_into_float(base, wrapped)


def test_requantized_and_qalora_merged_are_int_b(base):
    model = compare.qlora_model(base, CONFIG)
    requant = compare.requantized(compare.merged_16bit(model), bits=3, group_size=32)
    assert sum(isinstance(m, GroupQuantLinear) for m in requant.modules()) == 7
    qalora = compare.qalora_model(base, CONFIG, bits=3, group_size=32)
    randomize_adapters(qalora)
    deployed = compare.qalora_merged(qalora)
    assert compare.logits_rel_error(deployed, qalora, IDS) <= 1e-5
    assert sum(isinstance(m, GroupQuantLinear) for m in deployed.modules()) == 7


def test_linear_storage_bits(base):
    n_weights = sum(m.weight.numel() for n, m in base.named_modules() if isinstance(m, nn.Linear) and n != "lm_head")
    assert compare.linear_storage_bits(base) == 16 * n_weights
    requant = compare.requantized(base, bits=4, group_size=32)
    assert compare.linear_storage_bits(requant) == round(n_weights * (4 + 20 / 32))
    assert compare.linear_storage_bits(requant, zero_bits=16) == round(n_weights * (4 + 32 / 32))
    assert compare.linear_storage_bits(compare.qlora_model(base, CONFIG)) == 16 * n_weights, "adapters are not counted"


def test_ablation_points_and_dividing(base):
    points = sweep.ablation_points()
    assert points == [(4, 32), (4, 64), (4, 128), (3, 32), (2, 32)]
    kept, skipped = sweep.dividing(points, base)            # hidden 64, intermediate 128
    assert kept == [(4, 32), (4, 64), (3, 32), (2, 32)] and skipped == [128]
    assert sweep.key(3, 64) == "b3_g64" and sweep.scores("0110", 3) == [0, 1, 1]


def test_run_sweep_layout_and_save(base, tokenizer, tmp_path):
    train, test = make_split("train", 8), make_split("test", 3)
    result = sweep.run_sweep(base, tokenizer, train, test, ["a short text", "another one"], CONFIG,
                             points=[(4, 32), (2, 64)], log=lambda line: None)
    assert result["config"]["points"] == [[4, 32], [2, 64]] and result["config"]["steps"] == 2
    assert set(result["base"]["ppl"]) == {"float", "nf4", "b4_g32", "b2_g64"}
    qlora = result["qlora"]["0"]
    assert set(qlora["requant"]) == {"b4_g32", "b2_g64"} and len(qlora["before_merge"]) == 3
    run = result["qalora"]["0"]["b2_g64"]
    assert run["steps"] == 2 and set(run["after_merge"]) <= {"0", "1"} and run["merge_rel_error"] <= 1e-5
    path = sweep.save_sweep(result, tmp_path / "sweep.json")
    assert sweep.load_sweep(path) == json.loads(json.dumps(result))


def test_point_scores_average_over_seeds():
    table = {"qlora": {"0": {"before_merge": "110", "requant": {"b4_g32": "100"}},
                       "1": {"before_merge": "010", "requant": {"b4_g32": "001"}}},
             "qalora": {"0": {"b4_g32": {"after_merge": "111"}}, "1": {"b4_g32": {"after_merge": "011"}}}}
    assert sweep.point_scores(table, "qalora", "b4_g32") == [0.5, 1.0, 1.0]
    assert sweep.point_scores(table, "qlora_requant", "b4_g32") == [0.5, 0.0, 0.5]
    assert sweep.point_scores(table, "qlora", stage="before_merge") == [0.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="method must be"):
        sweep.point_scores(table, "lora", "b4_g32")


def test_seed_scores_are_seeds_by_questions_and_feed_compare():
    from lorakit import stats
    table = {"qlora": {"0": {"before_merge": "110", "requant": {"b4_g32": "100"}},
                       "1": {"before_merge": "010", "requant": {"b4_g32": "001"}}},
             "qalora": {"0": {"b4_g32": {"after_merge": "111", "before_merge": "011"}},
                        "1": {"b4_g32": {"after_merge": "011", "before_merge": "001"}}}}
    assert sweep.seed_scores(table, "qalora", "b4_g32") == [[1, 1, 1], [0, 1, 1]]
    assert sweep.seed_scores(table, "qalora", "b4_g32", "before_merge") == [[0, 1, 1], [0, 0, 1]]
    assert sweep.seed_scores(table, "qlora_requant", "b4_g32") == [[1, 0, 0], [0, 0, 1]]
    assert sweep.seed_scores(table, "qlora", stage="before_merge") == [[1, 1, 0], [0, 1, 0]]
    c = stats.compare(sweep.seed_scores(table, "qalora", "b4_g32"), sweep.seed_scores(table, "qlora_requant", "b4_g32"),
                      margin=0.03, n_boot=200)
    assert c.n_seeds == (2, 2) and c.n_examples == 3
    assert c.seed_means == (pytest.approx((1.0, 2 / 3)), pytest.approx((1 / 3, 1 / 3)))
    assert c.mean_a == pytest.approx(sum(sweep.point_scores(table, "qalora", "b4_g32")) / 3)
    for method, point, stage, match in (("lora", "b4_g32", "after_merge", "method must be"),
                                        ("qalora", "b3_g32", "after_merge", "'b3_g32' is not in seed 0"),
                                        ("qlora_requant", None, "after_merge", "None is not in seed 0"),
                                        ("qalora", "b4_g32", "merged", "stage must be")):
        with pytest.raises(ValueError, match=match):
            sweep.seed_scores(table, method, point, stage)
