"""lorakit.quant.nf4: the NF4 code book, checked against bitsandbytes' table and construction."""
import logging

import pytest
import torch
from scipy.stats import norm

from lorakit.quant import NF4_OFFSET, nf4_code

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402


def test_equals_bitsandbytes_table():
    ours, theirs = nf4_code(), bnb_f.get_4bit_type("nf4", device="cpu")
    torch.testing.assert_close(ours, theirs, atol=1e-7, rtol=0)
    assert torch.equal(ours, theirs), "built in float32 as bitsandbytes does, the table matches bit for bit"


def test_equals_create_normal_map_values():
    full = bnb_f.create_normal_map()  # (256,) with 241 zeros of padding
    nonzero = full[full != 0]
    expected = torch.cat([nonzero[nonzero < 0], torch.zeros(1), nonzero[nonzero > 0]])
    assert torch.equal(nf4_code(), expected)


def test_shape_and_structure():
    code = nf4_code()
    assert code.shape == (16,) and code.dtype == torch.float32
    assert torch.all(code[1:] > code[:-1]), "sorted, no duplicates"
    assert (code < 0).sum() == 7 and (code == 0).sum() == 1 and (code > 0).sum() == 8
    assert code[0] == -1 and code[7] == 0 and code[15] == 1


def test_positive_half_are_normal_quantiles():
    code = nf4_code()
    probs = torch.linspace(NF4_OFFSET, 0.5, 9)[:-1].double().numpy()
    expected = torch.tensor(norm.ppf(probs) / norm.ppf(NF4_OFFSET)).float().flip(0)
    torch.testing.assert_close(code[8:], expected, atol=1e-6, rtol=0)


def test_other_offset_still_spans_minus_one_to_one():
    code = nf4_code(0.99)
    assert code[0] == -1 and code[-1] == 1 and not torch.equal(code, nf4_code())


@pytest.mark.parametrize("offset", [0.5, 1.0, 1.2, 0.3])
def test_bad_offset(offset):
    with pytest.raises(ValueError, match="between 0.5 and 1"):
        nf4_code(offset)
