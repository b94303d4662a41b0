"""The recipe's config loader: shipped configs validate, bad ones are refused with the key named."""
import copy
from pathlib import Path

import pytest
import yaml

from lorakit.recipe.cli import main
from lorakit.recipe.config import ConfigError, load_recipe, validate

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
QLORA = {"method": "qlora", "quantization": {"quant_type": "nf4", "double_quant": True}}


def test_configs_are_shipped():
    names = {p.name for p in CONFIGS}
    assert {"lora-tiny.yaml", "qlora-tiny.yaml", "qlora-7b-t4.yaml", "qlora-70b-fsdp.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    cfg = load_recipe(path)
    assert cfg.method in ("lora", "qlora", "full") and cfg.lora.r > 0


def test_fsdp_config_stores_4bit_weights_in_the_model_dtype():
    cfg = load_recipe(ROOT / "configs" / "qlora-70b-fsdp.yaml")
    assert cfg.distributed.strategy == "fsdp"
    assert cfg.quantization.quant_storage == cfg.model.dtype == "bfloat16"
    accel = yaml.safe_load((ROOT / "configs" / "accelerate" / "fsdp-qlora.yaml").read_text())
    assert accel["distributed_type"] == "FSDP"
    assert accel["fsdp_config"]["fsdp_use_orig_params"] is False
    assert accel["fsdp_config"]["fsdp_cpu_ram_efficient_loading"] is True


def test_defaults_and_yaml_float_strings():
    cfg = validate({"training": {"learning_rate": "2e-3"}})  # PyYAML reads 2e-3 as a string
    assert cfg.training.learning_rate == 2e-3 and cfg.method == "lora" and cfg.quantization is None


BAD = [  # (config, the key the message must name, a phrase it must contain)
    ({"methd": "lora"}, "methd", "did you mean 'method'"),
    ({"lora": {"rank": 8}}, "lora.rank", "did you mean 'r'"),
    ({"lora": {"r": 0}}, "lora.r", "positive int"),
    ({"lora": {"r": "sixteen"}}, "lora.r", "must be an int"),
    ({"lora": {"alpha": -1}}, "lora.alpha", "positive"),
    ({"lora": {"dropout": 1.5}}, "lora.dropout", "[0, 1)"),
    ({"lora": {"target_modules": []}}, "lora.target_modules", "non-empty list"),
    ({"method": "prefix"}, "method", "one of"),
    ({"model": {"dtype": "fp16"}}, "model.dtype", "one of"),
    ({"model": {"id": "./no/such/model"}}, "model.id", "no model folder"),
    ({"data": {"source": "./missing.jsonl"}}, "data.source", "no file"),
    ({"training": {"optim": "adamw_torh"}}, "training.optim", "did you mean 'adamw_torch'"),
    ({"training": {"max_steps": 0}}, "training.max_steps", "positive int"),
    ({"training": {"learning_rate": "fast"}}, "training.learning_rate", "must be a number"),
    ({"training": {"lr_scheduler": "cosin"}}, "training.lr_scheduler", "one of"),
    ({"training": "fast"}, "training", "must be a mapping"),
    ({"method": "qlora"}, "quantization", "needs a quantization section"),
    ({"quantization": {"quant_type": "nf4"}}, "quantization", "applies only to method: qlora"),
    ({**QLORA, "quantization": {"quant_type": "int4"}}, "quantization.quant_type", "nf4"),
    ({**QLORA, "distributed": {"strategy": "fsdp"}}, "quantization.quant_storage", "FSDP shards only float"),
    ({**QLORA, "model": {"dtype": "bfloat16"}, "distributed": {"strategy": "fsdp"},
      "quantization": {"quant_storage": "float16"}}, "quantization.quant_storage", "must equal model.dtype"),
    ({**QLORA, "model": {"dtype": "bfloat16"}, "distributed": {"strategy": "fsdp"},
      "quantization": {"quant_storage": "bfloat16"}, "training": {"optim": "paged_adamw_8bit"}},
     "training.optim", "fails when saving"),
    ({"distributed": {"strategy": "deepspeed"}}, "distributed.strategy", "one of"),
]


@pytest.mark.parametrize("raw, key, phrase", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_configs_name_the_key(raw, key, phrase):
    with pytest.raises(ConfigError) as info:
        validate(copy.deepcopy(raw))
    messages = [m for m in info.value.errors if m.startswith(key + ":") or m.startswith(key + " ")]
    assert messages, f"no message names {key!r}: {info.value.errors}"
    assert any(phrase in m for m in messages), messages


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate({"lora": {"r": 0, "alpah": 2}, "training": {"max_steps": -1}})
    assert len(info.value.errors) == 3


def test_missing_bitsandbytes_is_named(monkeypatch):
    import lorakit.recipe.config as config
    monkeypatch.setattr(config, "_has", lambda name: name != "bitsandbytes")
    with pytest.raises(ConfigError, match="needs bitsandbytes"):
        validate(copy.deepcopy(QLORA))


def test_cli_check_and_errors(tmp_path, capsys):
    assert main(["--config", str(ROOT / "configs" / "qlora-70b-fsdp.yaml"), "--check"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora: {r: 0}\n")
    assert main(["--config", str(bad), "--check"]) == 2
    assert "lora.r" in capsys.readouterr().err
    assert main(["--config", str(ROOT / "configs" / "lora-tiny.yaml"), "--set", "lora.r=0", "--check"]) == 2
    assert main(["--config", str(tmp_path / "none.yaml"), "--check"]) == 2
