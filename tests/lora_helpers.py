"""Small models shared by the tests of lorakit.lora (one test file per module)."""
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from lorakit.lora import lora_layers


class Holder(nn.Module):
    """A one-layer model, so PEFT can target the layer by name."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.proj = layer

    def forward(self, x):
        return self.proj(x)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def peft_layer(base: nn.Linear, r: int, alpha: float, use_rslora: bool = False):
    model = get_peft_model(Holder(base), LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"],
                                                    use_rslora=use_rslora))
    return model.base_model.model.proj


def randomize_b(module: nn.Module, seed: int = 1) -> None:
    """Give every B a non-zero value so the LoRA branch actually contributes."""
    gen = torch.Generator().manual_seed(seed)
    for _, layer in lora_layers(module):
        layer.lora_B.weight.data = torch.randn(layer.lora_B.weight.shape, generator=gen) * 0.1

