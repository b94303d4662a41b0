"""The tiny model's byte-level BPE tokenizer, trained on the world corpus.

GPT-2 style: a word carries the space before it (``ĠLima``), so the token before a word is the word
before it, which is what induction heads (the model's copying circuit) key on. One change matters for
the QA task: in GPT-2's tokenizer a word at the start of a line (``### ANSWER\nLima``) is a different
token from the same word after a space, and often falls apart into bytes. Here a normalizer puts a
space after every newline (and the decoder removes it again), so both are the token ``ĠLima``: the
answer the model must write is the very token it read in the passage.
"""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from lorakit.data.corpus import EOS

PAD = "<|pad|>"


def train_tokenizer(texts: list[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on ``texts`` and wrap it for ``transformers``.

    Returns a ``PreTrainedTokenizerFast`` whose ``eos_token`` and ``bos_token`` are
    ``<|endoftext|>`` and ``pad_token`` is ``<|pad|>``; it saves and loads with
    ``AutoTokenizer`` like any hub tokenizer. The vocabulary stops growing once every word of the
    world is one token, so it can end up smaller than ``vocab_size``.
    """
    if vocab_size < 300:
        raise ValueError(f"vocab_size must be at least 300 (256 bytes + specials + merges), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Replace(Regex(r"\n(?=[^\s])"), "\n ")  # a word after a newline gets its space
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Replace("\n ", "\n"),
                                     decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD, unk_token=None,
        model_max_length=1024, clean_up_tokenization_spaces=False,
    )
