import pytest
from transformers import AutoTokenizer

from lorakit.data.corpus import corpus_sample
from lorakit.data.tokenizer import train_tokenizer
from lorakit.data.world import VALUES
from lorakit.course.paths import TINY_LM_DIR


@pytest.fixture(scope="module")
def shipped():
    return AutoTokenizer.from_pretrained(TINY_LM_DIR)


@pytest.mark.parametrize("word", [v for values in VALUES.values() for v in values[:3]])
def test_answer_after_newline_is_the_token_read_after_a_space(shipped, word):
    after_space = shipped(f"lives in {word}", add_special_tokens=False)["input_ids"][-1:]
    after_newline = shipped(f"### ANSWER\n{word}", add_special_tokens=False)["input_ids"][-1:]
    assert after_newline == after_space
    assert shipped.convert_ids_to_tokens(after_space) == [f"Ġ{word}"], f"{word!r} should be one token"


def test_round_trip(shipped):
    text = "### CONTEXT\nMia lives in Oslo.  Two spaces.\n\n### ANSWER\nOslo"
    assert shipped.decode(shipped(text)["input_ids"], skip_special_tokens=True) == text


def test_special_tokens(shipped):
    assert shipped.eos_token == "<|endoftext|>" and shipped.pad_token == "<|pad|>"
    assert shipped.pad_token_id != shipped.eos_token_id


def test_training_is_deterministic():
    docs = corpus_sample(300, seed=5)
    a, b = train_tokenizer(docs, 512), train_tokenizer(docs, 512)
    assert a.get_vocab() == b.get_vocab()


def test_vocab_size_check():
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["x"], vocab_size=100)
