"""The LongLoRA experiment's pieces run end to end at toy sizes and leave the shared base untouched."""
import pytest
import torch

from lorakit.studies import longlora as exp
from lorakit.longlora import interpolation_factor, s2_attn_enabled
from lorakit.models.loading import load


@pytest.fixture(scope="module")
def setup(longlora_toy):
    return longlora_toy


def test_data_sizes_and_lengths(setup):
    base, tok, data, config, run = setup
    assert (len(data.format_train), len(data.long_train), len(data.passkey_eval), len(data.heldout)) == (4, 4, 5, 2)
    assert {len(tok(e["text"])["input_ids"]) + 1 for e in data.long_train} == {config.long_len}
    assert run.steps == 2 and not any("lora" in n for n, _ in base.named_parameters())


@pytest.mark.parametrize("name", ["pi_only", "lora_s2", "full_ft", "lora_full_no_pi"])
def test_variants_run_and_base_is_untouched(setup, name):
    base, tok, data, config, _ = setup
    before = {n: p.clone() for n, p in base.state_dict().items()}
    record = exp.run_longlora_variant(base, tok, name, data, config)
    assert len(record["passkey_correct"]) == 5 and len(record["doc_nll"]) == 2 and record["ppl"] > 1
    assert ("s2_eval" in record) == exp.VARIANTS[name].s2
    assert ("steps" in record) == (exp.VARIANTS[name].train is not None)
    assert all(torch.equal(p, before[n]) for n, p in base.state_dict().items())
    assert interpolation_factor(base) == 1.0 and not s2_attn_enabled(base)


def test_prepare_sets_what_the_variant_says(setup):
    base, tok, data, config, _ = setup
    model = exp.prepare(base, exp.VARIANTS["longlora"], config)
    assert s2_attn_enabled(model) and interpolation_factor(model) == pytest.approx(2.0)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in names) and any("embed" in n for n in names) and any("norm" in n for n in names)


def test_saved_format_adapter_rebuilds_the_same_base(setup, tmp_path):
    _, tokenizer, data, config, _ = setup
    model = load(None, quiet=True)[0]
    trained, _ = exp.teach_format(model, tokenizer, data, config, save_to=tmp_path / "format")
    loaded = exp.load_format(load(None, quiet=True)[0], tmp_path / "format")
    fresh = load(None, quiet=True)[0].state_dict()
    changed = [n for n, p in trained.state_dict().items() if not torch.equal(p, fresh[n])]
    assert changed, "stage 1 must change the weights, or the comparison below proves nothing"
    assert all(torch.equal(p, loaded.state_dict()[n]) for n, p in trained.state_dict().items())
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        exp.load_format(load(None, quiet=True)[0], tmp_path)


def test_s2_eval_can_be_skipped(setup):
    base, tok, data, config, _ = setup
    assert "s2_eval" not in exp.run_longlora_variant(base, tok, "lora_s2", data, config, s2_eval=False)
