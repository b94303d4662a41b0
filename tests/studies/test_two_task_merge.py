"""lorakit.studies.two_task_merge: task arithmetic, RegMean, interference on a task's inputs, the choice."""
import pytest
import torch
from peft import PeftModel

from lorakit.data.tasks import TASKS
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.studies import two_task_merge as ttm
from lorakit.studies.ablations import decode_correct
from lorakit.studies.adapters import adapter_path, next_token_logits


def _gram(x):
    return x.double().T @ x.double()


def test_task_arithmetic_is_the_weighted_sum_and_counts_a_missing_layer_as_zero():
    a = {"l1": torch.ones(2, 3), "l2": torch.ones(2, 2)}
    b = {"l1": 2 * torch.ones(2, 3)}
    out = ttm.task_arithmetic([a, b], [0.5, 2.0])
    assert torch.allclose(out["l1"], 4.5 * torch.ones(2, 3)) and torch.allclose(out["l2"], 0.5 * torch.ones(2, 2))
    with pytest.raises(ValueError, match="one weight per adapter"):
        ttm.task_arithmetic([a, b], [1.0])
    with pytest.raises(TypeError):
        ttm.task_arithmetic([{"l1": torch.ones(3)}], [1.0])


def test_interference_is_the_miss_on_the_tasks_own_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g)
    own = {"l": torch.randn(3, 4, generator=g)}
    other = {"l": torch.randn(3, 4, generator=g)}
    merged = ttm.task_arithmetic([own, other], [1.0, 1.0])
    direct = (x @ other["l"].T).norm() / (x @ own["l"].T).norm()          # the other update on these inputs
    assert ttm.interference(merged, own, {"l": _gram(x)}) == pytest.approx(direct.item(), rel=1e-6)
    assert ttm.interference(own, own, {"l": _gram(x)}) == 0
    assert ttm.interference({}, own, {"l": _gram(x)}) == pytest.approx(1.0)   # nothing of it kept
    with pytest.raises(ValueError, match="Gram"):
        ttm.interference(own, own, {})


def test_regmean_keeps_each_update_where_the_tasks_inputs_differ():
    g = torch.Generator().manual_seed(1)
    xa = torch.cat([torch.randn(40, 3, generator=g), torch.zeros(40, 3)], 1)   # task a: first 3 features only
    xb = torch.cat([torch.zeros(40, 3), torch.randn(40, 3, generator=g)], 1)   # task b: the other 3
    da, db = {"l": torch.randn(2, 6, generator=g)}, {"l": torch.randn(2, 6, generator=g)}
    ga, gb = {"l": _gram(xa)}, {"l": _gram(xb)}
    rm = ttm.regmean([da, db], [ga, gb])
    assert ttm.interference(rm, da, ga) < 1e-6 and ttm.interference(rm, db, gb) < 1e-6
    ta = ttm.task_arithmetic([da, db], [1.0, 1.0])
    assert ttm.interference(ta, da, ga) > 0.1            # the plain sum carries b's update onto a's inputs
    # the same inputs for both tasks: RegMean is the plain mean; a larger weight pulls toward that adapter
    gf = {"l": _gram(torch.randn(40, 6, generator=g))}
    assert torch.allclose(ttm.regmean([da, db], [gf, gf])["l"], (da["l"] + db["l"]) / 2, atol=1e-5)
    pulled = ttm.regmean([da, db], [gf, gf], weights=[3.0, 1.0])["l"]
    assert torch.allclose(pulled, 0.75 * da["l"] + 0.25 * db["l"], atol=1e-5)
    # alpha 0: diagonal Grams, a per-feature weighted mean
    diag = ttm.regmean([da, db], [ga, gb], alpha=0.0)["l"]
    wa, wb = torch.diag(ga["l"]), torch.diag(gb["l"])
    assert torch.allclose(diag.double(), (da["l"].double() * wa + db["l"].double() * wb) / (wa + wb), atol=1e-5)


def test_regmean_refuses_bad_input():
    d = {"l": torch.ones(2, 2)}
    gr = {"l": torch.eye(2, dtype=torch.float64)}
    with pytest.raises(ValueError, match="alpha"):
        ttm.regmean([d, d], [gr, gr], alpha=1.5)
    with pytest.raises(ValueError, match="two or more"):
        ttm.regmean([d], [gr])
    with pytest.raises(ValueError, match="positive weight"):
        ttm.regmean([d, d], [gr, gr], weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="Gram"):
        ttm.regmean([d, d], [gr, {}])


def test_choose_takes_the_best_weaker_share_of_the_own_score():
    own = {"qa": 1.0, "lookup": 0.5}
    rows = [{"validation": {"qa": 0.9, "lookup": 0.2}},     # shares 0.9, 0.4
            {"validation": {"qa": 0.5, "lookup": 0.4}},     # shares 0.5, 0.8: weaker 0.5, the best
            {"validation": {"qa": 0.45, "lookup": 0.5}}]    # shares 0.45, 1.0
    assert ttm.choose(rows, own) == 1
    assert ttm.choose(rows[:1] + rows[:1], own) == 0
    assert ttm.ratios({"qa": 0.5}, own) == {"qa": 0.5}
    with pytest.raises(ValueError, match="undefined"):
        ttm.ratios({"qa": 0.5}, {"qa": 0.0})
    with pytest.raises(ValueError):
        ttm.choose([], own)


@pytest.fixture(scope="module")
def shipped():
    base = load_model()
    model = PeftModel.from_pretrained(load_model(), adapter_path("qa"), adapter_name="qa")
    model.load_adapter(adapter_path("lookup"), adapter_name="lookup")
    return base, model, load_tokenizer()


def test_a_merged_copy_of_one_adapter_gives_that_adapters_outputs(shipped):
    base, model, tok = shipped
    before = {k: v.clone() for k, v in base.state_dict().items()}
    deltas = ttm.plain_deltas(model, "qa")
    merged = ttm.merged_model(base, deltas)
    prompts = [TASKS["qa"].format_prompt(TASKS["qa"].make_split("validation", 2)[i]) for i in range(2)]
    model.set_adapter("qa")
    assert (next_token_logits(merged, tok, prompts) - next_token_logits(model, tok, prompts)).abs().max() < 1e-3
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())     # the base is untouched
    assert 0 < ttm.relative_size(deltas, base) < 1
    assert ttm.relative_size({k: dict(base.named_modules())[k].weight for k in deltas}, base) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no module"):
        ttm.merged_model(base, {"nowhere": torch.ones(2, 2)})


def test_input_grams_see_the_active_adapter_after_the_first_layer(shipped):
    _, model, tok = shipped
    examples = TASKS["lookup"].make_split("train")[:4]
    with_lookup = ttm.input_grams(model, tok, "lookup", examples, adapter="lookup")
    bare = ttm.input_grams(model, tok, "lookup", examples, adapter=None)
    first, last = "model.layers.0.self_attn.q_proj", "model.layers.3.mlp.down_proj"
    assert torch.allclose(with_lookup[first], bare[first])            # the first LoRA layer reads the embeddings
    assert not torch.allclose(with_lookup[last], bare[last])          # later ones read what the adapter changed
    assert torch.allclose(with_lookup[last], with_lookup[last].T)
    assert model.active_adapter == "qa"                               # left as it was
    with pytest.raises(ValueError):
        ttm.input_grams(model, tok, "lookup", [], adapter="lookup")


def test_interference_counts_an_update_on_a_layer_the_own_adapter_lacks():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(30, 4, generator=g)
    own = {"attn": torch.randn(3, 4, generator=g)}                 # disjoint layers: cosine 0
    other = {"mlp": torch.randn(3, 4, generator=g)}
    grams = {"attn": _gram(x), "mlp": _gram(x)}
    merged = ttm.task_arithmetic([own, other], [1.0, 1.0])
    expected = (x @ other["mlp"].T).norm() / (x @ own["attn"].T).norm()
    assert ttm.interference(merged, own, grams) == pytest.approx(expected.item(), rel=1e-6)


def test_the_shipped_table_chose_on_validation_and_scored_that_on_test():
    table = ttm.load_table()
    for study in (table["shipped"], table["disjoint_modules"]):
        own = study["own"]["validation"]
        for group, res in study["groups"].items():
            for method in ("task_arithmetic", "regmean"):
                rows = [r for r in res["validation"] if r["method"] == method]
                pick = rows[ttm.choose(rows, own)]
                assert res["chosen"][method] == {k: pick[k] for k in ("method", "weights", "alpha") if k in pick}
            assert res["chosen"]["default"] == {"method": "task_arithmetic", "weights": [1.0] * len(group.split("/"))}
            for name, scored in res["test"].items():
                decoded = {t: decode_correct(v) for t, v in scored["scores"].items()}
                assert {t: sum(v) / len(v) for t, v in decoded.items()} == pytest.approx(scored["em"])
                assert len(next(iter(decoded.values()))) == table["meta"]["n"]
