"""lorakit.studies.rslora: the rank-stability sweep (rate chosen on validation, ranks x seeds on test)."""
import math

import pytest

from lorakit.data.qa import make_split
from lorakit.models.loading import load_tokenizer
from lorakit.stats import Comparison
from lorakit.studies import rslora
from lorakit.studies.ablations import variant_model


@pytest.mark.parametrize("scaling, expected", [("alpha/r", 16 / 64), ("alpha/sqrt(r)", 16 / math.sqrt(64))])
def test_variant_gives_peft_the_scaling_it_names(scaling, expected):
    model = variant_model(rslora.variant(scaling, 64, 1e-3, steps=5))
    assert model.base_model.model.model.layers[0].self_attn.q_proj.scaling["default"] == pytest.approx(expected)


def test_run_name_refuses_an_unknown_scaling():
    assert rslora.run_name("alpha/r", 4, 2e-3, 1) == "alpha/r r=4 lr=0.002 seed=1"
    with pytest.raises(ValueError, match="scaling must be one of"):
        rslora.run_name("alpha/r2", 4, 2e-3, 1)


def _table(val: dict, test: dict, ranks=(4, 16), lrs=(1e-3, 1e-2), seeds=(0, 1), chosen=None) -> dict:
    """A synthetic table: val[(scaling, lr)] = validation scores at the reference rank (16);
    test[(scaling, r)] = per-seed test score strings at the chosen rate."""
    runs = {}
    for (scaling, lr), v in val.items():
        runs[rslora.run_name(scaling, 16, lr, seeds[0])] = {"validation": {"em": v.count("1") / len(v), "correct": v},
                                                           "test": {"em": 0.0, "correct": "0" * 4}}
    for (scaling, r), per_seed in test.items():
        for seed, t in zip(seeds, per_seed):
            runs[rslora.run_name(scaling, r, chosen[scaling], seed)] = {"test": {"em": t.count("1") / len(t),
                                                                                "correct": t}}
    return {"meta": {"ranks": list(ranks), "lrs": list(lrs), "seeds": list(seeds), "ref_rank": 16, "alpha": 16},
            "chosen_lr": chosen or {}, "runs": runs}


def test_chosen_lr_is_the_best_on_validation_and_the_smaller_on_a_tie():
    table = _table({("alpha/r", 1e-3): "1000", ("alpha/r", 1e-2): "1100",
                    ("alpha/sqrt(r)", 1e-3): "1100", ("alpha/sqrt(r)", 1e-2): "1100"}, {})
    assert rslora.chosen_lr(table, "alpha/r") == 1e-2
    assert rslora.chosen_lr(table, "alpha/sqrt(r)") == 1e-3
    rows = rslora.rate_choice(table)
    assert rows[0] == {"scaling": "alpha/r", "multiplier at r=16": 1.0, "val EM at lr 0.001": 0.25,
                       "val EM at lr 0.01": 0.5, "chosen lr": 1e-2}
    assert rows[1]["multiplier at r=16"] == 4.0 and rows[1]["chosen lr"] == 1e-3
    del table["runs"][rslora.run_name("alpha/r", 16, 1e-2, 0)]
    with pytest.raises(ValueError, match="incomplete"):
        rslora.chosen_lr(table, "alpha/r")


def test_rank_sweep_averages_the_seeds_and_comparisons_pair_them():
    chosen = {"alpha/r": 1e-2, "alpha/sqrt(r)": 1e-3}
    test = {("alpha/r", 4): ["1" * 40 + "0" * 60, "1" * 60 + "0" * 40],       # 40% and 60%: mean 50%
            ("alpha/r", 16): ["1" * 50 + "0" * 50, "1" * 50 + "0" * 50],
            ("alpha/sqrt(r)", 4): ["1" * 20 + "0" * 80] * 2,
            ("alpha/sqrt(r)", 16): ["1" * 90 + "0" * 10] * 2}
    table = _table({}, test, chosen=chosen)
    assert rslora.rank_sweep(table) == {"alpha/r": {4: 0.5, 16: 0.5}, "alpha/sqrt(r)": {4: 0.2, 16: 0.9}}
    rows = rslora.rank_table(table)
    assert [(r["scaling"], r["r"], r["multiplier"]) for r in rows] == \
        [("alpha/r", 4, 4.0), ("alpha/r", 16, 1.0), ("alpha/sqrt(r)", 4, 8.0), ("alpha/sqrt(r)", 16, 4.0)]
    assert rows[0]["em per seed"] == [0.4, 0.6]
    cmp = rslora.rank_comparisons(table)
    assert all(isinstance(c, Comparison) for c in cmp) and len(cmp) == 2
    assert cmp[1].verdict == "alpha/sqrt(r) r=16 higher" and cmp[1].diff.mean == pytest.approx(0.7)
    assert cmp[0].verdict != "alpha/r r=16 higher"
    table["runs"].pop(rslora.run_name("alpha/r", 16, 1e-2, 1))
    with pytest.raises(ValueError, match="no run"):
        rslora.rank_sweep(table)


def test_run_sweep_chooses_on_validation_and_reuses_runs(tmp_path):
    tok, train = load_tokenizer(), make_split("train", 8)
    val, test = make_split("validation", 4), make_split("test", 4)
    seen = []
    kw = dict(steps=2, ranks=(2, 4), lrs=(1e-3, 1e-2), seeds=(0,), ref_rank=2)
    table = rslora.run_sweep(tok, train, val, test, on_row=lambda name, t: seen.append(name), **kw)
    # per scaling: 2 rates at r = 2, then 2 ranks x 1 seed at the chosen rate, one of which is a grid run
    assert len(seen) == len(set(seen)) == 2 * (2 + 2 - 1) == len(table["runs"])
    for scaling in rslora.SCALINGS:
        assert table["chosen_lr"][scaling] == rslora.chosen_lr(table, scaling)
        for r in (2, 4):
            row = table["runs"][rslora.run_name(scaling, r, table["chosen_lr"][scaling], 0)]
            assert row["steps"] == 2 and len(row["validation"]["correct"]) == len(row["test"]["correct"]) == 4
    loaded = rslora.load_table(rslora.save_table(table, tmp_path / "t.json"))
    assert set(rslora.rank_sweep(loaded)) == set(rslora.SCALINGS)
    again = rslora.run_sweep(tok, train, val, test, previous=loaded, on_row=lambda *a: seen.append("new"), **kw)
    assert "new" not in seen and again["runs"] == loaded["runs"]
    with pytest.raises(ValueError, match="ref_rank"):
        rslora.run_sweep(tok, train, val, test, steps=2, ranks=(2, 4), ref_rank=16)
    with pytest.raises(FileNotFoundError, match="rslora_sweep.py"):
        rslora.load_table(tmp_path / "missing.json")
