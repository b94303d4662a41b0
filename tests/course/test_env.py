"""lorakit.course.env: the version cell's report names every package the course uses."""
import importlib.metadata as md
import platform
import tomllib

from packaging.requirements import Requirement

from lorakit.course import env
from lorakit.course.paths import REPO_ROOT


def test_versions_name_python_and_every_package():
    got = env.versions()
    assert got["python"] == platform.python_version()
    assert set(got) == {"python", *env.PACKAGES}
    assert got["torch"] == md.version("torch")


def test_missing_package_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(env, "PACKAGES", ("torch", "no-such-package-lorakit"))
    assert env.versions()["no-such-package-lorakit"] == "missing"


def test_print_versions_ends_with_device_and_dtype(capsys, monkeypatch):
    monkeypatch.setenv("LORAKIT_DTYPE", "float16")
    env.print_versions()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(env.PACKAGES) + 1
    assert lines[-1].split(":", 1)[1].strip().endswith("torch.float16")


def test_packages_are_the_course_dependencies():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    deps = {Requirement(d).name for d in project["dependencies"]}
    assert set(env.PACKAGES) - {"lorakit"} <= deps
