"""lorakit.memory.paging: the GPU demonstration refuses to run without a GPU, with the reason."""
import pytest
import torch

from lorakit.memory.paging import spike_demo


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU message")
def test_spike_demo_explains_why_it_needs_a_gpu():
    with pytest.raises(RuntimeError, match="nothing to page"):
        spike_demo("paged_adamw_32bit")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_spike_demo_plain_fails_and_paged_completes():
    plain = spike_demo("adamw_32bit")
    paged = spike_demo("paged_adamw_32bit")
    assert not plain["completed"] and "memory" in plain["error"].lower()
    assert paged["completed"] and paged["steps_done"] == 4
