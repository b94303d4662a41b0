"""lorakit.studies.ablations: variants, their PEFT and training configs, one run, the table's round trip."""
import pytest
import torch

from lorakit.models import presets
from lorakit.stats import Comparison
from lorakit.studies.ablations import (QV, Variant, variant_model, compare_runs, comparisons, decode_correct,
                                       default_settings, encode_correct, group_rows, interval, load_table,
                                       run_ablations, run_variant, run_seeds, save_table, seed_comparisons,
                                       seed_scores, seed_summary, steps_row, summary, sweep_variants,
                                       unique_variants)
from lorakit.memory.probe import optimizer_state_bytes
from lorakit.data.qa import make_split
from lorakit.models.loading import load_tokenizer


def test_lora_config_follows_the_variant():
    config = Variant("x", r=8).lora_config()
    assert (config.r, config.lora_alpha, config.use_rslora, config.target_modules) == (8, 8, False, "all-linear")   # lora_alpha = r by default
    rs = Variant("y", r=64, lora_alpha=16, use_rslora=True, target_modules=QV).lora_config()
    assert (rs.lora_alpha, rs.use_rslora, set(rs.target_modules)) == (16, True, {"q_proj", "v_proj"})
    with pytest.raises(ValueError, match="no LoraConfig"):
        Variant("full", r=0).lora_config()


def test_train_config_takes_rates_and_budgets_from_the_preset():
    sim = presets.get("sim")
    lora = Variant("a", max_steps=200, shuffle=False, max_grad_norm=None).train_config(sim)
    assert (lora.lr, lora.max_steps, lora.batch_size, lora.shuffle, lora.max_grad_norm) == \
        (sim.lora_lr, sim.steps(200), sim.batch_size, False, 0.0)
    full = Variant("b", r=0, max_steps=None, max_seconds=30).train_config(presets.get("cpu"))
    assert (full.lr, full.max_steps, full.max_seconds) == (presets.get("cpu").full_lr, None, 30)
    assert Variant("c", lr=1e-5).train_config(sim).lr == 1e-5


@pytest.mark.parametrize("kwargs, match", [
    ({"r": -1}, "r must be an int"), ({"r": 2.0}, "r must be an int"),
    ({"max_steps": None, "max_seconds": None}, "max_steps or max_seconds"),
])
def test_variant_rejects_bad_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Variant("bad", **kwargs)


def test_correct_strings_round_trip():
    assert encode_correct([True, False, True]) == "101" and decode_correct("101") == [1, 0, 1]
    with pytest.raises(ValueError, match="only '0' and '1'"):
        decode_correct("1x")


def test_sweep_groups_share_the_default_run_and_names_are_unambiguous():
    groups = sweep_variants(steps=50, seconds=5)
    assert {v.r for v in groups["rank"]} == {1, 2, 4, 8, 16, 64}
    assert all(v.max_seconds == 5 and v.max_steps is None for v in groups["targets"])
    names = [v.name for v in unique_variants(groups)]
    assert len(names) == len(set(names)) and "r=16" in groups["optimizer"][-1].name
    assert [v.max_steps for v in sweep_variants(steps=150)["steps"]] == [50, 100, 150]
    with pytest.raises(ValueError, match="both called"):
        unique_variants({"a": [Variant("x", r=1)], "b": [Variant("x", r=2)]})


def test_optimizer_state_is_two_float32_moments_per_trainable_weight():
    layer = torch.nn.Linear(6, 4)
    opt = torch.optim.AdamW(layer.parameters())
    assert optimizer_state_bytes(opt) == 0, "AdamW allocates its state at the first step"
    layer(torch.randn(3, 6)).sum().backward()
    opt.step()
    assert optimizer_state_bytes(opt) == 2 * 4 * (6 * 4 + 4)


def test_build_model_is_seeded_and_full_ft_trains_everything():
    a, b = variant_model(Variant("x", r=2, target_modules=QV)), variant_model(Variant("x", r=2, target_modules=QV))
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"
    torch.testing.assert_close(dict(a.named_parameters())[name], dict(b.named_parameters())[name], rtol=0, atol=0)
    full = variant_model(Variant("full", r=0))
    assert all(p.requires_grad for p in full.parameters())


def test_run_variant_and_table_round_trip(tmp_path):
    tok = load_tokenizer()
    row = run_variant(Variant("tiny", r=2, target_modules=QV, max_steps=2), tok, make_split("train", 8),
                      make_split("test", 4), eval_batch_size=4)
    assert row["steps"] == 2 and len(row["correct"]) == 4 and row["em"] == sum(decode_correct(row["correct"])) / 4
    assert row["optimizer_state_bytes"] == 2 * 4 * row["trainable"] > 0
    table = {"meta": {}, "groups": {"g": ["tiny"]}, "runs": {"tiny": row}}
    loaded = load_table(save_table(table, tmp_path / "t.json"))
    assert group_rows(loaded, "g") == [{"name": "tiny", **row}]
    assert Variant.from_dict(loaded["runs"]["tiny"]["variant"]) == Variant("tiny", r=2, target_modules=QV, max_steps=2)
    with pytest.raises(ValueError, match="unknown group"):
        group_rows(loaded, "nope")
    with pytest.raises(FileNotFoundError, match="sweep_lora_ablations"):
        load_table(tmp_path / "missing.json")


def _row(correct: str, trainable: int = 1, final_loss: float = 0.1) -> dict:
    return {"correct": correct, "trainable": trainable, "steps": 5, "seconds": 1.0, "final_loss": final_loss}


def test_summary_gives_intervals_and_no_verdict():
    runs = {"a": _row("1" * 90 + "0" * 10, 10), "b": _row("1" * 20 + "0" * 80, 20, final_loss=0.5)}
    table = {"meta": {}, "groups": {"g": ["a", "b"]}, "runs": runs}
    rows = summary(table, "g", extra=["final_loss"])
    assert [r["run"] for r in rows] == ["a", "b"] and rows[1]["final_loss"] == 0.5 and rows[1]["trainable"] == 20
    assert set(rows[0]) == {"run", "exact match [95% CI]", "trainable", "steps", "train s", "final_loss"}
    assert rows[0]["exact match [95% CI]"].startswith("90.0% [")
    assert interval(runs["b"]).low < 0.2 < interval(runs["b"]).high
    with pytest.raises(TypeError, match="list of field names"):
        summary(table, "g", extra="final_loss")


def test_comparisons_apply_the_one_rule_against_the_baseline():
    n = 200                                     # 3/200 < 0.03: equivalence is reachable
    runs = {"base": _row("1" * 180 + "0" * 20),
            "worse": _row("1" * 120 + "0" * 80),                   # 30 points lower
            "same": _row("1" * 178 + "0" * 22),                    # 1 point lower, 2 of 200 differ
            "noisy": _row("0" * 20 + "1" * 170 + "0" * 10),        # 5 points lower, 30 of 200 differ: [-10, +0.5]
            "low1": _row("1" * 10 + "0" * 190), "low2": _row("1" * 6 + "0" * 194)}
    assert all(len(r["correct"]) == n for r in runs.values())
    table = {"meta": {"seed": 0}, "groups": {"g": list(runs), "fail": ["low1", "low2"]}, "runs": runs}
    rows = comparisons(table, "g", "base")
    assert all(isinstance(c, Comparison) for c in rows)
    assert [c.names for c in rows] == [(name, "base") for name in ("worse", "same", "noisy", "low1", "low2")]
    assert [c.verdict for c in rows] == ["base higher", "equivalent (within ±0.03)", "inconclusive",
                                         "base higher", "base higher"]
    assert (rows[0].margin, rows[0].floor, rows[0].n_examples) == (0.03, 0.10, n)
    # both under the 10% floor: "both fail", whatever the gap; without a floor the gap is judged
    assert comparisons(table, "fail", "low2")[0].verdict == "both fail"
    assert comparisons(table, "fail", "low2", floor=None)[0].verdict == "low1 higher"   # 4 of 200 differ, all one way
    # a margin of 1 point: the same interval of "same" is no longer inside it
    narrow = compare_runs(table, "same", "base", margin=0.01)
    assert narrow.diff == rows[1].diff and narrow.verdict == "inconclusive"
    assert compare_runs(table, "worse", "base") == rows[0]
    with pytest.raises(ValueError, match="unknown baseline"):
        comparisons(table, "g", "nope")
    with pytest.raises(ValueError, match="unknown run"):
        compare_runs(table, "base", "nope")
    with pytest.raises(ValueError, match="margin must be > 0"):
        comparisons(table, "g", "base", margin=0)


def test_run_sweep_runs_the_named_variants_and_keeps_previous_rows():
    tok = load_tokenizer()
    previous = {"runs": {"r=64": {"em": 0.5}}, "seeds": {"r=64": {"1": {"em": 0.4}}}}
    seen = []
    table = run_ablations(None, tok, make_split("train", 8), make_split("test", 2), steps=2, seconds=1.0,
                      only=["r=1", "full FT"], previous=previous, on_row=lambda name, t: seen.append(name))
    assert seen == ["r=1", "full FT"] and list(table["runs"]) == ["r=1", "r=64", "full FT"]
    assert table["runs"]["full FT"]["trainable"] == table["runs"]["full FT"]["total"]
    assert set(table["groups"]) == {"rank", "targets", "full", "alpha", "optimizer", "lr", "steps"}
    assert table["meta"]["n_test"] == 2 and table["meta"]["sweep_seconds"] > 0
    assert table["seeds"] == {"r=64": {"1": {"em": 0.4}}}, "re-running rows keeps the other seeds' rows"
    with pytest.raises(ValueError, match="unknown variant"):
        run_ablations(None, tok, [], [], only=["r=3"])


def test_default_settings_read_the_default_row():
    row = {"variant": Variant("r=16", max_steps=300).to_dict()}
    table = {"meta": {"n_test": 200, "seed": 0}, "runs": {"r=16": row}}
    assert default_settings(table) == {"r": 16, "lora_alpha": 16, "target_modules": "all-linear", "lr": 2e-3,
                                       "steps": 300, "n_test": 200, "seed": 0}


def test_run_seeds_retrains_a_row_with_other_seeds_and_keeps_its_own():
    tok = load_tokenizer()
    table = run_ablations(None, tok, make_split("train", 8), make_split("test", 3), steps=2, seconds=1.0, only=["r=1"])
    seen = []
    run_seeds(table, ["r=1"], [1, 2], tok, make_split("train", 8), make_split("test", 3),
              on_row=lambda name, seed, t: seen.append((name, seed)))
    assert seen == [("r=1", 1), ("r=1", 2)] and set(table["seeds"]["r=1"]) == {"1", "2"}
    assert set(seed_scores(table, "r=1")) == {0, 1, 2}
    a = variant_model(Variant("x", r=1), seed=0).base_model.model.model.layers[0].self_attn.q_proj.lora_A.default.weight
    b = variant_model(Variant("x", r=1), seed=1).base_model.model.model.layers[0].self_attn.q_proj.lora_A.default.weight
    assert not torch.equal(a, b), "another seed must draw another lora_A"
    with pytest.raises(ValueError, match="own seed"):
        run_seeds(table, ["r=1"], [0], tok, [], [])
    with pytest.raises(ValueError, match="unknown run"):
        run_seeds(table, ["r=3"], [1], tok, [], [])


def _seeded(ems_by_seed, n=100):
    """A table row {seed: 0/1 scores} whose exact match per seed is ``ems_by_seed``."""
    return {seed: [1] * round(em * n) + [0] * (n - round(em * n)) for seed, em in enumerate(ems_by_seed)}


def test_seed_comparisons_average_each_question_over_the_seeds():
    table = {"meta": {"seed": 0}, "runs": {name: {"correct": encode_correct(scores[0])} for name, scores in
                                           (("a", _seeded([0.95])), ("b", _seeded([0.60])), ("c", _seeded([0.9])),
                                            ("d", _seeded([0.5])))},
             "seeds": {"a": {str(s): {"correct": encode_correct(_seeded([em])[0])} for s, em in ((1, 0.96), (2, 0.97))},
                       "c": {"1": {"correct": encode_correct(_seeded([0.1])[0])}},
                       "d": {"1": {"correct": encode_correct(_seeded([0.5])[0])}}}}
    a_vs_b, = seed_comparisons(table, ["a", "b"], "b")
    assert a_vs_b.names == ("a", "b") and a_vs_b.verdict == "a higher" and a_vs_b.n_seeds == (3, 1)
    assert a_vs_b.seed_means == ((0.95, 0.96, 0.97), (0.6,)) and a_vs_b.mean_a == pytest.approx(0.96)
    # c beats d on seed 0 (90% against 50%), but its seed 1 scores 10%: averaged over both seeds, the
    # two are level, and the seed-0 row alone would have said "c higher"
    assert compare_runs(table, "c", "d").verdict == "c higher"
    c_vs_d, = seed_comparisons(table, ["c"], "d")
    assert c_vs_d.diff.mean == pytest.approx(0.0) and c_vs_d.verdict == "inconclusive"
    with pytest.raises(TypeError, match="list of run names"):
        seed_comparisons(table, "a", "b")
    with pytest.raises(ValueError, match="unknown run"):
        seed_comparisons(table, ["a"], "nope")


def test_seed_summary_lists_every_seed_and_the_spread():
    runs = {name: {"correct": encode_correct(scores[0])} for name, scores in
            (("a", _seeded([0.9])), ("b", _seeded([0.5])))}
    table = {"meta": {"seed": 0}, "runs": runs,
             "seeds": {"a": {"1": {"correct": encode_correct(_seeded([0.8])[0])}}}}
    rows = seed_summary(table, ["a", "b"])
    assert rows == [{"run": "a", "exact match per seed": "90.0  80.0", "seeds": 2, "spread (points)": "10.0"},
                    {"run": "b", "exact match per seed": "50.0", "seeds": 1, "spread (points)": "0.0"}]


def test_steps_row_finds_the_default_run_of_that_length():
    row = lambda name, steps, seconds=None: {"steps": steps, "correct": "1", "variant": {"max_seconds": seconds}}
    table = {"groups": {"steps": ["50 steps", "t", "r=16"]},
             "runs": {"50 steps": row("50 steps", 50), "t": row("t", 300, 55.0), "r=16": row("r=16", 300)}}
    assert steps_row(table, 50) == "50 steps" and steps_row(table, 300) == "r=16" and steps_row(table, 7) is None
    assert compare_runs(table, "50 steps", "r=16").verdict == "inconclusive"   # 1 question: 3/n is not below 3 points
