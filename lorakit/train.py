"""``python -m lorakit.train``: the documented alias of ``python -m lorakit.recipe`` (``lorakit-train``).

The plain fine-tuning loop lives in :mod:`lorakit.training.loop`; this module only runs the recipe CLI.
"""
import sys

from lorakit.recipe.cli import main

if __name__ == "__main__":
    sys.exit(main())
