"""A stage imports what it uses: the cheap stages never pay for torch or fairseq, and no
job imports the MLflow UI helpers."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "fairseq", "unlearn_study.reporting.mlflow_view")


def imported_by(script: str) -> set[str]:
    """The heavy modules loaded by the script's imports and by describing its environment
    for MLflow (what every job does at its start), in a fresh interpreter."""
    tree = ast.parse((ROOT / "workflow_scripts" / script).read_text())
    imports = "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))
    code = (
        f"{imports}\nimport sys\nfrom unlearn_study.infra import tracking\ntracking.environment()\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(run.stdout.split())


@pytest.mark.parametrize("script", ["select_forget_set.py", "split_halves.py", "summarise.py", "select_id_sets.py"])
def test_cheap_stages_import_neither_torch_nor_fairseq(script):
    assert imported_by(script) == set()


def test_model_stages_import_torch_but_not_the_ui_helpers():
    assert imported_by("unlearn.py") == {"torch"}  # fairseq itself when the model loads
