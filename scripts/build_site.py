#!/usr/bin/env python
"""Build the course website (MkDocs + Material + mkdocs-jupyter) into build/site/, offline.

    python scripts/build_site.py              # stage build/site-src/, then mkdocs build --strict
    python scripts/build_site.py --stage-only # only write build/site-src/ (what mkdocs reads)

Each page is a notebook rendered with its outputs, in course order (``notebooks/NN_*.ipynb``, so a
new notebook appears without changing anything here). A notebook's outputs come from
``build/course/`` (written by ``make course``) when that run executed it without error, and otherwise
from the committed notebook, which carries its outputs: the page says which. The landing page holds
the notebook table of README.md and the summary of the last ``make course`` (build/course/summary.json).

Every page carries "Open in Colab" / "Open in Kaggle" badges built from the course repository named
in pyproject.toml (``[tool.lorakit] repo``), the same source as the README's badges and the notebooks'
Setup cell. The badge images and MathJax (from the ``jupyter-server-mathjax`` package) are served by
the site itself, and Material's Google Fonts are off, so the build and the pages need no network.
Interactive widgets cannot run on a static page: their output is replaced by a short note.

Pages that are not notebooks live in ``website/pages/*.md`` (the cheat-sheet, the glossary, next
steps): each is copied with its links pointed at the site (:func:`page_links`) and listed after the notebooks, titled by its first ``# `` heading. A page named in :data:`PDF_PAGES`
is also printed to ``build/site/<name>.pdf`` by headless Chromium (``--print-to-pdf``, the same
Debian ``chromium`` the browser tests drive; nothing is downloaded): a browser's print of the
page itself, so the PDF shows what the site shows, with the print styles of ``assets/extra.css``
(A4, no navigation). Without Chromium the site is built and the PDF is skipped, with one line.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
WEBSITE = REPO / "website"                   # committed: mkdocs.yml, badge images, CSS, MathJax settings
PAGES = WEBSITE / "pages"                    # pages that are not notebooks (the cheat-sheet), in name order
PDF_PAGES = ("cheatsheet",)                  # printed to build/site/<name>.pdf after the build
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DEFAULT_REPO = "lorakit-course/lorakit"      # used only when neither pyproject nor the Setup cell name one
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="lorakit-widget-note">An interactive explorer is shown here when the notebook '
               'runs in JupyterLab, Colab or Kaggle (widgets need a live Python kernel).</p>')
BADGES = {  # platform -> (alt text, image under assets/, URL prefix before "<owner>/<name>/blob/<branch>/<path>")
    "colab": ("Open in Colab", "assets/colab-badge.svg", "https://colab.research.google.com/github/"),
    "kaggle": ("Open in Kaggle", "assets/kaggle-badge.svg", "https://kaggle.com/kernels/welcome?src=https://github.com/"),
}
GITHUB_URL = re.compile(r"(?:https?://github\.com/|git@github\.com:)?([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


# ---------------------------------------------------------------------------- the course repository

def parse_repo(value: str) -> str:
    """``owner/name`` from a GitHub URL or an ``owner/name`` string.

    >>> parse_repo("https://github.com/lorakit-course/lorakit.git")
    'lorakit-course/lorakit'
    """
    match = GITHUB_URL.match(value.strip())
    if not match:
        raise ValueError(f"expected a GitHub repository as https://github.com/OWNER/NAME or OWNER/NAME, got {value!r}")
    return f"{match.group(1)}/{match.group(2)}"


def course_repo(root: Path = REPO) -> tuple[str, str]:
    """``(owner/name, branch)`` of the course on GitHub, read where the badges' other users read it.

    pyproject.toml ``[tool.lorakit]`` ``repo`` (and ``branch``, default ``main``), which
    scripts/set_course_repo.py also writes into the README's badges and the Setup cells; in a checkout
    without that table, the GitHub URL in notebook 00's Setup cell; else :data:`DEFAULT_REPO`.
    """
    table = _tool_table((root / "pyproject.toml").read_text())
    if table.get("repo"):
        return parse_repo(table["repo"]), table.get("branch", "main")
    first = sorted((root / "notebooks").glob(NOTEBOOK_GLOB))
    if first:
        for cell in json.loads(first[0].read_text())["cells"]:
            found = re.search(r'["\'](https://github\.com/[\w.-]+/[\w.-]+)["\']', _source(cell))
            if found:
                return parse_repo(found.group(1)), "main"
    return DEFAULT_REPO, "main"


def _tool_table(pyproject: str) -> dict:
    """pyproject.toml's ``[tool.lorakit]`` table (on Python 3.10, without tomllib: its string keys)."""
    try:
        import tomllib
    except ModuleNotFoundError:
        section = re.search(r"^\[tool\.lorakit\]\s*$(.*?)(?=^\[|\Z)", pyproject, re.MULTILINE | re.DOTALL)
        return dict(re.findall(r'^(\w+)\s*=\s*"([^"]*)"', section.group(1), re.MULTILINE)) if section else {}
    return tomllib.loads(pyproject).get("tool", {}).get("lorakit", {})


def badge_url(platform: str, repo: str, branch: str, path: str) -> str:
    """Where a badge for the repository file ``path`` (e.g. ``notebooks/00_start_here.ipynb``) points."""
    if platform not in BADGES:
        raise ValueError(f"platform must be one of {sorted(BADGES)}, got {platform!r}")
    return f"{BADGES[platform][2]}{repo}/blob/{branch}/{path}"


def badges_markdown(repo: str, branch: str, path: str) -> str:
    """Both badges as Markdown, images served by the site (``assets/``)."""
    return " ".join(f"[![{alt}]({image})]({badge_url(name, repo, branch, path)})"
                    for name, (alt, image, _) in BADGES.items())


# ---------------------------------------------------------------------------- notebooks

def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def notebook_title(nb: dict, fallback: str) -> str:
    """The first ``# `` heading of the notebook (the title cell), else ``fallback``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            found = re.search(r"^# (.+)$", _source(cell), re.MULTILINE)
            if found:
                return found.group(1).strip()
    return fallback


def choose_sources(notebooks: list[Path], course_dir: Path, summary: dict) -> list[tuple[Path, Path, str]]:
    """``(committed, source, origin)`` per notebook: the ``make course`` copy when it ran without error,
    else the committed notebook (which carries its outputs)."""
    chosen = []
    for path in notebooks:
        executed = course_dir / path.name
        ok = summary.get(path.stem, {}).get("status", "ok" if not summary else "missing") == "ok"
        if executed.is_file() and ok:
            chosen.append((path, executed, "make course"))
        else:
            chosen.append((path, path, "committed notebook"))
    return chosen


MARKDOWN_LINK = re.compile(r"\]\((?![A-Za-z][\w+.-]*:|#)([^)\s#?]+)([^)\s]*)\)")   # relative targets only


def site_links(text: str, pages: set[str], repo: str, branch: str, folder: str = "notebooks",
               site_pages: set[str] = frozenset()) -> str:
    """Markdown links of a notebook cell, pointed where they resolve on the site.

    A link to another course notebook (``01_x.ipynb``) goes to its page (``01_x.html``), a link to a
    page of ``website/pages/`` (``../website/pages/glossary.md``) to that page (``glossary.html``); a
    link to any other file of the repository (``../README.md#notebooks``, ``solutions/..``,
    ``../lorakit/x.py``) goes to that file on GitHub, since the site holds only the notebooks' pages.
    ``pages`` are the stems of the notebooks on the site, ``site_pages`` those of ``website/pages/*.md``;
    ``folder`` is where the notebook lives in the repository.
    """
    def fix(match: re.Match) -> str:
        target, rest = match.groups()
        if target.endswith(".ipynb") and "/" not in target and target[:-len(".ipynb")] in pages:
            return f"]({target[:-len('.ipynb')]}.html{rest})"
        path = os.path.normpath(f"{folder}/{target}").replace(os.sep, "/")
        if path.startswith(".."):
            return match.group(0)
        page = path.removeprefix("website/pages/").removesuffix(".md")
        if path.startswith("website/pages/") and path.endswith(".md") and page in site_pages:
            return f"]({page}.html{rest})"
        return f"](https://github.com/{repo}/blob/{branch}/{path}{rest})"

    return MARKDOWN_LINK.sub(fix, text)


def page_links(text: str, pages: set[str], repo: str, branch: str) -> str:
    """Markdown links of a ``website/pages/*.md`` page, pointed where they resolve on the site.

    The pages are written to read on GitHub too: a notebook is linked as ``../../notebooks/01_x.ipynb``,
    another page as ``glossary.md``. On the site the pages sit next to the notebooks, so a notebook link
    becomes ``01_x.ipynb`` (MkDocs resolves it to the notebook's page and checks it under ``--strict``),
    a link to another page stays as it is, and a link to any other file goes to GitHub.
    """
    def fix(match: re.Match) -> str:
        target, rest = match.groups()
        path = os.path.normpath(f"website/pages/{target}").replace(os.sep, "/")
        if path.startswith("website/pages/") or path.startswith(".."):
            return match.group(0)
        name = path.removeprefix("notebooks/")
        if name.endswith(".ipynb") and "/" not in name and name[:-len(".ipynb")] in pages:
            return f"]({name}{rest})"
        return f"](https://github.com/{repo}/blob/{branch}/{path}{rest})"

    return MARKDOWN_LINK.sub(fix, text)


def prepare_notebook(nb: dict, badges: str, origin: str, links=None) -> dict:
    """A copy for the site: badges first, widget views replaced by a note, widget state dropped, and
    markdown links passed through ``links`` (e.g. :func:`site_links`) when given."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        if links is not None and cell["cell_type"] == "markdown":
            cell["source"] = links(_source(cell))
        for i, out in enumerate(cell.get("outputs", [])):
            if WIDGET_MIME in out.get("data", {}):
                cell["outputs"][i] = {"output_type": "display_data", "metadata": {},
                                      "data": {"text/html": WIDGET_NOTE}}
    header = f'{badges}\n\n<small class="lorakit-origin">Outputs: {origin}.</small>'
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": header})
    return nb


# ---------------------------------------------------------------------------- the landing page

BADGE_LINK = re.compile(r"\[!\[([^\]]*)\]\(([^)\s]+)\)\]\(([^)\s]+)\)")
NOTEBOOK_LINK = re.compile(r"\]\((notebooks/[^)\s#?]+\.ipynb)\)")


def readme_table(readme: str, section: str = "Notebooks") -> str:
    """The first Markdown table under README's ``## <section>`` heading (empty when there is none)."""
    found = re.search(rf"^## {re.escape(section)}\s*$(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    if not found:
        return ""
    lines, started = [], False
    for line in found.group(1).splitlines():
        if line.lstrip().startswith("|"):
            lines.append(line)
            started = True
        elif started:
            break
    return "\n".join(lines)


def site_table(table: str, repo: str, branch: str, staged: set[str]) -> str:
    """README's table for the site: notebook links to the rendered pages (plain text when the notebook
    is not in the course yet), and badges with the site's images pointing where ``course_repo`` says."""
    def badge(match: re.Match) -> str:
        alt, _image, href = match.groups()
        path = re.search(r"(notebooks/[^)\s#?]+\.ipynb)", href)
        platform = "kaggle" if "kaggle" in href else "colab" if "colab" in href else None
        if platform is None or path is None:
            return match.group(0)
        if Path(path.group(1)).name not in staged:
            return ""
        return f"[![{alt}]({BADGES[platform][1]})]({badge_url(platform, repo, branch, path.group(1))})"

    def link(match: re.Match) -> str:
        name = Path(match.group(1)).name
        return f"]({name})" if name in staged else "]"

    table = BADGE_LINK.sub(badge, table)
    table = NOTEBOOK_LINK.sub(link, table)
    return re.sub(r"\[([^\]]+)\](?!\()", r"\1", table)   # links left without a target become text


def summary_table(summary: dict, titles: dict[str, str], width: int = 400) -> str:
    """The last ``make course`` run as a Markdown table: notebook, status, seconds, headline numbers."""
    sys.path.insert(0, str(REPO / "scripts"))
    from run_course import headline   # one owner for how headline numbers are written

    rows = ["| notebook | status | seconds | headline numbers |", "|---|---|---:|---|"]
    for stem, entry in summary.items():
        name = f"[{titles[stem]}]({stem}.ipynb)" if stem in titles else stem
        text = entry.get("error") or headline(entry.get("results", {}), width)
        text = text.replace("|", "\\|")
        rows.append(f"| {name} | {entry.get('status', '?')} | {entry.get('seconds', float('nan')):.1f} | {text} |")
    total = sum(e.get("seconds", 0.0) for e in summary.values())
    rows.append(f"| **all** | | **{total:.1f}** | |")
    return "\n".join(rows)


def landing_page(readme: str, repo: str, branch: str, staged: dict[str, str], summary: dict,
                 summary_time: float | None, origins: dict[str, str]) -> str:
    """index.md: what the course is, README's notebook table, the last ``make course`` summary."""
    intro = re.search(r"^# .+?\n\n(.+?)\n\n", readme, re.DOTALL)
    table = site_table(readme_table(readme), repo, branch, set(staged))
    lines = ["---", "hide:", "  - toc", "---", "",   # Material: the tables get the table of contents' width
             "# lorakit: the parameter-efficient fine-tuning course", ""]
    if intro:
        lines += [intro.group(1).strip(), ""]
    lines += ["Read the notebooks here with their outputs, or run them: each page has *Open in Colab* and "
              f"*Open in Kaggle* badges, and the [repository](https://github.com/{repo}) runs them "
              "locally (`make lab`).", "", "## Notebooks", ""]
    lines += [table or "\n".join(f"- [{title}]({name})" for name, title in staged.items()), ""]
    lines += ["## The last `make course` run", ""]
    if summary:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(summary_time)) if summary_time else "unknown time"
        titles = {Path(name).stem: title for name, title in staged.items()}
        lines += [f"Every notebook executed headless by `make course` ({when}): wall-clock seconds of that run "
                  "and the headline numbers each notebook recorded.", "", summary_table(summary, titles), ""]
    else:
        lines += ["No `make course` summary was found (`build/course/summary.json`): the pages show the "
                  "outputs committed with the notebooks.", ""]
    committed = [name for name, origin in origins.items() if origin != "make course"]
    if summary and committed:
        lines += [f"Pages showing committed outputs instead: {', '.join(sorted(committed))}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- staging and building

def mathjax_dir() -> Path:
    """MathJax 2.7 as the ``jupyter-server-mathjax`` package ships it (served by the site, no CDN)."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise SystemExit("the site needs the `site` extra: pip install -e '.[site]'") from err
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def stage(out: Path, course_dir: Path, root: Path = REPO) -> dict[str, str]:
    """Write the MkDocs project (config, index.md, notebooks, assets) into ``out``; return origins."""
    notebooks = sorted((root / "notebooks").glob(NOTEBOOK_GLOB))
    if not notebooks:
        raise SystemExit(f"no notebooks matching notebooks/{NOTEBOOK_GLOB}")
    summary_file = course_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    repo, branch = course_repo(root)

    docs = out / "docs"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(WEBSITE / "assets", docs / "assets")
    shutil.copytree(mathjax_dir(), docs / "assets" / "mathjax")
    shutil.copytree(WEBSITE / "mathjax", docs / "assets" / "mathjax" / "config" / "local")  # our settings

    staged, origins = {}, {}
    for committed, source, origin in choose_sources(notebooks, course_dir, summary):
        nb = json.loads(source.read_text())
        rel = committed.relative_to(root).as_posix()
        pages = {p.stem for p in notebooks}
        prepared = prepare_notebook(nb, badges_markdown(repo, branch, rel), origin,
                                    links=lambda text: site_links(text, pages, repo, branch,
                                                                  site_pages={p.stem for p in PAGES.glob("*.md")}))
        (docs / committed.name).write_text(json.dumps(prepared, indent=1) + "\n")
        staged[committed.name] = notebook_title(nb, committed.stem)
        origins[committed.name] = origin
        print(f"  {committed.name}: outputs from the {origin}")
    extra = {}
    for page in sorted(PAGES.glob("*.md")):
        (docs / page.name).write_text(page_links(page.read_text(encoding="utf-8"), {p.stem for p in notebooks},
                                                 repo, branch), encoding="utf-8")
        heading = re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
        extra[page.name] = heading.group(1).strip() if heading else page.stem
    readme = (root / "README.md").read_text()
    mtime = summary_file.stat().st_mtime if summary else None
    (docs / "index.md").write_text(landing_page(readme, repo, branch, staged, summary, mtime, origins))

    owner, name = repo.split("/")
    config = {
        "INHERIT": os.path.relpath(WEBSITE / "mkdocs.yml", out),
        "docs_dir": "docs",
        "site_dir": os.path.relpath(root / "build" / "site", out),
        "site_url": f"https://{owner.lower()}.github.io/{name}/",
        "nav": [{"Home": "index.md"}] + [{title: nb} for nb, title in staged.items()]
               + [{title: page} for page, title in extra.items()],
    }
    (out / "mkdocs.yml").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")  # JSON is YAML
    return origins


def chromium() -> str | None:
    """Chromium or Chrome to print with: ``$CHROMIUM``, else the first of :data:`BROWSERS` on the PATH."""
    return os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)


def print_pdf(html: Path, pdf: Path, browser: str) -> None:
    """``html`` printed to ``pdf`` by headless Chromium (A4 and margins from the page's print CSS)."""
    with tempfile.TemporaryDirectory() as profile:   # a fresh profile: no first-run state, no lock files
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                        f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--course-dir", default=str(REPO / "build" / "course"), help="executed notebooks (make course)")
    ap.add_argument("--stage-dir", default=str(REPO / "build" / "site-src"))
    ap.add_argument("--stage-only", action="store_true", help="write the MkDocs project, do not build")
    args = ap.parse_args()

    start = time.perf_counter()
    print(f"staging the site in {os.path.relpath(args.stage_dir)}/")
    stage(Path(args.stage_dir), Path(args.course_dir))
    if args.stage_only:
        return 0
    config = Path(args.stage_dir) / "mkdocs.yml"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config)],
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if done.returncode:
        return done.returncode
    site, browser = REPO / "build" / "site", chromium()
    for name in PDF_PAGES:
        if browser is None:
            print(f"  {name}.pdf not written: no Chromium (make chromium, or set CHROMIUM=/path/to/chrome)")
        else:
            print_pdf(site / f"{name}.html", site / f"{name}.pdf", browser)
            print(f"  {name}.pdf printed by {browser}")
    print(f"site built in {time.perf_counter() - start:.1f} s: open build/site/index.html, "
          "or serve it: python -m http.server -d build/site")
    return 0


if __name__ == "__main__":
    sys.exit(main())
