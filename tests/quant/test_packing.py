"""lorakit.quant.packing: two 4-bit indices per byte in bitsandbytes' order."""
import logging

import pytest
import torch

from lorakit.quant import byte_table, nf4_code, pack_4bit, quantize_blockwise, unpack_4bit

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
import bitsandbytes.functional as bnb_f  # noqa: E402


def test_first_index_goes_to_the_high_nibble():
    assert pack_4bit(torch.tensor([1, 2, 15, 0])).tolist() == [0x12, 0xF0]


def test_round_trip():
    idx = torch.randint(0, 16, (2, 3, 50), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    packed = pack_4bit(idx)
    assert packed.dtype == torch.uint8 and packed.shape == (150,)
    assert torch.equal(unpack_4bit(packed), idx.reshape(-1))


def test_unpacking_bitsandbytes_bytes_gives_our_indices():
    w = torch.randn(32, 64, generator=torch.Generator().manual_seed(1))
    packed, _ = bnb_f.quantize_4bit(w, blocksize=64, quant_type="nf4")
    idx, _ = quantize_blockwise(w, nf4_code(), 64)
    assert torch.equal(unpack_4bit(packed), idx)


def test_byte_table_decodes_both_nibbles():
    code = nf4_code()
    table = byte_table(code)
    assert table.shape == (256, 2)
    assert table[0x7F].tolist() == [code[7].item(), code[15].item()]


@pytest.mark.parametrize("bad,error,match", [
    (torch.tensor([1, 2, 3]), ValueError, "even number"),
    (torch.tensor([1, 16]), ValueError, r"0 \.\.\. 15"),
    (torch.tensor([1.0, 2.0]), TypeError, "integer indices"),
])
def test_pack_rejects(bad, error, match):
    with pytest.raises(error, match=match):
        pack_4bit(bad)


def test_unpack_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        unpack_4bit(torch.tensor([1, 2]))
