#!/usr/bin/env python
"""Check that JupyterLab can draw this kernel's ipywidgets, before a learner meets the failure.

    python scripts/check_widgets.py        # prints one OK line, or each problem and its fix; exit 1

"Error displaying widget: model not found" (or a widget shown as its text repr, ``VBox(children=...)``)
means the browser side, the JupyterLab extension ``@jupyter-widgets/jupyterlab-manager`` shipped by
the Python package ``jupyterlab_widgets``, is missing, disabled, shadowed by a stale copy, or not the
release the kernel's ``ipywidgets`` was built against. This checks, in the environment that runs both
``make lab``'s server and its kernel:

1. ``ipywidgets`` is installed, and the installed ``jupyterlab_widgets`` satisfies the pin that
   ``ipywidgets`` itself declares (ipywidgets 8.1.9 requires ``jupyterlab_widgets~=3.0.17``);
2. the ``jupyterlab-manager`` that JupyterLab loads (the first one on its labextensions path) is the
   very file ``jupyterlab_widgets`` installed (sha256 from the package's RECORD), not an older copy in
   ``~/.local/share/jupyter`` or ``/usr/local/share/jupyter`` that shadows it;
3. ``jupyter labextension list`` reports it enabled and OK.

It does not check a kernel that runs in another environment than the server (a kernelspec pointing
at a different Python): there, run this script with that kernel's Python too.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

EXTENSION = "@jupyter-widgets/jupyterlab-manager"
FRONTEND_PACKAGE = "jupyterlab_widgets"
FIX = "pip install --upgrade ipywidgets jupyterlab_widgets (in the environment that runs `jupyter lab`)"


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def pin_problems(ipywidgets: str | None, frontend: str | None, requires: list[str]) -> list[str]:
    """Problems with the (ipywidgets, jupyterlab_widgets) pair; ``requires`` is ipywidgets' metadata.

    >>> pin_problems("8.1.9", "3.0.17", ["jupyterlab_widgets~=3.0.17"])
    []
    >>> pin_problems("8.1.9", "3.0.10", ["jupyterlab_widgets~=3.0.17"])[0].split(":")[0]
    'ipywidgets 8.1.9 needs jupyterlab_widgets~=3.0.17, but jupyterlab_widgets 3.0.10 is installed'
    """
    if ipywidgets is None:
        return [f"ipywidgets is not installed in {sys.executable}'s environment: pip install ipywidgets"]
    if frontend is None:
        return [f"{FRONTEND_PACKAGE} (the JupyterLab side of ipywidgets) is not installed: {FIX}"]
    pins = [Requirement(r) for r in requires]
    pins = [r for r in pins if r.name.replace("-", "_").lower() == FRONTEND_PACKAGE and r.marker is None]
    return [f"ipywidgets {ipywidgets} needs {FRONTEND_PACKAGE}{pin.specifier}, but {FRONTEND_PACKAGE} "
            f"{frontend} is installed: widgets would show 'Error displaying widget: model not found'. "
            f"Fix: {FIX}"
            for pin in pins if not pin.specifier.contains(frontend, prereleases=True)]


def _sha256_record(path: Path) -> str:
    """A file's sha256 in the form a wheel's RECORD stores it (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()


def loaded_extension(labextension_dirs: list[Path]) -> Path | None:
    """The extension's package.json that JupyterLab loads: the first on the path wins
    (``jupyterlab_server.config.get_federated_extensions``)."""
    for folder in labextension_dirs:
        candidate = Path(folder) / EXTENSION / "package.json"
        if candidate.is_file():
            return candidate
    return None


def shadow_problems(loaded: Path | None, shipped_hash: str | None, frontend: str | None) -> list[str]:
    """Problems when the extension JupyterLab loads is missing or is not the one jupyterlab_widgets shipped."""
    if loaded is None:
        return [f"JupyterLab finds no {EXTENSION} on its labextensions path: {FIX}"]
    if shipped_hash is not None and _sha256_record(loaded) != shipped_hash:
        version = json.loads(loaded.read_text()).get("version", "?")
        return [f"JupyterLab loads {EXTENSION} {version} from {loaded.parent}, which is not the copy "
                f"{FRONTEND_PACKAGE} {frontend} installed: a stale extension shadows it. "
                f"Fix: remove {loaded.parent}, then {FIX}"]
    return []


def shipped_extension_hash() -> str | None:
    """sha256 (RECORD form) of the package.json that the installed jupyterlab_widgets ships."""
    try:
        files = md.files(FRONTEND_PACKAGE) or []
    except md.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "package.json" and EXTENSION in str(f).replace("\\", "/") and f.hash is not None:
            return f.hash.value
    return None


def enabled_problems(listing: str) -> list[str]:
    """Problems read from ``jupyter labextension list`` output (colour codes allowed)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listing)
    lines = [line for line in plain.splitlines() if EXTENSION in line]
    if not lines:
        return [f"`jupyter labextension list` does not list {EXTENSION}: {FIX}"]
    if not all("enabled" in line and "OK" in line for line in lines):
        return [f"{EXTENSION} is not enabled and OK: {lines[0].strip()!r}. "
                f"Fix: jupyter labextension enable {EXTENSION}"]
    return []


def problems() -> list[str]:
    """Every problem found in this environment (an empty list: widgets will render)."""
    from jupyter_core.paths import jupyter_path

    ipywidgets, frontend = installed_version("ipywidgets"), installed_version(FRONTEND_PACKAGE)
    found = pin_problems(ipywidgets, frontend, (md.requires("ipywidgets") or []) if ipywidgets else [])
    if found:
        return found
    found += shadow_problems(loaded_extension([Path(p) for p in jupyter_path("labextensions")]),
                             shipped_extension_hash(), frontend)
    listing = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"],
                             capture_output=True, text=True, timeout=120)
    return found + enabled_problems(listing.stdout + listing.stderr)


def main() -> int:
    found = problems()
    if found:
        print("Jupyter widgets will not render in JupyterLab:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"widgets OK: ipywidgets {installed_version('ipywidgets')} with {FRONTEND_PACKAGE} "
          f"{installed_version(FRONTEND_PACKAGE)} ({EXTENSION} enabled, not shadowed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
