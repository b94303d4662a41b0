"""environment.yml (conda users) and pyproject.toml (pip users) must ask for the same packages."""
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():   # every extra: course, test, site, browser, ...
        reqs += extra
    parsed = [Requirement(r) for r in reqs]
    return {r.name.lower(): str(r.specifier) for r in parsed}


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    parsed = [Requirement(r) for r in pip_list if not r.startswith("-")]
    return {r.name.lower(): str(r.specifier) for r in parsed}


def test_same_packages_and_versions():
    assert _conda_requirements() == _pyproject_requirements()


def test_torch_is_unpinned_in_metadata():
    assert _pyproject_requirements()["torch"] == ""


def test_python_version_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert conda_python.removeprefix("python") == project["requires-python"]
