"""Bad input gets a clear error naming the field and what is allowed, before any compute."""

import json
import re
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf, open_dict

from lenbench.config import SECTIONS, load_run_config
from lenbench.errors import ConfigError
from lenbench.models import check_model_source
from lenbench.testbed.base_model import MARKER, base_model_dir


def test_default_config_composes_and_validates(compose):
    run = load_run_config(compose())
    assert run.method.name == "grpo" and run.dataset.name == "arith" and run.model.source == "testbed"
    assert run.eval_max_new_tokens == run.trainer.max_completion_length


@pytest.mark.parametrize(
    "option, name", [("base", "base"), ("grpo", "grpo"), ("lapo", "lapo"), ("lapo_reference", "lapo"),
                     ("lead", "lead"), ("lead_reference", "lead"), ("iapo", "iapo"), ("iapo_reference", "iapo")]
)
def test_every_method_option_composes(compose, option, name):
    assert load_run_config(compose(f"method={option}")).method.name == name


def test_micro_experiment_overrides_groups(compose):
    run = load_run_config(compose("+experiment=micro"))
    assert run.model.hidden_size == 32 and run.trainer.max_steps == 2 and run.dataset.max_difficulty == 3


@pytest.mark.parametrize(
    "override, field, allowed",
    [
        ("trainer.num_generations=1", "trainer.num_generations", ">= 2"),
        ("trainer.learning_rate=0", "trainer.learning_rate", "> 0.0"),
        ("trainer.learning_rate=-1e-4", "trainer.learning_rate", "> 0.0"),
        ("trainer.max_completion_length=0", "trainer.max_completion_length", ">= 1"),
        ("trainer.temperature=0", "trainer.temperature", "> 0.0"),
        ("trainer.top_p=1.5", "trainer.top_p", "in (0.0, 1.0]"),
        ("trainer.loss_type=ppo", "trainer.loss_type", "'dapo'"),
        ("trainer.scale_rewards=max", "trainer.scale_rewards", "'group'"),
        ("dataset.p_check=1.5", "dataset.p_check", "in [0.0, 1.0]"),
        ("dataset.p_slip=-0.1", "dataset.p_slip", "in [0.0, 1.0]"),
        ("dataset.loop_tokens=0", "dataset.loop_tokens", ">= 1"),
        ("model.plan_fraction=2", "model.plan_fraction", "in [0.0, 1.0]"),
        ("eval.max_new_tokens=0", "eval.max_new_tokens", ">= 1"),
        ("eval.samples_per_problem=0", "eval.samples_per_problem", ">= 1"),
        ("eval.budget_points=0", "eval.budget_points", ">= 1"),
        ("model.sft_learning_rate=0", "model.sft_learning_rate", "> 0.0"),
        ("model.num_heads=3", "model.num_heads", "divide"),
        ("model.dtype=float8", "model.dtype", "'float32'"),
        ("dataset.number_max=20", "dataset.number_max", ">= 22"),
        ("tracking.server_retries=-1", "tracking.server_retries", "in [0, 10]"),
        ("tracking.server_retries=11", "tracking.server_retries", "in [0, 10]"),
        ("tracking.server_timeout_seconds=0", "tracking.server_timeout_seconds", ">= 1"),
        ("method=iapo method.logits_per_pass=0", "method.logits_per_pass", ">= 1"),
    ],
)
def test_out_of_range_values_name_field_and_allowed(compose, override, field, allowed):
    with pytest.raises(ConfigError) as error:
        load_run_config(compose(*override.split()))
    assert field in str(error.value) and allowed in str(error.value)


def test_self_plan_needs_a_model_that_has_seen_the_plan(compose):
    with pytest.raises(ConfigError, match="plan_mode=self needs.*model.plan_fraction=0.0"):
        load_run_config(compose("method=lapo", "model.plan_fraction=0"))
    # the reference's prompt mode needs no plan-aware model, and the default model is plan-aware
    load_run_config(compose("method=lapo", "model.plan_fraction=0", "method.plan_mode=prompt"))
    load_run_config(compose("method=lapo"))


def test_empty_difficulty_range(compose):
    with pytest.raises(ConfigError, match="difficulty range is empty.*min_difficulty=5 > max_difficulty=2"):
        load_run_config(compose("dataset.min_difficulty=5", "dataset.max_difficulty=2"))


def test_wrong_type_is_refused_while_composing_naming_the_field(compose):
    with pytest.raises(ConfigCompositionException, match=r"trainer\.max_steps=many") as error:
        compose("trainer.max_steps=many")  # the structured schema types every field
    assert "full_key: trainer.max_steps" in str(error.value.__cause__)


def test_wrong_type_in_an_untyped_config_names_the_field(compose):
    cfg = OmegaConf.create(OmegaConf.to_container(compose()))  # a plain tree, without the schemas
    cfg.trainer.max_steps = "many"
    with pytest.raises(ConfigError, match=r"trainer\.max_steps.*Fields of 'trainer'"):
        load_run_config(cfg)


def test_unknown_key_added_to_a_section_names_the_field(compose):
    cfg = compose()
    with open_dict(cfg.trainer):
        cfg.trainer.lerning_rate = 0.1
    with pytest.raises(ConfigError, match=r"trainer\.lerning_rate.*learning_rate"):
        load_run_config(cfg)
    with pytest.raises(ConfigError, match=r"trainer\.lerning_rate.*learning_rate"):
        load_run_config(compose("+trainer.lerning_rate=0.1"))  # `+` appends past Hydra's struct check


def test_unknown_method_name_lists_methods(compose):
    cfg = compose()
    OmegaConf.set_struct(cfg, False)
    cfg.method.name = "ppo"
    with pytest.raises(ConfigError, match="method.name='ppo'.*allowed: 'base', 'grpo'"):
        load_run_config(cfg)


def test_unknown_group_option_lists_available(compose):
    with pytest.raises(ConfigCompositionException) as error:
        compose("method=nope")
    message = str(error.value)
    assert "method/nope" in message and "base" in message and "grpo" in message


def test_unknown_override_key_is_rejected(compose):
    with pytest.raises(ConfigCompositionException, match="lerning_rate"):
        compose("trainer.lerning_rate=0.1")


def test_local_model_path_must_exist(compose, tmp_path):
    run = load_run_config(compose("model=local", f"model.path={tmp_path / 'missing'}"))
    with pytest.raises(ConfigError, match="model.path=.*not a local model directory"):
        check_model_source(run)


def test_unreadable_cache_is_a_clear_error(compose, tmp_path):
    run = load_run_config(compose("+experiment=micro", f"model.cache_dir={tmp_path}"))
    broken = base_model_dir(run.dataset, run.model)
    broken.mkdir(parents=True)
    (broken / MARKER).write_text(json.dumps({"key": broken.name}))
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=f"base model cache at {broken} is unreadable.*delete"):
        check_model_source(run)


def test_unwritable_cache_dir_is_a_clear_error(compose, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    run = load_run_config(compose("+experiment=micro", f"model.cache_dir={blocker}"))
    with pytest.raises(ConfigError, match="model.cache_dir=.*not writable"):
        check_model_source(run)


def test_cli_config_error_is_a_message_and_creates_no_run(cli):
    result = cli("+experiment=micro", "trainer.num_generations=1")
    assert result.returncode != 0
    assert "lenbench: config error: trainer.num_generations=1 is out of range; allowed: >= 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_config_error_leaves_no_mlflow_run(cli, tmp_path):
    result = cli("+experiment=micro", "dataset.p_check=7")
    assert result.returncode != 0 and "dataset.p_check=7" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # nothing was started, so nothing is left RUNNING


CONF = Path(__file__).resolve().parents[1] / "conf"
GROUP_FILES = sorted(p for group in (*SECTIONS, "method") for p in (CONF / group).glob("*.yaml"))


def _leaves(tree: dict, prefix: str = ""):
    """(dotted key, value) of every leaf of a plain config tree (a list or an empty dict is a leaf)."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _restated(own: dict, parent: dict) -> list[str]:
    """Keys of `own` whose value is the one `parent` already has (interpolations compared unresolved)."""
    missing = object()
    found = []
    for key, value in _leaves(own):
        node = parent
        for part in key.split("."):
            node = node.get(part, missing) if isinstance(node, dict) else missing
        if node == value:
            found.append(key)
    return found


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_group_file_holds_only_what_differs_from_what_it_extends(compose, path):
    own = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    extends = [entry for entry in own.pop("defaults", []) if entry != "_self_"]
    group = path.parent.name
    assert len(extends) == 1, f"{group}/{path.name} extends {extends}; allowed: one schema or option, then _self_"
    if extends[0] == f"/schema/{group}@_here_":
        parent = OmegaConf.to_container(OmegaConf.structured(SECTIONS[group]))
    else:
        parent = OmegaConf.to_container(compose(f"{group}={extends[0]}")[group], resolve=False)
    assert _restated(own, parent) == [], f"{group}/{path.name} restates what {extends[0]} already sets"


@pytest.mark.parametrize("path", sorted((CONF / "experiment").glob("*_paper.yaml")), ids=lambda p: p.name)
def test_a_paper_recipe_holds_only_what_differs_from_its_presets(compose, path):
    own = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    presets = [f"{key.removeprefix('override /')}={option}" for entry in own.pop("defaults") for key, option in
               entry.items()]
    parent = OmegaConf.to_container(compose(*presets), resolve=False)
    assert _restated(own, parent) == [], f"{path.name} restates what its presets already set"


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem != "micro"))
def test_every_shipped_experiment_with_micro_passes_the_checks(compose, name, tmp_path, monkeypatch):
    from lenbench.preflight import preflight

    monkeypatch.chdir(tmp_path)
    job = preflight(compose(f"+experiment=[{name},micro]"), machine=False)  # micro last: its groups win
    assert job.run.model.source == "testbed" and job.run.dataset.adapter == "arith"


def test_a_small_difficulty_gives_all_its_held_out_problems_and_none_is_a_config_error(compose):
    from lenbench.testbed.arith import all_problems, is_eval_problem
    from lenbench.testbed.data import load_testbed

    run = load_run_config(
        compose("dataset.max_difficulty=2", "dataset.value_max=9", "dataset.operand_max=3", "dataset.number_max=20",
                "dataset.eval_per_difficulty=200")
    )
    data = load_testbed(run.dataset)
    for k in (1, 2):  # each difficulty's whole held-out side, computed independently
        expected = {p.key for p in all_problems(k, 9, 3) if is_eval_problem(p)}
        assert set(data.eval.filter(lambda row, k=k: row["difficulty"] == k)["problem_id"]) == expected
    empty = load_run_config(
        compose("dataset.max_difficulty=1", "dataset.value_max=2", "dataset.operand_max=2", "dataset.number_max=20")
    )
    expected = r"dataset.eval_per_difficulty=\d+ is not possible.*no held-out problem"
    with pytest.raises(ConfigError, match=expected):
        load_testbed(empty.dataset)


def test_run_names_carry_the_method_knobs_of_the_job(compose):
    from lenbench.run import run_name

    run = load_run_config(compose("method=lead", "method.w_min=0.1", "seed=2"))
    assert run_name(run, ["method=lead", "method.w_min=0.1", "seed=2"]) == "lead[w_min=0.1]-arith-s2"
    assert run_name(run) == "lead-arith-s2"
    # an Optuna-sampled float is shortened to 4 significant digits; other values stay as written
    sampled = ["method.w_min=0.37183521486758875", "method.aggregator=min_correct"]
    assert run_name(run, sampled) == "lead[w_min=0.3718,aggregator=min_correct]-arith-s2"
    named = load_run_config(compose("method=lead", "tracking.run_name=mine"))
    assert run_name(named, ["method.w_min=0.1"]) == "mine"


def test_reference_method_configs_keep_the_papers_constants_whatever_the_testbed_defaults(compose):
    # methods.md: LAPO alpha 0.7, band = 30th-70th percentiles, tau 100, median target, beta 0.8,
    # sigma 120; LEAD sym, mean_correct, L* in [1000, 8000], EMA 0.95, floor 0.3, a = 1, PSI weights.
    lapo = load_run_config(compose("method=lapo_reference")).method
    assert (lapo.alpha, lapo.band_low_pct, lapo.band_high_pct, lapo.tau) == (0.7, 30.0, 70.0, 100.0)
    assert (lapo.target_stat, lapo.beta, lapo.sigma) == ("median", 0.8, 120.0)
    lead = load_run_config(compose("method=lead_reference")).method
    assert (lead.efficiency_mode, lead.aggregator, lead.length_min, lead.length_max) == ("sym", "mean_correct", 1000.0,
                                                                                         8000.0)
    assert (lead.weights, lead.ema_lambda, lead.w_min, lead.sharpness) == ("psi", 0.95, 0.3, 1.0)
    # IAPO: the early_exit score, decay 0.5, the unit-L2 scale, weights at a point of the grid
    iapo = load_run_config(compose("method=iapo_reference")).method
    assert (iapo.estimator, iapo.decay, iapo.sqrt_length_scale) == ("early_exit", 0.5, True)
    assert (iapo.score_weight, iapo.entropy_weight) == (0.01, 0.01)


@pytest.mark.parametrize("method", ["lead", "lapo", "iapo", "kimi", "l1", "dler", "gfpo", "shorterbetter"])
def test_every_number_of_a_config_refuses_nan_and_infinity_naming_the_field(compose, method):
    """Every float setting of the composed config, one at a time (found by walking it, not listed here),
    set to NaN, +inf or -inf in turn; the sections other than method are walked once (with lead)."""
    from omegaconf import OmegaConf

    from lenbench.config import load_run_config
    from lenbench.errors import ConfigError

    cfg = OmegaConf.to_container(compose("+experiment=micro", f"method={method}"), resolve=True)
    paths = []

    def walk(node, path):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{path}{key}.")
            elif isinstance(value, float) and (method == "lead" or path.startswith("method.")):
                paths.append(f"{path}{key}")

    walk(cfg, "")
    assert len(paths) >= (10 if method == "lead" else 1)
    for index, path in enumerate(paths):
        bad = (float("nan"), float("inf"), float("-inf"))[index % 3]
        broken = OmegaConf.create(cfg)
        OmegaConf.update(broken, path, bad)
        with pytest.raises(ConfigError, match=rf"^{re.escape(path)}={bad!r} is not a finite number"):
            load_run_config(broken)


def test_check_range_refuses_nan_which_no_bound_catches():
    from lenbench.errors import ConfigError, check_range

    with pytest.raises(ConfigError, match=r"w=nan is not a finite number"):
        check_range("w", float("nan"), low=0.0, high=1.0)
    check_range("w", 0.5, low=0.0, high=1.0)
