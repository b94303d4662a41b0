"""The course website (build/site/, from `make site`) opened in headless Chromium, offline.

Every page reachable from the landing page loads without console errors or requests leaving this
machine, every image loads, every internal link (and #fragment) resolves, every Colab/Kaggle badge
points at a notebook that exists in this repository, the navigation follows the course order, each
notebook page shows its plots, math is typeset, and the search box finds a page.
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from browser_support import ROOT, SCREENSHOTS, free_port

sys.path.insert(0, str(ROOT / "scripts"))
import build_site  # noqa: E402

SITE = ROOT / "build" / "site"
STAGED = ROOT / "build" / "site-src" / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob(build_site.NOTEBOOK_GLOB))
BADGE_HREF = re.compile(r"^(?:https://colab\.research\.google\.com/github/|https://kaggle\.com/kernels/welcome\?src=https://github\.com/)"
                        r"([\w.-]+/[\w.-]+)/blob/([\w./-]+?)/(notebooks/.+\.ipynb)$")


@pytest.fixture(scope="module")
def site_url():
    """build/site/ served on a free local port (built first when missing)."""
    if not (SITE / "index.html").is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py")], check=True)
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = _QuietServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A page closed while a file was still being sent is not an error of the site."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def visits(browser, site_url):
    """Every HTML page reachable from index.html by internal links: url -> what the visit found."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    found, queue = {}, [site_url + "index.html"]
    try:
        while queue:
            url = queue.pop(0)
            if url in found:
                continue
            found[url] = _visit(context, url, site_url)
            for link in found[url]["links"]:
                target = urldefrag(link)[0]
                if target.startswith(site_url) and target.endswith(".html") and target not in found:
                    queue.append(target)
        yield found
    finally:
        context.close()


def _visit(context, url: str, site_url: str) -> dict:
    page = context.new_page()
    errors, external = [], []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda res: errors.append(f"HTTP {res.status}: {res.url}") if res.status >= 400 else None)

    def offline(route):
        if route.request.url.startswith((site_url, "data:", "blob:")):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(300)   # MathJax typesets after load
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.getAttribute('src').slice(0, 80), ok: e.complete && e.naturalWidth > 0}))")
    result = {
        "errors": errors, "external": external, "images": images,
        "links": page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"),
        "ids": set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")),
        "badges": page.eval_on_selector_all("a:has(img[src*='badge'])", "els => els.map(e => e.href)"),
        "nav": page.eval_on_selector_all(".md-nav--primary > .md-nav__list > .md-nav__item > a.md-nav__link",
                                         "els => els.map(e => e.textContent.trim())"),
        "png": page.eval_on_selector_all("img[src^='data:image/png']", "els => els.length"),
        "math": page.eval_on_selector_all(".MathJax, .MathJax_CHTML, .MathJax_Display", "els => els.length"),
        "math_errors": page.eval_on_selector_all(".MathJax_Error, merror", "els => els.length"),
        "text": page.inner_text("article"),
    }
    page.screenshot(path=str(SCREENSHOTS / f"site-{Path(urlparse(url).path).stem}-top.png"))
    page.close()
    return result


def _page(visits: dict, name: str) -> dict:
    matches = [v for url, v in visits.items() if url.endswith("/" + name)]
    assert matches, f"{name} is not reachable from the landing page"
    return matches[0]


def test_every_notebook_has_a_page_in_course_order(visits):
    names = [p.name for p in NOTEBOOKS]
    assert sorted(p.name for p in STAGED.glob(build_site.NOTEBOOK_GLOB)) == names, \
        "the site was built from another set of notebooks: rebuild it (make site)"
    titles = [build_site.notebook_title(json.loads(p.read_text()), p.stem) for p in NOTEBOOKS]
    for name in names:
        _page(visits, name.replace(".ipynb", ".html"))
    pages = [re.search(r"^# (.+)$", p.read_text(encoding="utf-8"), re.MULTILINE).group(1).strip()
             for p in sorted(build_site.PAGES.glob("*.md"))]
    nav = _page(visits, "index.html")["nav"]
    assert nav == ["Home", *titles, *pages], \
        f"navigation {nav} is not Home, the notebooks in course order, then website/pages/ (the cheat-sheet)"


def test_pages_load_without_console_errors_or_network(visits):
    problems = {url: v["errors"] for url, v in visits.items() if v["errors"]}
    assert not problems, f"console errors: {json.dumps(problems, indent=1)}"
    external = {url: v["external"] for url, v in visits.items() if v["external"]}
    assert not external, f"pages request things from outside the site (blocked): {json.dumps(external, indent=1)}"


def test_every_image_loads(visits):
    broken = {url: [i["src"] for i in v["images"] if not i["ok"]] for url, v in visits.items()}
    broken = {url: srcs for url, srcs in broken.items() if srcs}
    assert not broken, f"images that did not load: {broken}"


def test_every_internal_link_resolves(visits, site_url):
    checked, missing = {}, []
    for url, visit in visits.items():
        for link in visit["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(site_url):
                continue
            if target not in checked:
                try:
                    with urllib.request.urlopen(target) as response:
                        checked[target] = response.status
                except OSError as err:
                    checked[target] = str(err)
            if checked[target] != 200:
                missing.append(f"{url} -> {link}: {checked[target]}")
            elif fragment and target in visits and unquote(fragment) not in visits[target]["ids"]:
                missing.append(f"{url} -> {link}: no element with id {fragment!r}")
    assert not missing, "broken internal links:\n" + "\n".join(missing)


def test_badges_point_at_notebooks_in_this_repository(visits):
    repo, branch = build_site.course_repo(ROOT)
    for url, visit in visits.items():
        for href in visit["badges"]:
            match = BADGE_HREF.match(href)
            assert match, f"{url}: badge link {href} is not a Colab/Kaggle link to a GitHub notebook"
            assert (match.group(1), match.group(2)) == (repo, branch), \
                f"{url}: badge points at {match.group(1)}@{match.group(2)}, the course is {repo}@{branch}"
            assert (ROOT / match.group(3)).is_file(), f"{url}: badge points at {match.group(3)}, not in the repository"
    for nb in NOTEBOOKS:
        own = [h for h in _page(visits, nb.stem + ".html")["badges"] if h.endswith("/notebooks/" + nb.name)]
        assert len(own) == 2, f"{nb.stem}.html should carry its Colab and Kaggle badges, found {own}"


def test_notebook_pages_show_outputs_plots_and_math(visits):
    for nb_path in NOTEBOOKS:
        staged = json.loads((STAGED / nb_path.name).read_text())
        plots = sum("image/png" in out.get("data", {}) for c in staged["cells"] for out in c.get("outputs", []))
        has_math = any("$" in build_site._source(c) for c in staged["cells"] if c["cell_type"] == "markdown")
        visit = _page(visits, nb_path.stem + ".html")
        assert visit["png"] == plots, f"{nb_path.name}: {plots} plots in the notebook, {visit['png']} on the page"
        assert not visit["math_errors"], f"{nb_path.name}: MathJax reports errors"
        if has_math:
            assert visit["math"] > 0, f"{nb_path.name}: has $math$ but MathJax typeset nothing"


def test_landing_page_has_table_and_course_summary(visits):
    text = _page(visits, "index.html")["text"]
    for nb_path in NOTEBOOKS:
        title = build_site.notebook_title(json.loads(nb_path.read_text()), nb_path.stem)
        assert title.split("·")[-1].strip() in text or nb_path.stem[:2] in text, f"{nb_path.name} missing from the landing page"
    summary_file = ROOT / "build" / "course" / "summary.json"
    if summary_file.is_file():
        for stem, entry in json.loads(summary_file.read_text()).items():
            assert f"{entry['seconds']:.1f}" in text, f"the summary's {stem} row is missing"
    else:
        assert "No `make course` summary" in text or "No make course summary" in text


def test_search_finds_a_notebook(browser, site_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(site_url + "index.html", wait_until="networkidle")
        page.screenshot(path=str(SCREENSHOTS / "site-index.png"), full_page=True)
        page.click(".md-search__input")
        page.keyboard.type("quantization")   # Material searches as one types (fill() sends no key events)
        page.wait_for_selector(".md-search-result__item", timeout=10_000)
        hits = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
        page.screenshot(path=str(SCREENSHOTS / "site-search.png"))
        assert any(urlparse(h).path.endswith(".html") for h in hits), f"search results link nowhere: {hits}"
    finally:
        page.close()
