"""The course's own small causal LM: its architecture, and the packed token stream it trains on.

A Llama (RMSNorm, rotary positions, SwiGLU MLP) with the standard module names, so every
``target_modules`` lesson transfers verbatim to Llama, Qwen, SmolLM and Mistral. Hidden and
intermediate sizes are multiples of 128: NF4 blocks of 64 and QA-LoRA groups of 32/64/128 divide them.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM


@dataclass
class TinyLMConfig:
    vocab_size: int = 2048        # byte-level BPE trained on the world corpus
    hidden_size: int = 128        # a multiple of 128 (NF4 blocks, QA-LoRA groups)
    intermediate_size: int = 512  # SwiGLU width, a multiple of 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4  # head_dim = 32
    max_position_embeddings: int = 1024
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True  # keeps the checkpoint small

    def to_llama(self, bos_token_id: int, eos_token_id: int, pad_token_id: int) -> LlamaConfig:
        for name in ("hidden_size", "intermediate_size"):
            if getattr(self, name) % 128:
                raise ValueError(f"{name} must be a multiple of 128, got {getattr(self, name)}")
        return LlamaConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, num_key_value_heads=self.num_attention_heads,
            max_position_embeddings=self.max_position_embeddings,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            tie_word_embeddings=self.tie_word_embeddings, bos_token_id=bos_token_id,
            eos_token_id=eos_token_id, pad_token_id=pad_token_id,
        )


def build_model(config: TinyLMConfig, tokenizer, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised tiny Llama sized for ``tokenizer``."""
    torch.manual_seed(seed)
    llama = config.to_llama(tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return LlamaForCausalLM(llama)


def packed_batches(documents: Iterator[str], tokenizer, batch_size: int,
                   seq_len: int) -> Iterator[torch.Tensor]:
    """Token batches of shape (batch_size, seq_len + 1): documents joined by EOS and cut into rows.

    Each row gives inputs ``row[:-1]`` and targets ``row[1:]``.
    """
    row_len = seq_len + 1
    buffer: list[int] = []
    while True:
        while len(buffer) < batch_size * row_len:
            buffer.extend(tokenizer(next(documents))["input_ids"] + [tokenizer.eos_token_id])
        chunk, buffer = buffer[: batch_size * row_len], buffer[batch_size * row_len:]
        yield torch.tensor(chunk, dtype=torch.long).view(batch_size, row_len)
