"""lorakit.studies.estimate_heldout: batches shaped as asked, one real measured point against the estimate."""
import warnings

import pytest
import torch

from lorakit.course.paths import TINY_LM_DIR
from lorakit.studies.estimate_heldout import check_point, random_batch


def test_random_batch_pads_like_collate():
    b = random_batch(100, 3, 8, pad_id=1)
    assert b["input_ids"].shape == (3, 8) and b["attention_mask"][0].tolist() == [1] * 6 + [0] * 2
    assert (b["labels"][0, 6:] == -100).all() and b["attention_mask"][1:].all()
    assert random_batch(100, 1, 8, pad_id=1)["attention_mask"].all()      # one row: nothing to pad
    with pytest.raises(ValueError, match="seq_len"):
        random_batch(100, 2, 0, pad_id=1)


def test_check_point_measures_and_estimates_the_same_parts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = check_point(TINY_LM_DIR, "lora", 4, ["q_proj", "v_proj"], False, 2, 16)
    assert set(out["measured"]) == set(out["estimated"]) == set(out["rel_error"])
    for part in ("base_weights", "lora_weights", "gradients", "optimizer_states"):   # counted, not modelled
        assert out["rel_error"][part] == 0
    assert out["measured"]["lora_weights"] == 4 * 4 * (128 + 128) * 2 * 4          # r (in + out), 2 per layer, 4 layers
    assert out["measured"]["activations"] > 0 and abs(out["rel_error"]["activations"]) < 0.5
    with pytest.raises(ValueError, match="'lora' or 'qlora'"):
        check_point(TINY_LM_DIR, "full", 4, "all-linear", False, 1, 8)
