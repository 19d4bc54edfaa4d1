"""The three places that pin dependencies must agree: pyproject.toml, requirements/lock.txt, envs/aether.yaml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    versions = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            versions[normalise(name)] = version
    return versions


def project_requirements(extra: str | None = None) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [normalise(re.split(r"[<>=!~;\[ ]", requirement)[0]) for requirement in requirements]


def conda_pip_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "envs" / "aether.yaml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    return {normalise(line.split("==")[0]): line.split("==")[1] for line in pip_section}


def test_lock_pins_every_dependency():
    locked = locked_versions()
    missing = [name for name in project_requirements() + project_requirements("test") if name not in locked]
    assert missing == []


def test_lock_pins_cpu_torch_release():
    assert locked_versions()["torch"] == "2.13.0"


def test_conda_environment_matches_lock():
    locked = locked_versions()
    pins = conda_pip_pins()
    assert sorted(pins) == sorted(project_requirements())
    mismatched = {name: (version, locked[name]) for name, version in pins.items() if locked[name] != version}
    assert mismatched == {}


def test_conda_environment_python_matches_project():
    environment = yaml.safe_load((ROOT / "envs" / "aether.yaml").read_text())
    assert "python=3.11" in environment["dependencies"]
