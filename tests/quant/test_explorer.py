"""lorakit.quant.explorer: the text the widget shows, and the widget itself."""
import pytest
import torch

from lorakit.memory.bits import bits_per_parameter
from lorakit.quant import describe_quantization, quant_explorer, quantization_mse


def test_describe_quantization_reports_error_and_bits():
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    text = describe_quantization(w, "int4", 128)
    assert text.startswith("int4, blocksize 128: MSE ")
    assert f"{quantization_mse(w, 'int4', 128):.3e}" in text
    assert f"{bits_per_parameter(128):.3f} bits/parameter" in text
    assert f"{bits_per_parameter(128, True):.3f} with double quantization" in text


def test_widget_updates_its_text():
    pytest.importorskip("ipywidgets")
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))
    box = quant_explorer(w)
    code, blocksize, result = box.children
    assert "nf4, blocksize 64" in result.value
    code.value, blocksize.value = "fp4", 4096
    assert "fp4, blocksize 4096" in result.value
