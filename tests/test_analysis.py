"""The analysis notebooks run top to bottom against a store produced by real micro runs."""

import os
import runpy
from pathlib import Path

import pytest

import lenbench.run as entry

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "analysis").glob("*.py"))


@pytest.fixture(scope="module")
def micro_store(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = os.getcwd()
    os.chdir(root)  # job outputs and MLflow artifacts go under the store's directory
    try:
        for method in ("base", "lead"):
            with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
                cfg = compose(config_name="config", overrides=["+experiment=micro", f"method={method}",
                                                               f"tracking.uri={uri}"])
            entry.run_job(cfg)
    finally:
        os.chdir(previous)
    return root, uri


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs(notebook, micro_store, monkeypatch, tmp_path):
    root, uri = micro_store
    monkeypatch.chdir(root)  # where the micro runs put their artifacts
    monkeypatch.setenv("LENBENCH_URI", uri)
    monkeypatch.setenv("LENBENCH_ANALYSIS_OUT", str(tmp_path))
    runpy.run_path(str(notebook), run_name="__main__")
    assert list(tmp_path.glob("*.png")), "each notebook saves its figure"
