"""lorakit.quant.codes: FP4, INT4 and the 8-bit dynamic code against bitsandbytes; look-up by name."""
import logging

import pytest
import torch

from lorakit.quant import dynamic_code, fp4_code, get_code, int4_code, nf4_code

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402


def test_fp4_equals_bitsandbytes_bit_for_bit():
    ours, theirs = fp4_code(), bnb_f.get_4bit_type("fp4", device="cpu")
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.signbit(ours), torch.signbit(theirs)), "pattern 0b1000 holds +0.0 in both"


def test_fp4_sign_bit_mirrors():
    code = fp4_code()
    assert torch.equal(code[8:], -code[:8]) and code.abs().max() == 1


def test_int4_is_bitsandbytes_layout():
    # bitsandbytes' get_4bit_type("int4") builds this list but fails to normalise it (integer
    # tensor), so the oracle is its literal list.
    expected = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0, -0, -1, -2, -3, -4, -5, -6, -7]) / 7
    assert torch.equal(int4_code(), expected.float())


def test_int4_is_evenly_spaced():
    values = int4_code().unique()
    assert len(values) == 15
    torch.testing.assert_close(values.diff(), torch.full((14,), 1 / 7))


def test_dynamic_code_equals_bitsandbytes():
    ours = dynamic_code()
    assert ours.shape == (256,) and torch.equal(ours, bnb_f.create_dynamic_map())
    assert torch.all(ours[1:] > ours[:-1])


@pytest.mark.parametrize("name,fn", [("nf4", nf4_code), ("fp4", fp4_code), ("int4", int4_code)])
def test_get_code_by_name(name, fn):
    assert torch.equal(get_code(name), fn())


def test_get_code_passes_a_valid_tensor_through():
    code = torch.linspace(-1, 1, 16, dtype=torch.float64)
    assert get_code(code).dtype == torch.float32


@pytest.mark.parametrize("bad,error,match", [
    ("nf8", ValueError, "expected one of"),
    (3, TypeError, "a name"),
    (torch.zeros(8), ValueError, r"shape \(16,\)"),
    (torch.arange(16), ValueError, "float"),
    (torch.linspace(-2, 2, 16), ValueError, r"\[-1, 1\]"),
])
def test_get_code_rejects(bad, error, match):
    with pytest.raises(error, match=match):
        get_code(bad)
