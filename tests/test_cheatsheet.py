"""website/pages/cheatsheet.md: every Python block runs, in order, on the shipped model (CPU, seconds).

The cheat-sheet states today's APIs (transformers 5, PEFT 0.21, TRL 1.x, bitsandbytes 0.50); running
its code against the installed libraries is what keeps it true. Its rules of thumb are checked
against lorakit's estimator.
"""
import os
import re
import warnings

import pytest

from lorakit.course.paths import REPO_ROOT
from lorakit.memory.bits import bits_per_parameter

PAGE = REPO_ROOT / "website" / "pages" / "cheatsheet.md"


def blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_every_block_runs_on_the_shipped_model(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)                # MODEL = "data/tiny-lm" and build/cheatsheet/ are relative
    code = blocks(PAGE.read_text(encoding="utf-8"))
    assert len(code) == 3
    namespace: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        for block in code:
            exec(compile(block, str(PAGE), "exec"), namespace)
    # a deprecated name the sheet writes fails the test; the libraries' own deprecation warnings (TRL
    # passing `gradient_checkpointing`, PEFT reading `is_gradient_checkpointing`) do not
    written = set(re.findall(r"\b(\w+)\s*=", "".join(code))) | set(re.findall(r"\.(\w+)\(", "".join(code)))
    deprecated = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)
                  and set(re.findall(r"`(\w+)`", str(w.message))[:1]) & written]
    assert deprecated == []
    import torch
    lora_b = [p for n, p in namespace["model"].named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b), "the LoRA run trained"
    assert all(p.dtype == torch.float32 for p in namespace["trainer"].model.parameters() if p.requires_grad)
    assert "Linear4bit" in {type(m).__name__ for m in namespace["qmodel"].modules()}
    assert namespace["base"].config.model_type == "llama" and not hasattr(namespace["merged"], "peft_config")
    assert os.path.isfile(REPO_ROOT / "build" / "cheatsheet" / "merged" / "model.safetensors")


def test_rules_of_thumb_match_the_estimator():
    """12 bytes/param and 783 GB for 65B full fine-tuning; NF4 + double quantization ≈ 0.52 bytes."""
    text = PAGE.read_text(encoding="utf-8")
    assert "783 GB (12 bytes/param)" in text and 65.3e9 * 12 / 1e9 == pytest.approx(783, abs=1)
    bits = bits_per_parameter(64, double_quant=True)
    assert f"≈ {bits / 8:.2f} bytes" in text and f"double quantization: {bits - 4:.3f} bits" in text
    assert f"one fp32 absmax per 64 weights = {bits_per_parameter(64) - 4:.1f} bits/param" in text
