"""Only lenbench.tracking imports mlflow: everything else records through its functions."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lenbench"
TRACKING = PACKAGE / "tracking"


def mlflow_importers(root: Path) -> set[Path]:
    """The modules under `root` with an `import mlflow...` or `from mlflow... import`, at any depth."""
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(name == "mlflow" or name.startswith("mlflow.") for name in names):
                found.add(path)
    return found


def test_only_the_tracking_package_imports_mlflow():
    importers = mlflow_importers(PACKAGE)
    assert {p.relative_to(PACKAGE).as_posix() for p in importers if TRACKING not in p.parents} == set()
    assert TRACKING / "job.py" in importers  # the check sees imports (inside functions too)


def test_the_check_finds_an_import_inside_a_function(tmp_path):
    (tmp_path / "sneaky.py").write_text("def f():\n    from mlflow.exceptions import MlflowException\n")
    (tmp_path / "clean.py").write_text("import mlflow_like\nfrom .mlflow import x\n")
    assert mlflow_importers(tmp_path) == {tmp_path / "sneaky.py"}
