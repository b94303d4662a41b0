"""Where the course's shipped files live, wherever the notebook runs from.

The only module that knows the repository's layout (its root, ``data/``, the configs folder, the
shipped model and the names that mean it): everything else, ``scripts/`` included, imports these.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DATA_DIR = REPO_ROOT / "data"
TINY_LM_DIR = DATA_DIR / "tiny-lm"
TINY_LM_ALIASES = ("tiny-lm", "data/tiny-lm")   # names that mean the shipped model
QA_DIR = DATA_DIR / "qa"
ARCHITECTURES_DIR = DATA_DIR / "architectures"  # hub configs of real architectures, <org>--<name>.json
RECIPES_DIR = REPO_ROOT / "configs"             # lorakit-train's YAML configs (accelerate's in accelerate/)
RESULTS_DATA_DIR = DATA_DIR / "results"         # precomputed sweeps that notebooks re-check live
BUILD_DIR = REPO_ROOT / "build"                 # everything generated: results, the course run, t4-sim
