"""lorakit.memory.probe: storages counted once, saved tensors caught, parts of a step summed."""
import bitsandbytes as bnb
import pytest
import torch
from torch import nn

from lorakit.memory.probe import (SavedTensors, cuda_peak_bytes, gradient_bytes, measure_footprint,
                                  optimizer_state_bytes, relative_errors, unique_bytes, weight_bytes)


def test_unique_bytes_counts_a_storage_once():
    x = torch.zeros(10, 10)
    assert unique_bytes([x, x.view(100), x[:5], x.t()]) == 400
    assert unique_bytes([x, torch.zeros(3, dtype=torch.float16), None]) == 406


def test_saved_tensors_of_a_known_graph():
    # y = (x @ w).relu().sum(): mm saves x (w is a parameter: excluded), relu saves its output
    lin = nn.Linear(8, 4, bias=False)
    x = torch.randn(16, 8)
    with SavedTensors(lin) as saved:
        lin(x).relu().sum().backward()
    assert saved.nbytes == 16 * 8 * 4 + 16 * 4 * 4
    assert [row[:3] for row in saved.by_shape()] == [((16, 8), torch.float32, 1), ((16, 4), torch.float32, 1)]


def test_frozen_input_is_not_saved_for_a_frozen_layer():
    lin = nn.Linear(8, 4, bias=False).requires_grad_(False)
    x = torch.randn(16, 8, requires_grad=True)
    with SavedTensors(lin) as saved:
        lin(x).sum().backward()
    assert saved.nbytes == 0  # only the weight is needed for the input's gradient


def test_measure_footprint_small_mlp():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 1)

        def forward(self, x, labels):
            return type("Out", (), {"loss": ((self.b(self.a(x).relu()) - labels) ** 2).mean()})

    net = Net()
    opt = torch.optim.AdamW(net.parameters())
    fp = measure_footprint(net, {"x": torch.randn(5, 8), "labels": torch.zeros(5, 1)}, opt)
    n_params = sum(p.numel() for p in net.parameters())
    assert fp.base_weights == 4 * n_params and fp.lora_weights == 0
    assert fp.gradients == 4 * n_params
    assert fp.optimizer_states == 8 * n_params  # two float32 moments; AdamW's 0-d step counters left out
    assert weight_bytes(net) == (0, 4 * n_params) and gradient_bytes(net) == 4 * n_params
    assert fp.activations > 0


def test_optimizer_state_bytes_of_bitsandbytes_8bit():
    p = nn.Parameter(torch.randn(64, 128))  # 8,192 values: above min_8bit_size (4,096)
    opt = bnb.optim.AdamW8bit([p], lr=1e-3)
    p.grad = torch.randn_like(p)
    opt.step()
    blocks = 8192 // 256
    assert optimizer_state_bytes(opt) == 2 * 8192 + 2 * 4 * blocks + 2 * 256 * 4


def test_relative_errors_skip_zero_parts():
    from lorakit.memory.estimate import Footprint
    est = Footprint(110, 0, 90, 100, 50)
    meas = Footprint(100, 0, 100, 100, 50)
    assert relative_errors(est, meas) == pytest.approx({"base_weights": 0.1, "gradients": -0.1,
                                                        "optimizer_states": 0.0, "activations": 0.0})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU message")
def test_cuda_peak_bytes_says_it_needs_a_gpu():
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        cuda_peak_bytes(lambda: None)
