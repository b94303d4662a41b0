import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from lorakit.models.device import compute_dtype, get_device
from lorakit.models.loading import DEFAULT_MODEL, load_model, load_tokenizer
from lorakit.course.paths import TINY_LM_DIR

LINEAR_NAMES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_loads_like_a_hub_model():
    model = AutoModelForCausalLM.from_pretrained(TINY_LM_DIR)
    assert isinstance(model, LlamaForCausalLM)
    names = {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert LINEAR_NAMES <= names
    assert model.model.embed_tokens is not None
    assert type(model.model.norm).__name__ == "LlamaRMSNorm"


def test_sizes_fit_nf4_blocks_and_qalora_groups():
    cfg = AutoModelForCausalLM.from_pretrained(TINY_LM_DIR).config
    assert cfg.hidden_size % 128 == 0 and cfg.intermediate_size % 128 == 0


def test_shipped_as_small_safetensors():
    files = list(TINY_LM_DIR.glob("*.safetensors"))
    assert files and not list(TINY_LM_DIR.glob("*.bin"))
    assert sum(f.stat().st_size for f in files) <= 16 * 2**20
    assert load_file(files[0])  # readable


def test_load_model_defaults(monkeypatch):
    monkeypatch.delenv("LORAKIT_MODEL_ID", raising=False)
    model = load_model()
    assert model.dtype == compute_dtype() and next(model.parameters()).device.type == get_device().type
    assert model.config.hidden_size == AutoModelForCausalLM.from_pretrained(TINY_LM_DIR).config.hidden_size
    tok = load_tokenizer()
    assert tok.pad_token is not None
    out = model(**tok(["Mia lives in"], return_tensors="pt"))
    assert out.logits.shape[-1] == model.config.vocab_size


def test_dtype_override():
    assert load_model(dtype=torch.bfloat16).dtype == torch.bfloat16


def test_unreachable_hub_id_falls_back_to_shipped_model(capsys):
    model = load_model("lorakit-tests/this-model-does-not-exist")
    assert model.config.hidden_size == AutoModelForCausalLM.from_pretrained(DEFAULT_MODEL).config.hidden_size
    assert "shipped tiny model" in capsys.readouterr().out


def test_bad_model_id_type():
    import pytest
    with pytest.raises(TypeError, match="hub id or a local path"):
        load_model(42)


def test_env_var_switches_the_default(monkeypatch, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(TINY_LM_DIR)
    model.config.rms_norm_eps = 1e-3  # a recognisable copy
    model.save_pretrained(tmp_path)
    monkeypatch.setenv("LORAKIT_MODEL_ID", str(tmp_path))
    assert load_model().config.rms_norm_eps == 1e-3


def test_a_4bit_model_keeps_its_stored_layout_after_an_inference_forward():
    # bitsandbytes 0.50 repacks Linear4bit weights at the first no-grad eval forward on AVX-512 BF16
    # CPUs (absmax turns 2-D); the course decodes the stored NF4 bytes, so load_model turns that off
    import bitsandbytes.functional as bnbf
    from transformers import BitsAndBytesConfig

    from lorakit.quant import QuantState, dequantize_4bit

    nf4 = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    model = load_model(quantization_config=nf4).eval()
    weights = {n: m.weight for n, m in model.named_modules() if hasattr(getattr(m, "weight", None), "quant_state")}
    before = {n: (w.data.clone(), w.quant_state.absmax.clone()) for n, w in weights.items()}
    assert weights and all(not m.support_avx512bf16_for_cpu for m in model.modules()
                           if hasattr(m, "support_avx512bf16_for_cpu"))
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    for name, w in weights.items():
        data, absmax = before[name]
        assert torch.equal(w.data, data) and torch.equal(w.quant_state.absmax, absmax), name
        assert not getattr(w.quant_state, "packing_format_for_cpu", False), name
        ours = dequantize_4bit(w.data, QuantState.from_bitsandbytes(w.quant_state))
        assert ours.shape == w.quant_state.shape


def test_label_shipped_table_prints_only_on_another_model(tmp_path, capsys):
    from lorakit.models.loading import label_shipped_table

    assert label_shipped_table(None, "rank table") is False and label_shipped_table("data/tiny-lm") is False
    assert capsys.readouterr().out == ""                       # the shipped model's outputs stay as recorded
    assert label_shipped_table(str(tmp_path), "rank table", live=True) is False and capsys.readouterr().out == ""
    assert label_shipped_table(str(tmp_path), "rank table") is True
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "rank table" in out and "shipped tiny model" in out and str(tmp_path) in out


@pytest.mark.parametrize("what", ["", "  ", None, 3])
def test_label_shipped_table_needs_a_name(what):
    from lorakit.models.loading import label_shipped_table

    with pytest.raises(ValueError, match="name the table"):
        label_shipped_table(None, what)
