"""scripts/producers/qalora_init_validation.py: its fan_in = L redraw of QA-LoRA's A (the sweep itself is minutes)."""
import importlib.util
import math

import torch
from torch import nn

from lorakit.course.paths import REPO_ROOT
from lorakit.qalora import QALoRALinear, to_qalora

spec = importlib.util.spec_from_file_location("qalora_init_validation",
                                              REPO_ROOT / "scripts/producers/qalora_init_validation.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


def model(group_size):
    torch.manual_seed(0)
    return to_qalora(nn.Sequential(nn.Linear(512, 64), nn.Linear(512, 64)), group_size, 4, r=16, lora_alpha=32)


def test_redraw_uses_the_bound_for_fan_in_L():
    m = model(32)
    default = [layer.lora_A.weight.abs().max().item() for layer in m.modules() if isinstance(layer, QALoRALinear)]
    assert all(a <= 1 / math.sqrt(512) for a in default), "QALoRALinear's own bound is 1/sqrt(in_features)"
    assert script.redraw_A_fan_in_L(m, seed=0) == 2
    for layer in m.modules():
        if isinstance(layer, QALoRALinear):
            w, bound = layer.lora_A.weight, 1 / math.sqrt(512 // 32)
            assert w.abs().max() <= bound
            assert w.abs().max() > 0.9 * bound, "256 uniform draws reach close to the bound"
            assert torch.count_nonzero(layer.lora_B.weight) == 0, "B stays zero: the model still starts as its base"


def test_redraw_is_seeded():
    a, b = model(64), model(64)
    script.redraw_A_fan_in_L(a, seed=3)
    script.redraw_A_fan_in_L(b, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert script.BOUNDS == ("in_features", "L")
