"""lorakit.count.explorer: the widget shows describe_lora's text and follows its controls."""
import pytest


def test_explorer_widget_updates():
    pytest.importorskip("ipywidgets")
    from lorakit.count import lora_explorer

    box = lora_explorer(names=["HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-2-7b-hf"])
    arch, targets, rank, result = box.children
    assert "SmolLM2-135M" in result.value
    arch.value = "meta-llama/Llama-2-7b-hf"
    assert "4,194,304" in result.value
    rank.value = 64
    targets.value = "all-linear"
    assert "159,907,840" in result.value
