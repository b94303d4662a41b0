#!/usr/bin/env python
"""Check that JupyterLab can draw this kernel's ipywidgets, before a learner meets the failure.

    python scripts/check_widgets.py        # prints one OK line, or each problem and its fix; exit 1

The check itself lives in :mod:`lorakit.doctor` (``python -m lorakit.doctor`` runs it with the rest of
the readiness check); this runs only the widget part, with ``jupyter labextension list`` as the last
word on whether the extension is enabled and OK. "Error displaying widget: model not found" (or a
widget shown as its text repr, ``VBox(children=...)``) is what a learner sees when it fails.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # the checkout's lorakit, installed or not

from lorakit.doctor import widgets_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(widgets_main())
