"""lorakit.count.memory: bits per parameter and bytes, against QLoRA's figures (Dettmers et al. 2023, §3)."""
import pytest

from lorakit.count import BITS_PER_PARAM, bits_per_param, format_bytes, model_bytes


def test_bits_per_param_table():
    # the arithmetic lives in lorakit.quant.memory (tests/test_memory.py); the table uses QLoRA's numbers
    assert BITS_PER_PARAM["nf4"] == 4.5
    assert BITS_PER_PARAM["nf4"] - BITS_PER_PARAM["nf4-dq"] == pytest.approx(0.373, abs=1e-3)


@pytest.mark.parametrize("fmt,expected", [("fp32", 28e9), ("fp16", 14e9), ("int8", 7e9), ("nf4", 3.9375e9), (4, 3.5e9)])
def test_model_bytes(fmt, expected):
    assert model_bytes(7_000_000_000, fmt) == pytest.approx(expected)


def test_qlora_double_quant_saving_on_65b():
    """QLoRA §3: double quantisation saves about 3 GB on a 65B model."""
    saved = model_bytes(65e9, "nf4") - model_bytes(65e9, "nf4-dq")
    assert format_bytes(saved) == "3.0 GB"


def test_bits_per_param_rejects_unknown():
    with pytest.raises(ValueError, match="nf4"):
        bits_per_param("int3")
    assert bits_per_param(2.5) == 2.5


@pytest.mark.parametrize("n,text", [(350e9, "350 GB"), (37_748_736, "37.7 MB"), (13.48e9, "13.5 GB"), (512, "512 B")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text
