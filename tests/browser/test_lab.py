"""JupyterLab driven like a learner, in headless Chromium: open a notebook, run all, use its explorer.

The server is `make lab`'s (`jupyter lab` from this environment, kernel `python3`) on a free local
port with a token, serving a copy of notebooks/ under build/browser/lab/ (JupyterLab autosaves, and
the committed notebooks must not change). For notebook 01 and 03 the test clears the outputs, runs
all cells from the Run menu, then checks: no error output outside the exercise stubs (cells tagged
``raises-exception``; text on stderr is printed); every plot is drawn; the explorer renders as a widget,
not as its text repr or "Error displaying widget"; moving its slider shows what ``lorakit`` computes
for the new setting. Screenshots go to build/browser/. The server, and every kernel it started,
is stopped whatever happens.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser_support import ROOT, SCREENSHOTS, free_port

LAB_DIR = ROOT / "build" / "browser" / "lab"
NB01 = "01_lora_math_and_parameter_counting.ipynb"
NB03 = "03_nf4_and_double_quantization.ipynb"
RUN_TIMEOUT_MS = 300_000   # all cells of one notebook; 01 and 03 take ~25 s each on 2 CPU cores
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# JupyterLab settings a learner would not notice: no news/update check (a network request and a
# pop-up over the notebook).
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False}}


@pytest.fixture(scope="module")
def lab():
    """`make lab`'s JupyterLab on a free port: yields (base URL, token); always stopped afterwards."""
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_widgets.py")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout   # a clear message beats "model not found"

    shutil.rmtree(LAB_DIR, ignore_errors=True)
    shutil.copytree(ROOT / "notebooks", LAB_DIR / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name, values in SETTINGS.items():
        path = LAB_DIR / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(LAB_DIR / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(LAB_DIR / "workspaces"),
           "LORAKIT_RESULTS_DIR": str(LAB_DIR / "results")}   # keep build/results for `make course`
    log = open(LAB_DIR / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", str(LAB_DIR / "notebooks"), "--no-browser",
         "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
         *(["--allow-root"] if os.geteuid() == 0 else [])],   # CI runs as root
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(server, base, token)
        yield base, token
    finally:
        _stop(server, base, token)
        log.close()


def _wait_for_server(server: subprocess.Popen, base: str, token: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}: see {LAB_DIR / 'jupyterlab.log'}")
        try:
            with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout} s: see {LAB_DIR / 'jupyterlab.log'}")


def _stop(server: subprocess.Popen, base: str, token: str) -> None:
    """Stop the server's process group and every kernel it started (kernels get their own session)."""
    import psutil

    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    try:
        request = urllib.request.Request(f"{base}api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(request, timeout=5).close()   # shuts the kernels down cleanly
        server.wait(timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    for child in children:
        if child.is_running():
            child.kill()


@pytest.fixture
def page(browser, request):
    """A fresh browser page; on failure, a screenshot of it goes to build/browser/failed-<test>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            page.screenshot(path=str(SCREENSHOTS / f"failed-{request.node.name}.png"))
        context.close()


# ---------------------------------------------------------------------------- driving JupyterLab

# Each takes the notebook's name and looks at its panel (not whatever tab is current: JupyterLab may
# restore other tabs), through the app object that --LabApp.expose_app_in_browser puts on window.
PANEL_JS = """const panel = window.jupyterapp && Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.context && w.context.path.endsWith(name));"""
CELLS_JS = "(name) => {" + PANEL_JS + """
  return panel.content.widgets.filter(c => c.model.type === 'code').map(c => ({
    tags: c.model.getMetadata('tags') || [],
    count: c.model.executionCount,
    prompt: c.promptNode ? c.promptNode.textContent : '',
    source: c.model.sharedModel.getSource().slice(0, 60),
    outputs: c.model.outputs.toJSON(),
  }));
}"""
KERNEL_IDLE_JS = "(name) => {" + PANEL_JS + """
  if (!panel || window.jupyterapp.shell.currentWidget !== panel || !panel.sessionContext.isReady) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && panel.content.widgets.length > 0;
}"""
RUN_DONE_JS = "(name) => {" + PANEL_JS + """
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(c => c.model.type === 'code');
  return !!kernel && kernel.status === 'idle'
    && code.every(c => c.model.executionCount !== null && !(c.promptNode && c.promptNode.textContent.includes('*')));
}"""


def _menu(page, menu: str, command: str) -> None:
    """Click a main-menu entry as a learner would: the menu, then the item."""
    page.click(f".lm-MenuBar-item:has-text('{menu}')")
    page.click(f".lm-Menu-item[data-command='{command}']")


def run_all(page, lab, name: str):
    """Open ``name``, clear its outputs, Run > Run All Cells, wait; return the code cells' state and
    a locator for the notebook's panel (the tab), to which every later look is confined."""
    base, token = lab
    page.goto(f"{base}lab/tree/{name}?reset&token={token}")   # reset: no tabs restored from the last test
    page.wait_for_function(KERNEL_IDLE_JS, arg=name, timeout=120_000)
    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"JupyterLab shows a dialog: {dialogs.first.inner_text()}"
    _menu(page, "Edit", "editmenu:clear-all")            # Clear Outputs of All Cells
    cells = page.evaluate(CELLS_JS, name)
    assert all(not c["outputs"] for c in cells), "outputs were not cleared before running"
    start = time.perf_counter()
    _menu(page, "Run", "runmenu:run-all")                # Run All Cells
    page.wait_for_function(RUN_DONE_JS, arg=name, timeout=RUN_TIMEOUT_MS, polling=500)
    print(f"{name}: all cells ran in JupyterLab in {time.perf_counter() - start:.1f} s")
    cells = page.evaluate(CELLS_JS, name)
    counts = [c["count"] for c in cells]
    assert counts == list(range(counts[0], counts[0] + len(counts))), f"cells did not all run, in order: {counts}"
    panel_id = page.evaluate("(name) => {" + PANEL_JS + " return panel.id; }", name)
    return cells, page.locator(f"[id='{panel_id}']")


def assert_no_errors(panel, cells: list[dict]) -> None:
    """No error output outside cells tagged raises-exception and no widget error. Text on stderr
    (warnings: output noise, not errors) is printed, not failed on."""
    problems = []
    for cell in cells:
        for out in cell["outputs"]:
            if out["output_type"] == "error" and "raises-exception" not in cell["tags"]:
                problems.append(f"{cell['source']!r}: {out['ename']}: {out['evalue']}")
            if out["output_type"] == "stream" and out["name"] == "stderr":
                text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
                print(f"stderr in cell {cell['count']} ({cell['source'][:30]!r}...): {text.strip()[:200]}")
    assert not problems, "error output in JupyterLab:\n" + "\n".join(problems)
    assert panel.locator("text=Error displaying widget").count() == 0, "JupyterLab shows 'Error displaying widget'"


def assert_plots_drawn(panel, cells: list[dict]) -> int:
    """Every image/png output is an <img> that loaded; returns how many."""
    expected = sum("image/png" in out.get("data", {}) for c in cells for out in c["outputs"])
    images = panel.locator(".jp-OutputArea-output img")
    assert expected > 0, "the notebook drew no matplotlib figure"
    assert images.count() == expected, f"{expected} figures in the outputs, {images.count()} <img> shown"
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        ok = images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        assert ok, f"figure {i + 1} did not load"
    return expected


def explorer(panel, cells: list[dict]):
    """The explorer's output: rendered as a widget box with a slider, not as text."""
    widget_cells = [c for c in cells if any(WIDGET_MIME in o.get("data", {}) for o in c["outputs"])]
    assert len(widget_cells) == 1, f"expected one explorer cell, found {len(widget_cells)}"
    box = panel.locator(".jp-OutputArea-output .widget-vbox").first
    box.wait_for(state="attached", timeout=30_000)
    box.scroll_into_view_if_needed()
    assert box.locator(".widget-slider .noUi-handle").count() >= 1, "the explorer has no slider"
    assert panel.locator(".jp-OutputArea-output pre:has-text('VBox(children=')").count() == 0, \
        "the explorer is shown as its text repr: the widget front end did not render it"
    return box


def screenshot(page, box, name: str) -> None:
    """The page with the explorer in the middle of the notebook's viewport, to build/browser/<name>."""
    box.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SCREENSHOTS / name))


def wait_for_new_text(box, before: str) -> None:
    """Wait until the explorer's text differs from ``before`` (the kernel answered the change).
    A locator, not an element handle: the HTML widget replaces its <pre> on every update."""
    from playwright.sync_api import expect

    expect(box.locator(".widget-html pre")).not_to_have_text(before, timeout=20_000)


def result_text(box) -> str:
    return box.locator(".widget-html pre").inner_text().strip()


def settled_text(page, box, expected: str, timeout_s: float = 60) -> str:
    """The explorer's text once it equals ``expected``, or the last text after ``timeout_s``.

    A drag sends the kernel several values on its way; the text changes at the first one, so the text
    seen right after the first change may belong to an intermediate value (a flaky failure before).
    """
    deadline = time.monotonic() + timeout_s
    text = result_text(box)
    while text != expected and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        text = result_text(box)
    return text


def drag_slider(page, box, fraction: float) -> str:
    """Drag the explorer's slider handle to ``fraction`` of its track; return the readout."""
    before = result_text(box)
    track = box.locator(".widget-slider .noUi-target").first.bounding_box()
    handle = box.locator(".widget-slider .noUi-handle").first.bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + fraction * track["width"], track["y"] + track["height"] / 2, steps=12)
    page.mouse.up()
    wait_for_new_text(box, before)
    return box.locator(".widget-readout").first.inner_text().strip()


def active_button(box) -> str:
    return box.locator(".widget-toggle-buttons button.mod-active").first.inner_text().strip()


# ---------------------------------------------------------------------------- the tests

def test_notebook_01_runs_and_its_explorer_counts_like_lorakit(page, lab):
    from lorakit.count import count_lora
    from lorakit.count.explorer import TARGET_PRESETS, describe_lora

    cells, panel = run_all(page, lab, NB01)
    assert_no_errors(panel, cells)
    assert_plots_drawn(panel, cells)
    box = explorer(panel, cells)
    model = box.locator(".widget-dropdown select").first.input_value()
    targets, r0 = active_button(box), int(box.locator(".widget-readout").first.inner_text())
    assert result_text(box) == describe_lora(model, TARGET_PRESETS[targets], r0), "the explorer's first text"
    screenshot(page, box, "lab-01-explorer-before.png")

    r = int(drag_slider(page, box, 0.8))
    assert r != r0, "the slider did not move"
    shown = settled_text(page, box, describe_lora(model, TARGET_PRESETS[targets], r))
    screenshot(page, box, "lab-01-explorer.png")
    assert shown == describe_lora(model, TARGET_PRESETS[targets], r), f"r={r}: the explorer shows {shown!r}"
    trainable = count_lora(model, TARGET_PRESETS[targets], r).trainable
    assert f"trainable params: {trainable:,}" in shown, f"lorakit.count gives {trainable:,} trainable parameters"


def test_notebook_03_runs_and_its_explorer_quantizes_like_lorakit(page, lab):
    cells, panel = run_all(page, lab, NB03)
    assert_no_errors(panel, cells)
    assert_plots_drawn(panel, cells)
    box = explorer(panel, cells)
    describe, weights = _shipped_weights()
    first = result_text(box)
    code, blocksize = active_button(box), int(box.locator(".widget-readout").first.inner_text())
    explored = [w for w in weights if describe(w, code, blocksize) == first]
    assert explored, f"no weight of the shipped model gives the explorer's first text {first!r}"

    blocksize = int(drag_slider(page, box, 0.9))
    shown = settled_text(page, box, describe(explored[0], code, blocksize))
    screenshot(page, box, "lab-03-explorer.png")
    assert shown == describe(explored[0], code, blocksize), f"{code}, blocksize {blocksize}: shows {shown!r}"

    other = next(b.strip() for b in box.locator(".widget-toggle-buttons button").all_inner_texts() if b.strip() != code)
    box.locator(".widget-toggle-buttons").get_by_role("button", name=other, exact=True).click()
    wait_for_new_text(box, shown)
    expected = describe(explored[0], other, blocksize)
    assert settled_text(page, box, expected) == expected, f"after choosing {other}"


def _shipped_weights():
    """``describe_quantization`` and the shipped model's linear weights (fp32), as notebook 03 loads them."""
    import torch

    from lorakit.models.loading import load_model
    from lorakit.quant import describe_quantization

    model = load_model(None, dtype=torch.float32)
    weights = [m.weight.detach() for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head")]
    return describe_quantization, weights
