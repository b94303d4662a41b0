"""Is this machine ready for the course? A check in well under 30 seconds, one line per finding.

    python -m lorakit.doctor        # or: make doctor. Exit code 0 when ready, 1 when not.

What it checks, each failure naming its fix:

1. Python against ``requires-python`` and every package against its bounds in ``pyproject.toml``
   (the dependencies and the ``course`` extra; :mod:`lorakit.course.bootstrap` reads the file, the one owner
   of that parsing). torch is unpinned there: its version and build are reported.
2. ``lorakit`` imports (its compute modules, not only the package's stdlib-only ``__init__``).
3. The shipped model (``data/tiny-lm``) loads through :mod:`lorakit.models` and one LoRA training step
   runs on it with PEFT (``LoraConfig`` on the attention projections, one AdamW step): the loss is
   finite and the adapter's B matrices moved off zero.
4. JupyterLab can draw the kernel's widgets: the installed ``jupyterlab_widgets`` satisfies the pin
   ``ipywidgets`` declares, JupyterLab loads the very ``@jupyter-widgets/jupyterlab-manager`` that
   package shipped (no stale copy shadows it), and JupyterLab's page config does not disable it
   (``scripts/check_widgets.py`` asks ``jupyter labextension list`` instead, seconds slower). Otherwise a learner sees "Error displaying widget: model not found" (or a widget's text repr,
   ``VBox(children=...)``). This checks the environment that runs both the server and the kernel;
   a kernel in another environment needs this run with that kernel's Python too.
5. Free disk where the course writes (``build/``): at least :data:`MIN_FREE_GB`.
6. The device and compute dtype the notebooks will use (:func:`lorakit.models.device.describe`).

Standard library plus the course's own dependencies; no POSIX-only calls (it runs on Windows).
``scripts/check_widgets.py`` runs check 4 alone.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from lorakit.course.bootstrap import _packaging, project_table
from lorakit.course.paths import REPO_ROOT, TINY_LM_DIR

MIN_FREE_GB = 2.0                     # executed notebooks, adapters, t4-sim outputs, the site
EXTRAS = ("course",)                  # what a learner's laptop needs besides the dependencies
INSTALL_FIX = 'pip install -e ".[course]"   (in the repository, inside the course\'s environment)'
EXTENSION = "@jupyter-widgets/jupyterlab-manager"
FRONTEND_PACKAGE = "jupyterlab_widgets"
WIDGETS_FIX = "pip install --upgrade ipywidgets jupyterlab_widgets (in the environment that runs `jupyter lab`)"


class Finding(NamedTuple):
    ok: bool
    what: str           # one line: what was found
    fix: str = ""       # what to do, when not ok

    def line(self) -> str:
        return f"  ok    {self.what}" if self.ok else f"  FAIL  {self.what}\n        fix: {self.fix}"


# ---------------------------------------------------------------------------- 1. versions

def course_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml",
                        extras: tuple[str, ...] = EXTRAS) -> tuple[str, list[str]]:
    """``(requires-python, requirement strings)`` from ``pyproject`` (dependencies plus ``extras``).

    Without a pyproject.toml (lorakit installed from a wheel) the installed package's metadata says the
    same.
    """
    if Path(pyproject).is_file():
        project = project_table(pyproject)
        reqs = list(project["dependencies"])
        for extra in extras:
            reqs += project.get("optional-dependencies", {}).get(extra, [])
        return project.get("requires-python", ""), reqs
    meta = md.metadata("lorakit")
    reqs = []
    for text in md.requires("lorakit") or []:
        name, _, marker = text.partition(";")
        extra = re.search(r'extra\s*==\s*"([^"]+)"', marker)
        if not marker.strip() or (extra and extra.group(1) in extras):
            reqs.append(name.strip())
    return meta.get("Requires-Python", ""), reqs


def python_finding(requires: str, version: str | None = None) -> Finding:
    """Python's version against ``requires`` (e.g. ``">=3.10"``)."""
    Requirement, Version = _packaging()
    version = version or ".".join(map(str, sys.version_info[:3]))
    spec = Requirement(f"python{requires}").specifier
    if spec.contains(Version(version), prereleases=True):
        return Finding(True, f"Python {version} ({sys.executable}) within {requires or 'any'}")
    return Finding(False, f"Python {version} is outside the course's bounds {requires}",
                   f"install Python {requires} (python.org, or `py -3.11 -m venv .venv` on Windows), "
                   "then recreate the course's environment")


def version_findings(reqs: list[str], installed=None) -> list[Finding]:
    """One finding for all packages within bounds, one per package outside them (missing, too old,
    too new), each with the pip command that fixes it. ``installed(name)`` -> version or None
    (default: the installed distributions)."""
    Requirement, Version = _packaging()
    installed = installed or installed_version
    good, bad = [], []
    for text in reqs:
        req = Requirement(text)
        have = installed(req.name)
        if have is None:
            bad.append(Finding(False, f"{req.name} is not installed (the course needs {text})", INSTALL_FIX))
        elif not req.specifier.contains(Version(have), prereleases=True):
            bad.append(Finding(False, f"{req.name} {have} is outside the course's bounds {req.specifier}",
                               f'pip install "{req.name}{req.specifier}"'))
        else:
            good.append(f"{req.name} {have}")
    found = [Finding(True, f"{len(good)} packages within pyproject.toml's bounds: {', '.join(good)}")] if good else []
    return found + bad


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------- 2-3. lorakit, the model, one LoRA step

def lorakit_finding() -> Finding:
    """``lorakit`` and the modules every notebook imports."""
    try:
        import lorakit.models.device  # noqa: F401
        import lorakit.models.loading  # noqa: F401
        import lorakit.models.presets  # noqa: F401
    except Exception as err:   # any import error is the finding
        return Finding(False, f"lorakit does not import: {type(err).__name__}: {err}",
                       f"{INSTALL_FIX}; then run this again from the same environment")
    import lorakit
    return Finding(True, f"lorakit {lorakit.__version__} imports from {Path(lorakit.__file__).parent}")


def lora_step_finding(model_dir: Path = TINY_LM_DIR) -> Finding:
    """Load the shipped model, wrap it with PEFT LoRA, take one AdamW step; check it trained."""
    fix = (f"check {model_dir} is complete (git status; `git lfs pull` if its .safetensors is a pointer), "
           f"then {INSTALL_FIX}")
    try:
        import torch
        from peft import LoraConfig, get_peft_model

        from lorakit.models.loading import load

        start = time.perf_counter()
        model, tokenizer, _ = load(str(model_dir), quiet=True)
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
        batch = tokenizer(["Q: where does Ada live? A: in the north."], return_tensors="pt").to(model.device)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        moved = max(p.abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)
    except Exception as err:
        return Finding(False, f"the shipped model did not load and train: {type(err).__name__}: {err}", fix)
    if not torch.isfinite(loss) or moved == 0:
        return Finding(False, f"one LoRA step gave loss {loss.item():.3g} and left lora_B at zero", fix)
    return Finding(True, f"shipped model loads, one PEFT LoRA step runs (loss {loss.item():.2f}, "
                         f"{time.perf_counter() - start:.1f} s)")


# ---------------------------------------------------------------------------- 4. widgets

def pin_problems(ipywidgets: str | None, frontend: str | None, requires: list[str]) -> list[str]:
    """Problems with the (ipywidgets, jupyterlab_widgets) pair; ``requires`` is ipywidgets' metadata.

    >>> pin_problems("8.1.9", "3.0.17", ["jupyterlab_widgets~=3.0.17"])
    []
    >>> pin_problems("8.1.9", "3.0.10", ["jupyterlab_widgets~=3.0.17"])[0].split(":")[0]
    'ipywidgets 8.1.9 needs jupyterlab_widgets~=3.0.17, but jupyterlab_widgets 3.0.10 is installed'
    """
    Requirement, _ = _packaging()
    if ipywidgets is None:
        return [f"ipywidgets is not installed in {sys.executable}'s environment: pip install ipywidgets"]
    if frontend is None:
        return [f"{FRONTEND_PACKAGE} (the JupyterLab side of ipywidgets) is not installed: {WIDGETS_FIX}"]
    pins = [Requirement(r) for r in requires]
    pins = [r for r in pins if r.name.replace("-", "_").lower() == FRONTEND_PACKAGE and r.marker is None]
    return [f"ipywidgets {ipywidgets} needs {FRONTEND_PACKAGE}{pin.specifier}, but {FRONTEND_PACKAGE} "
            f"{frontend} is installed: widgets would show 'Error displaying widget: model not found'. "
            f"Fix: {WIDGETS_FIX}"
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
        return [f"JupyterLab finds no {EXTENSION} on its labextensions path: {WIDGETS_FIX}"]
    if shipped_hash is not None and _sha256_record(loaded) != shipped_hash:
        version = json.loads(loaded.read_text(encoding="utf-8")).get("version", "?")
        return [f"JupyterLab loads {EXTENSION} {version} from {loaded.parent}, which is not the copy "
                f"{FRONTEND_PACKAGE} {frontend} installed: a stale extension shadows it. "
                f"Fix: remove {loaded.parent}, then {WIDGETS_FIX}"]
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
        return [f"`jupyter labextension list` does not list {EXTENSION}: {WIDGETS_FIX}"]
    if not all("enabled" in line and "OK" in line for line in lines):
        return [f"{EXTENSION} is not enabled and OK: {lines[0].strip()!r}. "
                f"Fix: jupyter labextension enable {EXTENSION}"]
    return []


def start_labextension_list() -> subprocess.Popen | None:
    """``jupyter labextension list`` started in the background (seconds); None without jupyterlab."""
    if installed_version("jupyterlab") is None:
        return None
    return subprocess.Popen([sys.executable, "-m", "jupyter", "labextension", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def disabled_patterns(config_dirs: list[Path]) -> dict:
    """``disabledExtensions`` merged from the ``labconfig/page_config.json`` files JupyterLab reads
    (``jupyterlab_server.config.get_page_config``: the config path from the lowest priority up),
    read directly: importing JupyterLab to ask would cost the doctor seconds."""
    disabled: dict = {}
    for folder in reversed(config_dirs):
        page = Path(folder) / "labconfig" / "page_config.json"
        if page.is_file():
            value = json.loads(page.read_text(encoding="utf-8")).get("disabledExtensions", {})
            disabled.update({name: True for name in value} if isinstance(value, list) else value)
    return disabled


def disabled_problems(disabled: dict) -> list[str]:
    """The widget extension switched off in JupyterLab's page config (a name or a regex pattern)."""
    hits = [pattern for pattern, value in disabled.items()
            if value is not False and (pattern == EXTENSION or re.match(pattern, EXTENSION))]
    if hits:
        return [f"JupyterLab's page config disables {EXTENSION} ({hits[0]!r}). "
                f"Fix: jupyter labextension enable {EXTENSION}"]
    return []


def widget_problems(full: bool = False) -> list[str]:
    """Every widget problem in this environment (empty: widgets will render in JupyterLab).

    The doctor's fast path reads the page config for a disabled extension; ``full`` asks
    ``jupyter labextension list`` instead (seconds more), which also reports incompatible extensions.
    """
    ipywidgets, frontend = installed_version("ipywidgets"), installed_version(FRONTEND_PACKAGE)
    found = pin_problems(ipywidgets, frontend, (md.requires("ipywidgets") or []) if ipywidgets else [])
    if found:
        return found
    try:
        from jupyter_core.paths import jupyter_config_path, jupyter_path
    except ImportError:
        return [f"jupyter_core is not installed, so JupyterLab is not either. Fix: {INSTALL_FIX}"]
    if installed_version("jupyterlab") is None:
        return [f"JupyterLab is not installed. Fix: {INSTALL_FIX}"]
    found += shadow_problems(loaded_extension([Path(p) for p in jupyter_path("labextensions")]),
                             shipped_extension_hash(), frontend)
    if not full:
        return found + disabled_problems(disabled_patterns([Path(p) for p in jupyter_config_path()]))
    out, _ = start_labextension_list().communicate(timeout=120)
    return found + enabled_problems(out)


def widget_finding() -> Finding:
    problems = widget_problems()
    if problems:
        what, _, fix = problems[0].partition(" Fix: ")
        more = f" (and {len(problems) - 1} more: python scripts/check_widgets.py)" if len(problems) > 1 else ""
        return Finding(False, f"JupyterLab will not draw widgets: {what}{more}", fix or WIDGETS_FIX)
    return Finding(True, f"widgets: ipywidgets {installed_version('ipywidgets')} with {FRONTEND_PACKAGE} "
                         f"{installed_version(FRONTEND_PACKAGE)} ({EXTENSION} enabled, not shadowed)")


def widgets_main() -> int:
    """``scripts/check_widgets.py``: the widget check alone, every problem listed."""
    found = widget_problems(full=True)
    if found:
        print("Jupyter widgets will not render in JupyterLab:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(widget_finding().what.replace("widgets: ", "widgets OK: ", 1))
    return 0


# ---------------------------------------------------------------------------- 5-6. disk, device

def disk_finding(folder: Path = REPO_ROOT, min_free_gb: float = MIN_FREE_GB) -> Finding:
    free = shutil.disk_usage(folder).free / 1e9
    if free < min_free_gb:
        return Finding(False, f"{free:.1f} GB free on the disk holding {folder} (the course needs {min_free_gb:g} GB)",
                       f"free at least {min_free_gb - free:.1f} GB there (or clone the course onto a larger disk)")
    return Finding(True, f"{free:.0f} GB free on the disk holding {folder}")


def device_finding() -> Finding:
    try:
        from lorakit.models.device import describe
        return Finding(True, f"notebooks will run on: {describe()}")
    except Exception as err:
        return Finding(False, f"cannot tell the device: {type(err).__name__}: {err}",
                       "unset LORAKIT_DTYPE or set it to float32, float16 or bfloat16")


# ---------------------------------------------------------------------------- the report

def run(pyproject: Path = REPO_ROOT / "pyproject.toml", model: bool = True, widgets: bool = True) -> list[Finding]:
    """Every finding, in the order printed. ``model``/``widgets`` False skip those checks."""
    requires, reqs = course_requirements(pyproject)
    findings = [python_finding(requires), *version_findings(reqs), lorakit_finding()]
    if model:
        findings.append(lora_step_finding())
    if widgets:
        findings.append(widget_finding())
    findings += [disk_finding(), device_finding()]
    return findings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lorakit.doctor", description="Is this machine ready for the course?")
    ap.add_argument("--pyproject", type=Path, default=REPO_ROOT / "pyproject.toml", help="the bounds to check against")
    ap.add_argument("--no-model", action="store_true", help="skip loading the model and the LoRA step")
    ap.add_argument("--no-widgets", action="store_true", help="skip the JupyterLab widget check")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    print("lorakit doctor: is this machine ready for the course?")
    findings = run(args.pyproject, model=not args.no_model, widgets=not args.no_widgets)
    for finding in findings:
        print(finding.line())
    failed = sum(not f.ok for f in findings)
    verdict = "READY" if not failed else f"NOT READY: {failed} problem(s), each with its fix above"
    print(f"{verdict} ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
