"""website/pages/glossary.md and next-steps.md: the glossary covers the course's terms, each with the
notebook that teaches it; every relative link of the pages leads to a file that exists; 00 links both."""
import json
import re

import pytest

from lorakit.course.paths import REPO_ROOT

PAGES = REPO_ROOT / "website" / "pages"
GLOSSARY = PAGES / "glossary.md"
NEXT = PAGES / "next-steps.md"
ENTRY = re.compile(r"^- \*\*(.+?)\*\*: (.+)$", re.MULTILINE)
LINK = re.compile(r"\]\((?![A-Za-z][\w+.-]*:|#)([^)\s#]+)[^)]*\)")

# The terms issue 25 names, and more the notebooks use: each must be an entry's bold name (or in it).
TERMS = ["LoRA", "rank", "α/r", "rsLoRA", "adapter", "target modules", "PEFT", "SFT", "TRL", "completion-only loss",
         "exact match", "answer in reply", "bootstrap interval", "paired difference", "equivalence margin",
         "NF4", "FP4", "INT4", "block size", "absmax", "double quantization", "dequantization", "paged optimizer",
         "gradient checkpointing", "autocast", "loss scaling", "QLoRA", "merge / unmerge", "task vector", "TIES",
         "DARE", "QA-LoRA", "group size", "zero point", "LongLoRA", "S²-Attn", "position interpolation", "RoPE",
         "passkey retrieval", "perplexity", "SVD", "compute dtype", "preset", "hot-swap",
         "prepare_model_for_kbit_training", "add_weighted_adapter", "trainable embeddings and norms",
         "compute capability", "hub model", "SQuAD", "greedy decoding", "unified memory", "DDP", "FSDP", "nbval"]


def entries() -> dict[str, str]:
    return dict(ENTRY.findall(GLOSSARY.read_text(encoding="utf-8")))


@pytest.mark.parametrize("term", TERMS)
def test_glossary_covers_the_course_terms(term):
    names = list(entries())
    assert any(term.lower() == n.lower() or re.search(rf"(^|[\s(]){re.escape(term.lower())}($|[\s),])", n.lower())
               for n in names), f"glossary.md has no entry for {term!r}"


def test_every_entry_names_an_existing_notebook_that_teaches_it():
    found = entries()
    assert len(found) >= len(TERMS)
    for name, text in found.items():
        taught = re.search(r"\*Taught in\* \[[^\]]+\]\(\.\./\.\./notebooks/(\d\d_\w+\.ipynb)\)\.$", text)
        assert taught, f"{name!r}: end with '*Taught in* [title](../../notebooks/NN_x.ipynb).'"
        assert (REPO_ROOT / "notebooks" / taught.group(1)).is_file(), f"{name!r}: no notebook {taught.group(1)}"


def test_glossary_links_carry_the_notebooks_titles():
    titles = {}
    for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]).splitlines()[0]
        titles[path.name] = first.split("·", 1)[1].strip().lower()
    for title, target in re.findall(r"\[([^\]]+)\]\(\.\./\.\./notebooks/(\d\d_\w+\.ipynb)\)",
                                    GLOSSARY.read_text(encoding="utf-8")):
        assert titles[target].startswith(title.lower()), f"link text {title!r} is not the title of {target}"


@pytest.mark.parametrize("page", [GLOSSARY, NEXT], ids=lambda p: p.name)
def test_relative_links_lead_to_files(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        assert (page.parent / target).resolve().is_file(), f"{page.name}: broken link {target}"


def test_next_steps_cites_the_papers():
    text = NEXT.read_text(encoding="utf-8")
    for method, arxiv in [("LoRA", "2106.09685"), ("rsLoRA", "2312.03732"), ("QLoRA", "2305.14314"),
                          ("TIES", "2306.01708"), ("DARE", "2311.03099"), ("QA-LoRA", "2309.14717"),
                          ("LongLoRA", "2309.12307")]:
        assert re.search(rf"^\| {re.escape(method)} \|.*arXiv {arxiv}", text, re.MULTILINE), method
    for cmd in ("MODEL_ID", "lorakit-train", "preset"):
        assert cmd in text


def test_start_here_links_both_pages():
    nb = json.loads((REPO_ROOT / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "(../website/pages/glossary.md)" in text and "(../website/pages/next-steps.md)" in text
