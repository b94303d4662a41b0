"""The course's recipe as a command: ``python -m lorakit.train --config configs/<name>.yaml``.

Notebooks 02 (LoRA) and 04 (QLoRA) build the recipe step by step; this package runs the same recipe
from a YAML file, on one process or many under Hugging Face ``accelerate`` (DDP, FSDP):

* :mod:`.config`: the YAML schema as dataclasses, validated before anything loads;
* :mod:`.run`: model (LoRA, QLoRA or full), data, TRL ``SFTTrainer``, evaluation, an atomic adapter save;
* :mod:`.cli`: the command line (``lorakit-train``).
"""
from lorakit.recipe.config import ConfigError, RecipeConfig, load_recipe, validate

__all__ = ["ConfigError", "RecipeConfig", "load_recipe", "validate"]
