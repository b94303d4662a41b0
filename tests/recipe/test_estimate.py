"""``lorakit-train --estimate``: a recipe config mapped onto notebook 04's memory estimator."""
from pathlib import Path

import pytest

from lorakit.memory.estimate import nf4_tensor_bytes, smallest_gpu
from lorakit.recipe.cli import main
from lorakit.recipe.config import load_recipe, validate
from lorakit.recipe.estimate import estimate, hardware_table, training_setup

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def test_training_setup_carries_every_field_of_the_config():
    cfg = load_recipe(CONFIGS / "qlora-7b-t4.yaml")
    s = training_setup(cfg)
    assert (s.method, s.r, s.target_modules) == ("qlora", cfg.lora.r, "all-linear")
    assert (s.batch_size, s.seq_len) == (cfg.training.per_device_batch_size, cfg.data.max_length)
    assert (s.optimizer, s.gradient_checkpointing) == (cfg.training.optim, cfg.training.gradient_checkpointing)
    assert s.dtype == "fp16" and s.double_quant is cfg.quantization.double_quant
    auto = validate({"lora": {"target_modules": ["q_proj", "v_proj"]}})   # model.dtype: auto
    assert training_setup(auto, "fp32").dtype == "fp32" and training_setup(auto).dtype == "bf16"
    assert training_setup(auto).target_modules == ("q_proj", "v_proj")


def test_qlora_base_weights_follow_the_nf4_arithmetic():
    # Llama-2-7B: 32 layers of 4 attention (4096x4096) and 3 MLP (4096x11008) linears in NF4; the rest
    # (embeddings, head, norms: 2*32000*4096 + 65*4096) upcast to float32 by prepare_model_for_kbit_training.
    cfg = load_recipe(CONFIGS / "qlora-7b-t4.yaml")
    per_layer = 4 * nf4_tensor_bytes(4096 * 4096) + 3 * nf4_tensor_bytes(4096 * 11008)
    rest = 4 * (2 * 32000 * 4096 + 65 * 4096)
    assert estimate(cfg).footprint.base_weights == pytest.approx(32 * per_layer + rest, rel=1e-9)


def test_fsdp_shards_weights_gradients_and_states_but_not_activations():
    cfg = load_recipe(CONFIGS / "qlora-70b-fsdp.yaml")
    one, eight = estimate(cfg, processes=1).per_process(), estimate(cfg, processes=8).per_process()
    for part in ("base_weights", "lora_weights", "gradients", "optimizer_states"):
        assert eight[part] == pytest.approx(one[part] / 8)
    assert eight["activations"] == one["activations"]
    ddp = validate({**_raw(CONFIGS / "qlora-70b-fsdp.yaml"), "distributed": {"strategy": "ddp"}})
    assert estimate(ddp, processes=8).total == pytest.approx(estimate(cfg, processes=1).total)


def test_which_gpu_fits():
    t4 = estimate(load_recipe(CONFIGS / "qlora-7b-t4.yaml"))
    assert t4.fits().startswith("T4"), str(t4)             # the config's promise: one T4 (14.7 GiB for PyTorch)
    fsdp = load_recipe(CONFIGS / "qlora-70b-fsdp.yaml")
    assert not estimate(fsdp, processes=8).fits().startswith("T4")   # bf16: never a T4
    one = estimate(fsdp, processes=1)                      # 70B on one process: 47.0 GiB, so a 48 GiB card
    assert smallest_gpu(one.total, one.dtype, margin_gib=0) == "48 GB"   # holds it only to the last GiB
    assert one.fits() == "80 GB"                           # with FIT_MARGIN_GIB (1 GiB) kept free
    lora = {k: v for k, v in _raw(CONFIGS / "qlora-70b-fsdp.yaml").items() if k != "quantization"}
    assert estimate(validate({**lora, "method": "lora"}), processes=1).fits().startswith("none")   # 16-bit LoRA of 70B: no single GPU


def test_bad_arguments_are_named():
    cfg = load_recipe(CONFIGS / "lora-tiny.yaml")
    with pytest.raises(ValueError, match="processes"):
        estimate(cfg, processes=0)
    with pytest.raises(ValueError, match="device_dtype"):
        estimate(cfg, device_dtype="float16")


def test_cli_estimate(capsys):
    for name in ("lora-tiny", "qlora-tiny", "qlora-7b-t4", "qlora-70b-fsdp"):
        assert main(["--config", str(CONFIGS / f"{name}.yaml"), "--estimate", "--processes", "8"]) == 0
        assert "-> fits:" in capsys.readouterr().out
    assert main(["--config", str(CONFIGS / "lora-tiny.yaml"), "--estimate",
                 "--set", "model.id=nobody/unknown-model"]) == 2
    assert "no config for 'nobody/unknown-model'" in capsys.readouterr().err


def _raw(path):
    import yaml

    return yaml.safe_load(path.read_text())


def test_hardware_table_has_a_row_per_config_and_a_cell_per_process_count():
    paths = [CONFIGS / "qlora-7b-t4.yaml", CONFIGS / "qlora-70b-fsdp.yaml"]
    lines = hardware_table(paths, processes=(1, 8)).splitlines()
    assert len(lines) == 2 + len(paths) and "8 GPUs" in lines[0]
    assert lines[2].startswith("qlora-7b-t4") and lines[2].count("GiB") == 2
    seventy = lines[3].split("GiB")
    assert float(seventy[0].split()[-1]) > 2 * float(seventy[1].split()[-1])   # FSDP over 8 shards all but activations
