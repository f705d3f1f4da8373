"""Sweep grids (`+sweep=<name>`, files in sweeps/) and the Submitit launcher presets."""

from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf

from lenbench.config import load_run_config

SWEEPS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("name", SWEEPS)
def test_every_grid_point_is_a_valid_config(compose, name):
    cfg = compose(f"+sweep={name}")  # the sweep's method override applies
    params = OmegaConf.to_container(compose_hydra(name).hydra.sweeper.params)
    assert params and "seed" in params, f"sweep {name} must list seeds"
    for key, values in params.items():
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", f"{name}: unknown key {key}"
        for value in str(values).split(","):
            load_run_config(compose(f"+sweep={name}", f"{key}={value}"))  # each value validates


def compose_hydra(name):
    from hydra import compose, initialize_config_dir

    from lenbench.run import __file__ as run_file

    conf = Path(run_file).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose(config_name="config", overrides=[f"+sweep={name}"], return_hydra_config=True)


def test_unknown_sweep_lists_the_sweeps(cli):
    result = cli("-m", "+sweep=nope")
    assert result.returncode != 0
    assert "Could not find 'sweep/nope'" in result.stderr and "lead_floor" in result.stderr


@pytest.mark.e2e
def test_sweep_through_submitit_local_tags_every_run(cli, tmp_path):
    result = cli("-m", "hydra/launcher=local", "+experiment=micro", "+sweep=lead_floor", "method.w_min=0.1,0.5",
                 "seed=0")
    assert result.returncode == 0, result.stderr[-2000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["lenbench"]).sort_values("tags.grid_point")
    assert list(runs["status"]) == ["FINISHED", "FINISHED"]
    assert list(runs["tags.sweep"]) == ["lead_floor", "lead_floor"]
    assert list(runs["tags.grid_point"]) == ["method.w_min=0.1", "method.w_min=0.5"]
    assert list(runs["tags.mlflow.runName"]) == ["lead[w_min=0.1]-arith-s0", "lead[w_min=0.5]-arith-s0"]
    assert list(tmp_path.glob("multirun/*/*/.submitit")) or list(tmp_path.glob("multirun/*/.submitit"))
