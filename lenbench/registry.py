"""The method registry: one entry per method names its config dataclass, its recipe and its rewards.

    register_method("mine", MethodSpec(MyMethodConfig, rewards="mypackage.rewards:my_rewards"))

is all a method needs to run as `method=mine`: the entry goes into METHODS (which config.py types the
`method` node with and run.py asks for the recipe) and the config dataclass into Hydra's ConfigStore
as `method/mine`, so `method=mine` composes with no YAML file. A method that only changes the rewards
(most length-control baselines) names a reward factory and keeps GRPORecipe; one that changes the
engine (hooks, stages, eval prompts) names its own GRPORecipe subclass.

Why here, at the top of the package: methods/ is pure maths (it may not import TRL or train/), and
train/ imports TRL, which config.py (the reader of METHODS) must not pull in. Recipes and reward
factories are named by `"module:attribute"` strings, imported only when a job trains; a test or a
plugin may pass the objects themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from hydra.core.config_store import ConfigStore

from lenbench.methods.baselines import BaseMethodConfig, GRPOMethodConfig, MethodConfig
from lenbench.methods.dapo_overlong import DAPOOverlongMethodConfig
from lenbench.methods.dler import DLERMethodConfig
from lenbench.methods.efficient import EfficientMethodConfig
from lenbench.methods.gfpo import GFPOMethodConfig
from lenbench.methods.iapo import IAPOMethodConfig
from lenbench.methods.kimi import KimiMethodConfig
from lenbench.methods.l1 import L1MethodConfig
from lenbench.methods.lapo import LAPOMethodConfig
from lenbench.methods.lead import LEADMethodConfig
from lenbench.methods.shorterbetter import ShorterBetterMethodConfig
from lenbench.methods.thinkprune import ThinkPruneMethodConfig

DEFAULT_RECIPE = "lenbench.train.recipes:GRPORecipe"


@dataclass(frozen=True)
class MethodSpec:
    """Everything the workbench needs to know about one method."""

    config_class: type[MethodConfig]
    """The method's config dataclass: a MethodConfig whose `name` default is the registered name; its
    defaults are what `method=<name>` runs with."""
    recipe: str | type = DEFAULT_RECIPE
    """The training recipe: a lenbench.train.recipes.GRPORecipe (sub)class, or its `module:Class`."""
    rewards: str | Callable[..., list] | None = None
    """The TRL reward functions: a factory `(run, grader) -> list of reward functions`, or its
    `module:function`; the recipe's `reward_funcs` calls it. None: the recipe builds its own (LAPO's
    stage rewards) or the method does not train."""
    trains: bool = True
    """False for evaluation-only methods (`base`)."""


METHODS: dict[str, MethodSpec] = {}
"""Registered methods by name; fill it through register_method only."""


def register_method(name: str, spec: MethodSpec) -> None:
    """Add a method: METHODS[name] = spec, and its config dataclass as ConfigStore node `method/<name>`."""
    default_name = next(f.default for f in fields(spec.config_class) if f.name == "name")
    if default_name != name:
        raise ValueError(f"register_method({name!r}): {spec.config_class.__name__}.name defaults to "
                         f"{default_name!r}; allowed: the registered name {name!r}")
    if spec.trains and spec.recipe == DEFAULT_RECIPE and spec.rewards is None:
        raise ValueError(f"register_method({name!r}): a training method with the default recipe needs `rewards`")
    registered = METHODS.get(name)
    if registered is not None and registered != spec:
        raise ValueError(f"method {name!r} is already registered (with {registered.config_class.__name__})")
    METHODS[name] = spec
    ConfigStore.instance().store(group="method", name=name, node=spec.config_class)


def resolve(target: str | Any) -> Any:
    """The object a `module:attribute` string names (imported now); any other value as it is."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def recipe_for(run, data):
    """The recipe of the run's method, for this run and its TaskData."""
    return resolve(METHODS[run.method.name].recipe)(run, data)


def reward_funcs_for(run, grader) -> list:
    """The TRL reward functions the run's method trains with (its spec's `rewards` factory)."""
    rewards = METHODS[run.method.name].rewards
    if rewards is None:
        raise ValueError(f"method {run.method.name!r} names no reward functions (its recipe builds them, or it "
                         "does not train)")
    return list(resolve(rewards)(run, grader))


register_method("base", MethodSpec(BaseMethodConfig, trains=False))
register_method("grpo", MethodSpec(GRPOMethodConfig, rewards="lenbench.train.rewards:grpo_rewards"))
register_method("lapo", MethodSpec(LAPOMethodConfig, recipe="lenbench.train.lapo:LAPORecipe"))
register_method("lead", MethodSpec(LEADMethodConfig, recipe="lenbench.train.lead:LEADRecipe",
                                   rewards="lenbench.train.lead:lead_rewards"))
register_method("iapo", MethodSpec(IAPOMethodConfig, recipe="lenbench.train.iapo:IAPORecipe",
                                   rewards="lenbench.train.rewards:correctness_only"))
register_method("kimi", MethodSpec(KimiMethodConfig, rewards="lenbench.train.kimi:kimi_rewards"))
register_method("dapo_overlong", MethodSpec(DAPOOverlongMethodConfig,
                                            recipe="lenbench.train.dapo_overlong:DAPOOverlongRecipe",
                                            rewards="lenbench.train.dapo_overlong:overlong_rewards"))
register_method("shorterbetter", MethodSpec(ShorterBetterMethodConfig,
                                            rewards="lenbench.train.shorterbetter:shorterbetter_rewards"))
register_method("efficient", MethodSpec(EfficientMethodConfig, rewards="lenbench.train.efficient:efficient_rewards"))
register_method("thinkprune", MethodSpec(ThinkPruneMethodConfig, recipe="lenbench.train.thinkprune:ThinkPruneRecipe",
                                         rewards="lenbench.train.thinkprune:thinkprune_rewards"))
register_method("l1", MethodSpec(L1MethodConfig, recipe="lenbench.train.l1:L1Recipe",
                                 rewards="lenbench.train.l1:l1_rewards"))
register_method("gfpo", MethodSpec(GFPOMethodConfig, recipe="lenbench.train.gfpo:GFPORecipe",
                                   rewards="lenbench.train.rewards:correctness_only"))
register_method("dler", MethodSpec(DLERMethodConfig, recipe="lenbench.train.dler:DLERRecipe",
                                   rewards="lenbench.train.dler:dler_rewards"))
