"""An interactive LoRA budget explorer: pick an architecture, targets and r; read the counts.

The widget only displays :func:`describe_lora`, which is plain Python (and tested), so a notebook
run headless shows the same numbers through a direct call.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from lorakit.count.architectures import available_configs
from lorakit.count.lora import count_lora
from lorakit.memory.bits import format_bytes, model_bytes

TARGET_PRESETS = {
    "q,v": ["q_proj", "v_proj"],                                   # the LoRA paper, PEFT's Llama default
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mlp": ["gate_proj", "up_proj", "down_proj"],
    "all-linear": "all-linear",                                    # QLoRA's recommendation
}
RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def describe_lora(name: str, target_modules: str | Iterable[str], r: int,
                  adapter_format: str = "fp16", model_format: str = "fp16") -> str:
    """Three lines: PEFT's count line, the number of adapted layers, and adapter vs model size."""
    c = count_lora(name, target_modules, r)
    adapter = format_bytes(model_bytes(c.trainable, adapter_format))
    model = format_bytes(model_bytes(c.base, model_format))
    return (f"{name}, r={r}, LoRA on {c.n_layers} linear layers\n{c}\n"
            f"adapter {adapter} ({adapter_format}) vs model {model} ({model_format})")


def lora_explorer(names: Sequence[str] | None = None, ranks: Sequence[int] = RANKS):
    """An ipywidgets box: architecture dropdown, target preset buttons, rank slider, result text."""
    try:
        import ipywidgets as widgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the explorer needs ipywidgets: pip install ipywidgets "
                          "(or call describe_lora() directly)") from err
    arch = widgets.Dropdown(options=list(names or available_configs()), description="model")
    targets = widgets.ToggleButtons(options=list(TARGET_PRESETS), description="targets")
    rank = widgets.SelectionSlider(options=list(ranks), value=8 if 8 in ranks else ranks[0], description="r")
    result = widgets.HTML()

    def update(_change=None) -> None:
        text = describe_lora(arch.value, TARGET_PRESETS[targets.value], rank.value)
        result.value = f"<pre>{text}</pre>"

    for widget in (arch, targets, rank):
        widget.observe(update, names="value")
    update()
    return widgets.VBox([arch, targets, rank, result])
