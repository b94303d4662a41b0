"""scripts/producers/qalora_group_cause.py: which model each method name builds (the runs themselves are minutes)."""
import importlib.util

import pytest
from torch import nn

from lorakit.course.paths import REPO_ROOT
from lorakit.lora import LoRALinear
from lorakit.qalora import QALoRALinear
from lorakit.studies import qalora_compare as compare

spec = importlib.util.spec_from_file_location("qalora_group_cause", REPO_ROOT / "scripts/producers/qalora_group_cause.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


class Block(nn.Module):   # a 128-wide and a 512-wide input, as the shipped model's attention and down projection
    def __init__(self):
        super().__init__()
        self.q_proj, self.down_proj = nn.Linear(128, 128), nn.Linear(512, 128)


def groups_of(model):
    return {m.in_features: m.group_size for m in model.modules() if isinstance(m, QALoRALinear)}


def test_build_names_each_method():
    config = compare.CompareConfig(seed=0)
    assert groups_of(script.build("qalora_g128", Block(), config, 4)) == {128: 128, 512: 128}
    assert groups_of(script.build("qalora_g32", Block(), config, 4)) == {128: 32, 512: 32}
    assert groups_of(script.build("control", Block(), config, 4)) == {128: 64, 512: 128}   # L = 2 where g128 leaves 1
    assert sum(isinstance(m, LoRALinear) for m in script.build("qlora", Block(), config, 4).modules()) == 2
    with pytest.raises(ValueError):
        script.build("dora", Block(), config, 4)
    assert script.METHODS == ("qlora", "qalora_g32", "qalora_g128")
