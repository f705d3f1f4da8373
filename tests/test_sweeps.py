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
    sweeper = compose_hydra(name).hydra.sweeper
    params = OmegaConf.to_container(sweeper.params)
    if sweeper._target_.endswith("OptunaSweeper"):  # a search space: every key exists, every bound validates
        from hydra.core.override_parser.overrides_parser import OverridesParser

        from hydra_plugins.lenbench_sweepers.optuna_sweeper import distribution

        for key, space in params.items():
            assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", f"{name}: unknown key {key}"
            dist = distribution(OverridesParser.create().parse_override(f"{key}={space}"))
            values = getattr(dist, "choices", None) or (dist.low, dist.high)
            for value in values:
                load_run_config(compose(f"+sweep={name}", f"{key}={value}"))
        return
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


def test_an_invalid_grid_value_fails_before_any_job(cli, tmp_path):
    result = cli("-m", "+experiment=micro", "+sweep=lead_floor", "method.w_min=0.1,7", "seed=0")
    assert result.returncode != 0
    assert "1 of 2 jobs have an invalid config; no job was launched" in result.stderr
    assert "method.w_min=7.0 is out of range" in result.stderr
    assert "Traceback" not in result.stderr and "SweepError" not in result.stderr  # the message alone
    assert result.stderr.strip().splitlines()[-2].startswith("lenbench: 1 of 2 jobs")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


def test_a_grid_job_whose_inputs_fail_the_preflight_stops_the_sweep_before_any_job(cli, tmp_path):
    # the same pre-flight as run.py: the recipe's own input check (IAPO's probe suffix on the tokenizer)
    result = cli("-m", "+experiment=micro", "method=iapo", "method.answer_suffix='</think> answer','#### final'")
    assert result.returncode != 0
    assert "1 of 2 jobs have an invalid config; no job was launched" in result.stderr
    assert "method.answer_suffix='#### final' cannot be encoded" in result.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "multirun").exists()


@pytest.mark.parametrize("params, message", [
    ("{}", "lists no axis: the grid is empty"),
    ("{seed: null}", "axis seed has no values"),
])
def test_an_empty_grid_is_an_error(cli, tmp_path, params, message):
    (tmp_path / "extra" / "sweep").mkdir(parents=True)
    (tmp_path / "extra" / "sweep" / "empty.yaml").write_text(
        f"# @package _global_\nhydra:\n  sweeper:\n    params: {params}\n"
    )
    result = cli("-m", "+experiment=micro", f"hydra.searchpath=[file://{tmp_path / 'extra'}]", "+sweep=empty")
    assert result.returncode != 0 and message in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
