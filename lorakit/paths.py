"""Where the course's shipped files live, wherever the notebook runs from."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
TINY_LM_DIR = DATA_DIR / "tiny-lm"
QA_DIR = DATA_DIR / "qa"
CONFIGS_DIR = DATA_DIR / "configs"
