"""scripts/build_site.py: the course website's staging (the browser test checks the built pages)."""
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)

README = """# lorakit

An open course.

## Notebooks

| # | notebook | open |
|---|---|---|
| 00 | [Start here](notebooks/00_start_here.ipynb) | [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/old/place/blob/main/notebooks/00_start_here.ipynb) [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)](https://kaggle.com/kernels/welcome?src=https://github.com/old/place/blob/main/notebooks/00_start_here.ipynb) |
| 09 | [Later](notebooks/09_later.ipynb) | [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/old/place/blob/main/notebooks/09_later.ipynb) |

Text after the table.

## Quick start
"""


@pytest.mark.parametrize("value", ["https://github.com/owner/name", "https://github.com/owner/name.git",
                                   "git@github.com:owner/name.git", "owner/name", "https://github.com/owner/name/"])
def test_parse_repo(value):
    assert build_site.parse_repo(value) == "owner/name"


def test_parse_repo_rejects_other_text():
    with pytest.raises(ValueError, match="OWNER/NAME"):
        build_site.parse_repo("https://gitlab.com/a/b/c")


def _fake_repo(tmp_path, pyproject_tool="", setup_repo=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n' + pyproject_tool)
    (tmp_path / "notebooks").mkdir()
    if setup_repo:
        cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                "source": f'# Setup\nCOURSE_REPO = "{setup_repo}"\n'}
        (tmp_path / "notebooks" / "00_a.ipynb").write_text(json.dumps({"cells": [cell]}))
    return tmp_path


def test_course_repo_prefers_pyproject(tmp_path):
    root = _fake_repo(tmp_path, '[tool.lorakit]\nrepo = "https://github.com/me/course"\nbranch = "dev"\n',
                      setup_repo="https://github.com/other/repo")
    assert build_site.course_repo(root) == ("me/course", "dev")


def test_course_repo_falls_back_to_the_setup_cell_then_the_default(tmp_path):
    assert build_site.course_repo(_fake_repo(tmp_path / "a", setup_repo="https://github.com/other/repo")) == \
        ("other/repo", "main")
    assert build_site.course_repo(_fake_repo(tmp_path / "b")) == (build_site.DEFAULT_REPO, "main")


def _mkdirs(*paths):
    for p in paths:
        p.mkdir(parents=True)
    return paths


def test_badge_urls_match_the_readme_format():
    path = "notebooks/01_x.ipynb"
    assert build_site.badge_url("colab", "o/n", "main", path) == \
        "https://colab.research.google.com/github/o/n/blob/main/notebooks/01_x.ipynb"
    assert build_site.badge_url("kaggle", "o/n", "main", path) == \
        "https://kaggle.com/kernels/welcome?src=https://github.com/o/n/blob/main/notebooks/01_x.ipynb"
    with pytest.raises(ValueError, match="colab"):
        build_site.badge_url("binder", "o/n", "main", path)


def test_readme_table_is_the_table_under_the_heading():
    table = build_site.readme_table(README)
    assert table.splitlines()[0] == "| # | notebook | open |"
    assert len(table.splitlines()) == 4 and "Text after" not in table
    assert build_site.readme_table("# t\n\nno table\n") == ""


def test_site_table_links_pages_and_rewrites_badges():
    table = build_site.site_table(build_site.readme_table(README), "me/course", "main", {"00_start_here.ipynb"})
    row00, row09 = table.splitlines()[2:]
    assert "[Start here](00_start_here.ipynb)" in row00
    assert "[![Open in Colab](assets/colab-badge.svg)](https://colab.research.google.com/github/me/course/blob/main/notebooks/00_start_here.ipynb)" in row00
    assert "(assets/kaggle-badge.svg)" in row00 and "old/place" not in row00
    assert "Later" in row09 and "](" not in row09, "a notebook not in the course is plain text, without badges"


def _notebook():
    widget = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
              "data": {build_site.WIDGET_MIME: {"model_id": "abc"}, "text/plain": "VBox(...)"}}
    return {"metadata": {"widgets": {"state": {}}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# 01 · Title\n\ntext"},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "explorer()", "outputs": [widget]}]}


def test_prepare_notebook_adds_badges_and_replaces_widgets():
    nb = _notebook()
    out = build_site.prepare_notebook(nb, "BADGES", "committed notebook")
    assert out["cells"][0]["source"].startswith("BADGES") and "committed notebook" in out["cells"][0]["source"]
    assert "widgets" not in out["metadata"]
    assert out["cells"][2]["outputs"][0]["data"] == {"text/html": build_site.WIDGET_NOTE}
    assert nb["cells"][1]["outputs"][0]["data"]["text/plain"] == "VBox(...)", "the input is left alone"
    assert build_site.notebook_title(nb, "fallback") == "01 · Title"


def test_choose_sources_prefers_a_successful_course_run(tmp_path):
    nbs, course = tmp_path / "notebooks", tmp_path / "course"
    _mkdirs(nbs, course)
    paths = [nbs / f"0{i}_x.ipynb" for i in range(3)]
    for p in paths:
        p.write_text("{}")
    (course / "00_x.ipynb").write_text("{}")
    (course / "01_x.ipynb").write_text("{}")
    summary = {"00_x": {"status": "ok"}, "01_x": {"status": "FAILED"}}
    origins = [origin for _, _, origin in build_site.choose_sources(paths, course, summary)]
    assert origins == ["make course", "committed notebook", "committed notebook"]
    assert build_site.choose_sources(paths, tmp_path / "none", {})[0][1] == paths[0]


def test_summary_table_has_a_row_per_notebook():
    summary = {"00_a": {"status": "ok", "seconds": 12.34, "error": "", "results": {"em": 0.5, "note": "a|b"}},
               "01_b": {"status": "FAILED", "seconds": 3.0, "error": "ValueError: bad", "results": {}}}
    rows = build_site.summary_table(summary, {"00_a": "00 · A"}).splitlines()
    assert rows[2].startswith("| [00 · A](00_a.ipynb) | ok | 12.3 | em=0.5; note=a\\|b")
    assert rows[3] == "| 01_b | FAILED | 3.0 | ValueError: bad |"
    assert rows[4] == "| **all** | | **15.3** | |"


def test_stage_writes_every_notebook_in_course_order(tmp_path):
    pytest.importorskip("jupyter_server_mathjax")
    out = tmp_path / "site-src"
    origins = build_site.stage(out, tmp_path / "no-course-run")
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob(build_site.NOTEBOOK_GLOB))
    assert list(origins) == notebooks and set(origins.values()) == {"committed notebook"}
    config = yaml.safe_load((out / "mkdocs.yml").read_text())
    pages = sorted(p.name for p in build_site.PAGES.glob("*.md"))
    assert {"cheatsheet.md", "glossary.md", "next-steps.md"} <= set(pages)
    assert [list(item.values())[0] for item in config["nav"]] == ["index.md", *notebooks, *pages]
    glossary = (out / "docs" / "glossary.md").read_text()     # notebook links pointed at the site's pages
    assert "](01_lora_math_and_parameter_counting.ipynb)" in glossary and "../../notebooks/" not in glossary
    assert (out / config["INHERIT"]).resolve() == ROOT / "website" / "mkdocs.yml"
    assert (out / "docs" / "assets" / "mathjax" / "MathJax.js").is_file()
    assert (out / "docs" / "assets" / "mathjax" / "config" / "local" / "lorakit.js").is_file()
    index = (out / "docs" / "index.md").read_text()
    assert "No `make course` summary" in index
    for name in notebooks:
        assert f"]({name})" in index or name not in (ROOT / "README.md").read_text()


def test_site_config_needs_no_network():
    config = (ROOT / "website" / "mkdocs.yml").read_text()
    loaded = yaml.safe_load(config)
    assert loaded["theme"]["font"] is False, "Material would load Google Fonts"
    assert "repo_url" not in loaded, "Material would call the GitHub API from every page"
    jupyter = next(p["mkdocs-jupyter"] for p in loaded["plugins"] if isinstance(p, dict) and "mkdocs-jupyter" in p)
    assert jupyter["custom_mathjax_url"].startswith("assets/mathjax/"), "MathJax from a CDN"
    assert jupyter["execute"] is False


def test_pages_workflow_publishes_the_site_on_pushes_to_main():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = workflow[True]   # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    steps = workflow["jobs"]["build"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "build/site"
    assert any("make site" in s.get("run", "") for s in steps)
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages")


def test_site_links_point_notebooks_at_pages_and_other_files_at_github():
    text = ("[a](01_x.ipynb) [b](02_gone.ipynb#s) [c](../README.md#notebooks) [d](solutions/01_s.ipynb) "
            "[e](../lorakit/data/corpus.py) [f](https://example.org/a.ipynb) [g](#local) [h](attachment:p.png)")
    out = build_site.site_links(text, {"01_x"}, "o/n", "main")
    assert "[a](01_x.html)" in out
    assert "[b](https://github.com/o/n/blob/main/notebooks/02_gone.ipynb#s)" in out
    assert "[c](https://github.com/o/n/blob/main/README.md#notebooks)" in out
    assert "[d](https://github.com/o/n/blob/main/notebooks/solutions/01_s.ipynb)" in out
    assert "[e](https://github.com/o/n/blob/main/lorakit/data/corpus.py)" in out
    assert "[f](https://example.org/a.ipynb)" in out and "[g](#local)" in out and "[h](attachment:p.png)" in out


def test_site_links_point_at_the_site_pages():
    text = "[g](../website/pages/glossary.md#lora) [m](../website/pages/missing.md) [s](../website/mkdocs.yml)"
    out = build_site.site_links(text, set(), "o/n", "main", site_pages={"glossary"})
    assert "[g](glossary.html#lora)" in out
    assert "[m](https://github.com/o/n/blob/main/website/pages/missing.md)" in out
    assert "[s](https://github.com/o/n/blob/main/website/mkdocs.yml)" in out


def test_page_links_point_notebooks_at_their_pages_and_files_at_github():
    text = ("[a](../../notebooks/01_x.ipynb#s) [b](../../notebooks/solutions/01_s.ipynb) [c](glossary.md) "
            "[d](../../README.md#notebooks) [e](https://example.org/) [f](../../notebooks/09_gone.ipynb)")
    out = build_site.page_links(text, {"01_x"}, "o/n", "main")
    assert "[a](01_x.ipynb#s)" in out and "[c](glossary.md)" in out and "[e](https://example.org/)" in out
    assert "[b](https://github.com/o/n/blob/main/notebooks/solutions/01_s.ipynb)" in out
    assert "[d](https://github.com/o/n/blob/main/README.md#notebooks)" in out
    assert "[f](https://github.com/o/n/blob/main/notebooks/09_gone.ipynb)" in out


def test_prepare_notebook_rewrites_markdown_links_only():
    nb = _notebook()
    nb["cells"][0]["source"] = "# T\n\nsee [x](01_x.ipynb)"
    out = build_site.prepare_notebook(nb, "BADGES", "committed notebook", links=lambda t: t.replace("01_x.ipynb", "P"))
    assert out["cells"][1]["source"].endswith("[x](P)") and out["cells"][0]["source"].startswith("BADGES")
    assert nb["cells"][0]["source"].endswith("(01_x.ipynb)"), "the input is left alone"
