"""Long documents and passkey examples: exact lengths, the key where it was asked, reproducible."""
import pytest

from lorakit.data.corpus import DEFAULT_MIX
from lorakit.data.longdocs import (DEPTHS, KEY_WORDS, QUESTION, long_document, long_documents, lm_pair,
                                   passkey_document, passkey_pair, passkey_split)
from lorakit.models.loading import load_tokenizer
from lorakit.training.loop import encode_pairs


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(None)


def _length(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1


@pytest.mark.parametrize("n_tokens", [64, 128, 512])
def test_passkey_examples_have_the_exact_length(tokenizer, n_tokens):
    examples = passkey_split(tokenizer, 10, n_tokens, seed=3)
    assert {_length(tokenizer, e["text"]) for e in examples} == {n_tokens}
    assert [e["depth"] for e in examples] == [DEPTHS[i % len(DEPTHS)] for i in range(10)]
    for e in examples:
        assert e["text"] == e["prompt"] + e["answer"] and e["prompt"].endswith(QUESTION)
        assert e["answer"] == f" {e['key']}." and all(w in KEY_WORDS for w in e["key"].split())
        assert e["text"].count(e["key"]) == 3                         # twice in the needle, once as answer


def test_the_trainer_sees_exactly_n_tokens(tokenizer):
    examples = passkey_split(tokenizer, 4, 256, seed=1)
    for pair_fn in (lm_pair, passkey_pair):
        encoded = encode_pairs(tokenizer, [pair_fn(e) for e in examples], max_length=1024)
        assert {len(x["input_ids"]) for x in encoded} == {256}
    answer_only = encode_pairs(tokenizer, [passkey_pair(examples[0])])[0]["labels"]
    assert sum(label != -100 for label in answer_only) == _length(tokenizer, examples[0]["answer"])


def test_the_key_sits_at_the_requested_depth(tokenizer):
    rng = __import__("random").Random(0)
    positions = [passkey_document(rng, tokenizer, 512, d)["key_position"] for d in DEPTHS]
    assert positions[0] == 0 and positions == sorted(positions)
    assert positions[-1] > 400                                         # just before the question
    assert abs(positions[2] - 230) < 60


def test_long_documents_are_exact_and_held_out(tokenizer):
    docs = long_documents(tokenizer, 5, 512)
    assert {_length(tokenizer, d) for d in docs} == {512}
    assert "\nQ: " in docs[0] and " A: " in docs[0]
    assert docs == long_documents(tokenizer, 5, 512)                   # reproducible
    assert docs != long_documents(tokenizer, 5, 512, seed=1)
    import random
    assert _length(tokenizer, long_document(random.Random(1), tokenizer, 200)) == 200


def test_bad_arguments(tokenizer):
    import random
    with pytest.raises(ValueError, match="depth"):
        passkey_document(random.Random(0), tokenizer, 128, 1.5)
    with pytest.raises(ValueError, match="n_tokens"):
        passkey_document(random.Random(0), tokenizer, 16, 0.5)
    with pytest.raises(ValueError, match="no room"):
        passkey_document(random.Random(0), tokenizer, 40, 0.5)


def test_pretraining_mix_untouched():
    assert set(DEFAULT_MIX) == {"passage", "qa", "repeat", "lookup", "notes"}
