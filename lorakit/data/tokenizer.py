"""The tiny model's byte-level BPE tokenizer, trained on the world corpus.

One choice matters for the QA task: whitespace is split off as its own token before BPE. In GPT-2
style tokenizers a word after a space (" Lima") and the same word at the start of a line ("Lima",
as in ``### ANSWER\\nLima``) are different tokens, and the second often falls apart into bytes. Here
both are the token ``Lima``, so the answer the model must write is the very token it read.
"""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .corpus import EOS

PAD = "<|pad|>"
SPLIT_PATTERN = r"\s+|[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]"


def train_tokenizer(texts: list[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on ``texts`` and wrap it for ``transformers``.

    Returns a ``PreTrainedTokenizerFast`` whose ``eos_token`` and ``bos_token`` are
    ``<|endoftext|>`` and ``pad_token`` is ``<|pad|>``; it saves and loads with
    ``AutoTokenizer`` like any hub tokenizer.
    """
    if vocab_size < 300:
        raise ValueError(f"vocab_size must be at least 300 (256 bytes + specials + merges), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD, unk_token=None,
        model_max_length=512, clean_up_tokenization_spaces=False,
    )
