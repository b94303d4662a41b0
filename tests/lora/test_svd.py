"""lorakit.lora.svd: Eckart–Young errors from singular values equal the explicit approximation's."""
import pytest
import torch
from torch.testing import assert_close

from lorakit.lora import low_rank_approximation, truncation_errors


def test_truncation_errors_match_explicit_approximation():
    torch.manual_seed(0)
    m = torch.randn(20, 12)
    errors = truncation_errors(m, [1, 3, 12, 30])
    for r, err in zip([1, 3], errors):
        explicit = (m - low_rank_approximation(m, r)).norm() / m.norm()
        assert err == pytest.approx(float(explicit), rel=1e-4)
    assert errors[2:] == [0.0, 0.0]
    assert errors[0] > errors[1]


def test_rank_r_matrix_is_exact_at_r():
    torch.manual_seed(0)
    m = torch.randn(30, 3) @ torch.randn(3, 20)
    assert truncation_errors(m, [3])[0] < 1e-5
    assert_close(low_rank_approximation(m, 3), m, rtol=1e-4, atol=1e-4)


def test_svd_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        truncation_errors(torch.randn(3), [1])
    with pytest.raises(ValueError, match="all zeros"):
        truncation_errors(torch.zeros(3, 3), [1])
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        low_rank_approximation(torch.randn(3, 5), 4)

