"""``python -m lorakit.recipe --config configs/<name>.yaml``: the recipe CLI (:mod:`lorakit.recipe.cli`)."""
import sys

from lorakit.recipe.cli import main

sys.exit(main())
