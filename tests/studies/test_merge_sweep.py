"""lorakit.studies.merge_sweep: the grid, the choice on validation, one point re-run, the shipped table."""
import pytest
from peft import PeftModel

from lorakit.data.tasks import TASKS
from lorakit.models.loading import load_model, load_tokenizer
from lorakit.studies import merge_sweep as ms
from lorakit.studies.ablations import decode_correct, encode_correct
from lorakit.studies.adapters import adapter_path


def _row(weights, density, **per_seed):
    """A sweep row from {seed: {task: [0/1, ...]}}."""
    return {"weights": weights, "density": density,
            "scores": {s: {t: encode_correct(v) for t, v in sc.items()} for s, sc in per_seed.items()}}


def test_grid_per_type():
    assert [s["density"] for s in ms.settings("cat", [(1, 1)], (0.2, 0.5))] == [None]
    ties = ms.settings("ties", [(1, 1), (2, 2)], (0.2, 0.5))
    assert [(s["weights"], s["density"]) for s in ties] == [([1.0, 1.0], 0.2), ([1.0, 1.0], 0.5),
                                                          ([2.0, 2.0], 0.2), ([2.0, 2.0], 0.5)]
    assert ms.is_random("dare_ties_svd") and not ms.is_random("ties") and not ms.takes_density("svd")
    with pytest.raises(ValueError, match="density"):
        ms.settings("ties", [(1, 1)], (0.0,))
    with pytest.raises(ValueError, match="densities"):
        ms.settings("ties", [(1, 1)], ())
    with pytest.raises(ValueError, match="weight"):
        ms.settings("ties", [], (0.5,))
    with pytest.raises(TypeError):
        ms.settings(None)


def test_choose_takes_the_highest_mean_over_tasks_then_the_weakest_task():
    rows = [_row([1.0], None, **{"None": {"qa": [1, 1, 1, 0], "lookup": [0, 0, 0, 0]}}),   # mean 0.375, weakest 0
            _row([2.0], None, **{"None": {"qa": [1, 0, 0, 0], "lookup": [1, 0, 0, 0]}}),   # mean 0.25, weakest 0.25
            _row([3.0], None, **{"None": {"qa": [1, 1, 0, 0], "lookup": [1, 0, 0, 0]}})]   # mean 0.375, weakest 0.25
    assert ms.choose(rows) == 2                    # means tie at 0.375: the higher weakest task wins
    assert ms.choose(rows[:2]) == 0                # the mean first, not the weakest task
    assert ms.choose([rows[1], rows[1]]) == 0      # a full tie: grid order
    with pytest.raises(ValueError):
        ms.choose([])


def test_a_random_type_is_judged_by_its_mean_over_seeds():
    lucky = _row([1.0], 0.5, **{"0": {"qa": [1, 1]}, "1": {"qa": [0, 0]}, "2": {"qa": [0, 0]}})   # mean 1/3
    steady = _row([2.0], 0.5, **{"0": {"qa": [1, 0]}, "1": {"qa": [1, 0]}, "2": {"qa": [0, 1]}})  # mean 1/2
    assert ms.setting_means(lucky) == {"qa": pytest.approx(1 / 3)}
    assert ms.choose([lucky, steady]) == 1


@pytest.fixture(scope="module")
def shipped():
    model = PeftModel.from_pretrained(load_model(), adapter_path("qa"), adapter_name="qa")
    model.load_adapter(adapter_path("lookup"), adapter_name="lookup")
    return model, load_tokenizer()


def test_score_setting_is_reproducible_per_seed_and_leaves_the_model_as_it_was(shipped):
    model, tok = shipped
    evals = {"qa": TASKS["qa"].make_split("validation", 8)}
    kw = dict(adapters=["qa", "lookup"], ctype="dare_linear", weights=[1.0, 1.0], density=0.3, eval_sets=evals)
    a = ms.score_setting(model, tok, seed=0, **kw)
    assert ms.score_setting(model, tok, seed=0, **kw) == a          # the seed fixes DARE's drop
    assert list(model.peft_config) == ["qa", "lookup"] and model.active_adapter == "qa"
    with pytest.raises(ValueError, match="random"):
        ms.score_setting(model, tok, seed=None, **kw)
    with pytest.raises(ValueError, match="one weight per adapter"):
        ms.score_setting(model, tok, ["qa", "lookup"], "linear", [1.0], None, evals)
    with pytest.raises(ValueError, match="needs a density"):
        ms.score_setting(model, tok, ["qa", "lookup"], "ties", [1.0, 1.0], None, evals)


def test_the_shipped_table_chose_on_validation_and_scored_the_pick_on_test():
    table = ms.load_table()
    assert table["meta"]["chosen_on"] == "validation"
    for ctype, rows in table["validation"].items():
        assert len(rows) == len(ms.settings(ctype, table["meta"]["weight_grid"], table["meta"]["densities"]))
        assert table["chosen"][ctype] == {k: rows[ms.choose(rows)][k] for k in ("weights", "density")}
        seeds = len(table["meta"]["seeds"]) if ms.is_random(ctype) else 1
        assert len(table["test"][ctype]) == seeds and all(len(r["scores"]) == seeds for r in rows)
        scores = ms.test_scores(table, ctype)
        assert set(scores) == set(table["meta"]["adapters"])
        assert all(len(s) == seeds and all(len(x) == table["meta"]["n"] for x in s) for s in scores.values())
    assert table["equal_rank"]["weights"] == table["chosen"]["cat"]["weights"]
    assert {len(decode_correct(v)) for v in table["equal_rank"]["svd_test"].values()} == {table["meta"]["n"]}
    assert set(table["task_vectors"]) == {"qa/record", "qa/lookup", "record/lookup"}
