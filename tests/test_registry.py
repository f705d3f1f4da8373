"""One registry entry per method: a method defined here (a config dataclass and a reward function)
plugs in by registering it alone, composes as `method=<it>` with no YAML file, and trains end to end."""

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from hydra.errors import ConfigCompositionException

import lenbench.run as entry
from lenbench.config import load_run_config
from lenbench.errors import ConfigError, check_range
from lenbench.grading import grade_all
from lenbench.methods.baselines import MethodConfig
from lenbench.registry import METHODS, MethodSpec, register_method, resolve
from lenbench.train.recipes import GRPORecipe

CONF = Path(__file__).resolve().parents[1] / "conf"


@dataclass
class ShortBonusMethodConfig(MethodConfig):
    """A test method: the correctness reward plus a bonus for a correct rollout shorter than max_tokens."""

    name: str = "short_bonus"
    bonus: float = 0.5
    """Added to the reward of a correct rollout shorter than max_tokens."""
    max_tokens: int = 30
    """Completion tokens below which a correct rollout earns the bonus."""

    def validate(self) -> None:
        check_range("method.bonus", self.bonus, low=0.0)
        check_range("method.max_tokens", self.max_tokens, low=1)


BATCHES: list[int] = []
"""Rollouts per call of the reward function (the end-to-end test reads it)."""


def short_bonus_rewards(run, grader) -> list:
    """The method's TRL reward functions: (run, grader) -> list, as MethodSpec.rewards asks."""
    method = run.method

    def short_bonus(prompts, completions, completion_ids, answer, **_):
        BATCHES.append(len(completions))
        correct = grade_all(completions, answer, grader)
        return [float(c) + (method.bonus if c and len(ids) < method.max_tokens else 0.0)
                for c, ids in zip(correct, completion_ids, strict=True)]

    return [short_bonus]


register_method("short_bonus", MethodSpec(ShortBonusMethodConfig, rewards=short_bonus_rewards))


def test_a_registered_method_composes_without_a_yaml_file(compose):
    assert not (CONF / "method" / "short_bonus.yaml").exists()
    run = load_run_config(compose("method=short_bonus", "method.bonus=0.25"))
    assert isinstance(run.method, ShortBonusMethodConfig) and (run.method.bonus, run.method.max_tokens) == (0.25, 30)
    with pytest.raises(ConfigCompositionException, match="method.bonnus"):
        compose("method=short_bonus", "method.bonnus=1")  # the node is typed by the dataclass
    with pytest.raises(ConfigError, match=r"method\.bonus=-1\.0 is out of range; allowed: >= 0\.0"):
        load_run_config(compose("method=short_bonus", "method.bonus=-1"))


def test_a_registered_method_trains_a_micro_job_end_to_end(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    BATCHES.clear()
    entry.run_job(compose("+experiment=micro", "method=short_bonus", "method.bonus=0.25", f"tracking.uri={uri}"))
    run = load_run_config(compose("+experiment=micro"))
    rollouts = run.trainer.prompts_per_step * run.trainer.num_generations
    assert BATCHES == [rollouts] * run.trainer.max_steps  # its reward scored every training batch
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["lenbench"])
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"
    assert runs.iloc[0]["tags.method"] == "short_bonus" and runs.iloc[0]["params.method.bonus"] == "0.25"
    assert runs.iloc[0]["metrics.train/rewards/short_bonus/mean"] >= 0
    assert runs.iloc[0]["metrics.eval/accuracy"] >= 0


def test_register_method_refuses_an_entry_it_cannot_run():
    with pytest.raises(ValueError, match="name defaults to 'short_bonus'; allowed: the registered name 'other'"):
        register_method("other", MethodSpec(ShortBonusMethodConfig, rewards=short_bonus_rewards))
    with pytest.raises(ValueError, match="needs `rewards`"):
        register_method("short_bonus", MethodSpec(ShortBonusMethodConfig))
    with pytest.raises(ValueError, match="'grpo' is already registered"):
        register_method("grpo", MethodSpec(METHODS["grpo"].config_class, rewards=short_bonus_rewards))
    assert "other" not in METHODS


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_names_a_recipe_and_rewards_that_import(name):
    spec = METHODS[name]
    assert issubclass(resolve(spec.recipe), GRPORecipe)
    if spec.rewards is not None:
        assert callable(resolve(spec.rewards))
