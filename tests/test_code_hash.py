"""Code hashes: what a stage's outputs depend on is read from its imports, not listed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_study.infra import provenance

ROOT = Path(__file__).resolve().parents[1]


def test_a_stage_depends_on_the_modules_it_imports_transitively():
    found = set(provenance.code_dependencies(ROOT / "workflow_scripts" / "unlearn.py"))
    assert {
        "unlearn_study.study.evaluation",
        "unlearn_study.study.unlearning",
        "unlearn_study.backends.fairseq.scoring",
        "unlearn_study.metrics.core",
        "unlearn_study.methods",
        "unlearn_study.infra.io",
    } <= found
    assert not found & {
        "unlearn_study.study.neighbours",
        "unlearn_study.data.corpus",
        "unlearn_study.reporting.figures",
        "unlearn_study.analysis.claims",
    }
    assert not found & provenance.LOGGING_ONLY  # logging cannot change an output
    # methods are loaded by the registry, not imported: a job names its own
    assert "unlearn_study.methods.npo" not in found
    with_npo = provenance.code_dependencies(ROOT / "workflow_scripts" / "unlearn.py", "unlearn_study.methods.npo")
    assert "unlearn_study.methods.npo" in with_npo and "unlearn_study.methods.simnpo" not in with_npo


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``unlearn_study`` of three modules in tmp_path, standing in for the real one."""
    pkg = tmp_path / "unlearn_study"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "stage_module.py").write_text(
        "from . import io\n\ndef run():\n    from .helpers import helper\n    return helper()\n"
    )
    (pkg / "helpers.py").write_text("def helper():\n    return 1\n")
    (pkg / "io.py").write_text("")
    (pkg / "unrelated.py").write_text("x = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from unlearn_study.stage_module import run\n\nrun()\n")
    monkeypatch.setattr(provenance, "PACKAGE", pkg)
    return pkg, script


@pytest.mark.parametrize("script", sorted((ROOT / "workflow_scripts").glob("*.py")), ids=lambda p: p.stem)
def test_every_package_above_a_dependency_is_a_dependency_whatever_the_order(script):
    """Importing a.b.c runs a/__init__ and a/b/__init__. These were once found or not
    depending on the order of a set (the hash seed), so params changed between runs."""
    found = set(provenance.code_dependencies(script))
    for name in found:
        parts = name.split(".")
        assert {".".join(parts[:i]) for i in range(1, len(parts))} <= found, name
    code = f"from unlearn_study.infra import provenance; print(provenance.code_hash({str(script)!r}))"
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)}, capture_output=True
        ).stdout
        for seed in range(4)
    }
    assert len(hashes) == 1, hashes


def test_editing_a_helper_changes_the_hash_and_an_unrelated_module_does_not(package):
    pkg, script = package
    before = provenance.code_hash(script)
    assert set(provenance.code_dependencies(script)) == {
        "unlearn_study",
        "unlearn_study.stage_module",
        "unlearn_study.helpers",
        "unlearn_study.io",
    }
    (pkg / "unrelated.py").write_text("x = 2\n")
    assert provenance.code_hash(script) == before
    (pkg / "helpers.py").write_text("def helper():\n    return 2\n")  # imported inside a function
    assert provenance.code_hash(script) != before
