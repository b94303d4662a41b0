"""lorakit/__init__.py's docstring is the package's map: one line per subpackage and top-level module.

Adding or removing a package or module without its line in the map fails here; so does a line for
something that is not there. ``import lorakit`` must stay standard-library only (the Setup cell
imports it before anything is installed).
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

import lorakit

PACKAGE = Path(lorakit.__file__).resolve().parent


def _members(root: Path) -> set[str]:
    names = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    return names


def _mapped(doc: str) -> list[str]:
    return re.findall(r"^\* :mod:`lorakit\.(\w+)`", doc, flags=re.M)


def map_errors(root: Path, doc: str) -> list[str]:
    """What is wrong with ``doc`` as the map of the package folder ``root`` (empty: nothing)."""
    mapped, members = _mapped(doc), _members(root)
    errors = [f"mapped twice: {n}" for n in sorted({n for n in mapped if mapped.count(n) > 1})]
    errors += [f"no line in the map: {n}" for n in sorted(members - set(mapped))]
    errors += [f"mapped but not in lorakit/: {n}" for n in sorted(set(mapped) - members)]
    return errors


def test_every_subpackage_and_module_has_one_line_in_the_map():
    assert map_errors(PACKAGE, lorakit.__doc__) == [], "fix lorakit/__init__.py's docstring"


def test_the_check_catches_a_new_package_a_removed_one_and_a_double_line(tmp_path):
    (tmp_path / "lora").mkdir()
    (tmp_path / "lora" / "__init__.py").write_text("")
    (tmp_path / "stats.py").write_text("")
    doc = "* :mod:`lorakit.lora`: LoRA.\n* :mod:`lorakit.stats`: intervals.\n"
    assert map_errors(tmp_path, doc) == []
    (tmp_path / "newpkg").mkdir()
    (tmp_path / "newpkg" / "__init__.py").write_text("")
    assert map_errors(tmp_path, doc) == ["no line in the map: newpkg"]
    (tmp_path / "stats.py").unlink()
    assert "mapped but not in lorakit/: stats" in map_errors(tmp_path, doc)
    assert "mapped twice: lora" in map_errors(tmp_path, doc + "* :mod:`lorakit.lora`: again.\n")


def test_import_lorakit_uses_the_standard_library_only():
    code = ("import sys; before = set(sys.modules); import lorakit; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(sorted(m for m in new if m not in sys.stdlib_module_names and m != 'lorakit'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]", f"import lorakit pulled in third-party modules: {out}"


def test_package_inits_import_no_third_party_module_at_top_level_for_course():
    # lorakit.course.bootstrap runs in the Setup cell before installing anything: its package init
    # and its own imports must be standard library or lorakit.course.paths
    tree = ast.parse((PACKAGE / "course" / "bootstrap.py").read_text())
    top = {n.module.split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
           for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
           for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert top <= set(sys.stdlib_module_names) | {"lorakit", "__future__"}, top


def test_readme_layout_table_lists_every_mapped_name():
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n## ")]
    rows = set(re.findall(r"^\| `lorakit/(\w+)(?:/|\.py)` \|", layout, flags=re.M))
    expected = set(_mapped(lorakit.__doc__)) - {"train"}   # the alias is named in the recipe's row
    assert rows == expected, f"README's layout table: missing {sorted(expected - rows)}, extra {sorted(rows - expected)}"


# what may import what: the methods and the library under them never import the experiments, the
# recipe command or the exercises built on top (so a method can be read, and reused, on its own)
TOP = {"studies", "recipe", "exercises", "train"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[1] for n in names if n.startswith("lorakit.") and n.count(".") >= 1}
    return found


def test_methods_never_import_the_layers_above_them():
    wrong = {}
    for path in PACKAGE.rglob("*.py"):
        home = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if home in TOP or home == "__init__":
            continue
        bad = _imports(path) & TOP
        if bad:
            wrong[str(path.relative_to(PACKAGE.parent))] = sorted(bad)
    assert not wrong, f"these modules import a layer above them: {wrong}"
