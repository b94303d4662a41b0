"""The course's recipe as a command: ``lorakit-train --config configs/<name>.yaml``.

The same command is ``python -m lorakit.recipe`` and, as a documented alias, ``python -m lorakit.train``.

Notebooks 02 (LoRA) and 04 (QLoRA) build the recipe step by step; this package runs the same recipe
from a YAML file, on one process or many under Hugging Face ``accelerate`` (DDP, FSDP):

* :mod:`.config`: the YAML schema as dataclasses, validated before anything loads;
* :mod:`.run`: model (LoRA, QLoRA or full), data, TRL ``SFTTrainer``, evaluation, an atomic adapter save;
* :mod:`.estimate`: the memory per process a config needs (``--estimate``);
* :mod:`.cli`: the command line (``lorakit-train``, ``python -m lorakit.recipe``).
"""
from lorakit.recipe.config import ConfigError, RecipeConfig, load_recipe, validate

__all__ = ["ConfigError", "RecipeConfig", "load_recipe", "validate"]
