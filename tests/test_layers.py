"""The layer rules of the README ("Layers"), as import-linter contracts in pyproject.toml.

The contracts are checked on the package as it is, every top-level module is checked to fall under
the rules that name modules one by one (a new module cannot slip past them), and a copy of the
package with forbidden imports added is checked to break them.
"""

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import lenbench

REPO = Path(__file__).resolve().parents[1]
LINTER = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {c["name"]: c for c in LINTER["contracts"]}
TOP_LEVEL = {f"lenbench.{m.name}" for m in pkgutil.iter_modules(lenbench.__path__)}


def lint(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the lenbench package under `root`, with this checkout's contracts."""
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "400"}  # one line per message
    return subprocess.run([sys.executable, "-c", command, str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True)


def contract(prefix: str) -> dict:
    return next(c for name, c in CONTRACTS.items() if name.startswith(prefix))


def test_the_layer_contracts_hold():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


def test_every_top_level_module_falls_under_the_rules_that_list_modules():
    assert set(contract("only lenbench.tracking")["source_modules"]) == TOP_LEVEL - {"lenbench.tracking"}
    assert set(contract("run.py wires")["source_modules"]) == TOP_LEVEL - {"lenbench.run"}
    allowed_to_methods = {"lenbench.methods", "lenbench.metrics", "lenbench.errors", "lenbench.budget_metrics"}
    lenbench_forbidden = {m for m in contract("methods/")["forbidden_modules"] if m.startswith("lenbench.")}
    assert lenbench_forbidden == TOP_LEVEL - allowed_to_methods


def test_a_forbidden_import_breaks_the_contracts(tmp_path):
    copy = tmp_path / "lenbench"
    shutil.copytree(REPO / "lenbench", copy, ignore=shutil.ignore_patterns("__pycache__", "shipped"))
    with (copy / "metrics.py").open("a") as f:
        f.write("\nimport mlflow  # noqa\n")
    with (copy / "methods" / "kimi.py").open("a") as f:
        f.write("\nfrom lenbench.train import grpo  # noqa\n")
    with (copy / "eval" / "vllm_backend.py").open("a") as f:
        f.write("\nfrom lenbench.eval import transformers_backend  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "Contracts: 2 kept, 3 broken." in result.stdout, result.stdout[-3000:]
    for broken in ("lenbench.metrics is not allowed to import mlflow",
                   "lenbench.methods is not allowed to import lenbench.train",
                   "lenbench.eval.vllm_backend is not allowed to import lenbench.eval.transformers_backend"):
        assert broken in result.stdout, result.stdout[-3000:]
