"""Shared by every test folder: tests/ and tests/browser/ on sys.path, so their helper modules
(lora_helpers, browser_support) import by name under ``--import-mode=importlib``."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE / "browser"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
