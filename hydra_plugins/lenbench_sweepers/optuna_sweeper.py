"""`hydra/sweeper=optuna`: a multi-objective Optuna study whose trials are Hydra jobs.

Each trial is one `lenbench.run` job launched through the configured Hydra launcher (in-process,
`hydra/launcher=local` or `slurm`); the job returns (accuracy, mean tokens) and the study gets the
objectives named in `objectives`. The study lives in `storage` (any SQLAlchemy URL; sqlite by
default), so re-running the same command resumes it: `n_trials` is the number of COMPLETE trials
the study should reach, and only the missing ones run. A trial whose config is invalid, or whose
job fails, is recorded as FAIL with the reason and the study goes on with a new trial (at most
`max_failures` failures per command). While a trial runs, the sweeper records Optuna's heartbeat
for it every `heartbeat_interval` seconds; a trial whose sweeper was killed (kill -9, a lost node)
has no heartbeat for `grace_period` seconds: the next sweeper on the study fails it
(`optuna.storages.fail_stale_trials`) and retries its params as a new trial
(`RetryHeartbeatStaleTrialCallback`). Trials running under another live sweeper count as on their
way; the command waits for them (up to a grace period without news). Every trial's MLflow run
carries the tags `study` and `trial`. The command ends by printing the Pareto-optimal trials.

Search space (`hydra.sweeper.params` or the command line), in Hydra's sweep syntax:
`interval(a, b)` (float), `tag(int, interval(a, b))`, `tag(log, interval(a, b))`, `range(a, b[, step])`,
`choice(x, y, ...)` or `x,y,...`. Any other override is fixed for every trial.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from lenbench.errors import ConfigError
from lenbench.store_lock import sqlite_path, store_setup_lock

from .job_checks import SweepError, job_error

log = logging.getLogger(__name__)

OBJECTIVES = ("accuracy", "tokens")
"""What a lenbench job returns, in order: pass@1 and mean completion tokens."""
DIRECTIONS = ("maximize", "minimize")
SAMPLERS = ("tpe", "nsgaii", "random")
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-/]*$")


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (interval, range or choice)."""
    sweep = override.value()
    key = override.get_key_element()
    try:
        if isinstance(sweep, IntervalSweep):
            log_scale = "log" in sweep.tags
            if "int" in sweep.tags:
                return IntDistribution(int(sweep.start), int(sweep.end), log=log_scale)
            return FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
        if isinstance(sweep, (RangeSweep, ChoiceSweep)):
            values = list(override.sweep_iterator())
            if not values:
                raise SweepError(f"lenbench: optuna param {key}: {override.input_line!r} has no values")
            if isinstance(sweep, RangeSweep) and len(values) > 1 and all(isinstance(v, int) for v in values):
                return IntDistribution(values[0], values[-1], step=values[1] - values[0])
            return CategoricalDistribution(values)
    except ValueError as error:  # Optuna's own check of the bounds (low <= high, log needs low > 0, ...)
        raise SweepError(f"lenbench: optuna param {key}: {override.input_line!r} is not a valid search "
                         f"range ({' '.join(str(error).split())})") from None
    raise SweepError(f"lenbench: optuna param {key}: unsupported sweep {override.input_line!r}")


def edge_values(space: BaseDistribution) -> list[Any]:
    """The values of a distribution that bound what a trial can draw: both ends of a range, every choice."""
    if isinstance(space, CategoricalDistribution):
        return list(space.choices)
    return [space.low, space.high]


def search_space(overrides: Sequence[Override]) -> tuple[list[str], dict[str, BaseDistribution]]:
    """(fixed overrides, {key: distribution}); a later override of a key replaces an earlier one."""
    fixed: dict[str, str] = {}
    space: dict[str, BaseDistribution] = {}
    for override in overrides:
        key = override.get_key_element()
        fixed.pop(key, None)
        space.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = f"{key}={override.get_value_element_as_str()}"
    return list(fixed.values()), space


def override_value(value: Any) -> str:
    """A sampled value written as a Hydra override value."""
    if isinstance(value, str) and not _PLAIN.match(value):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def missing_keys(cfg: DictConfig, keys: Sequence[str]) -> list[str]:
    """Messages for the keys (no leading `+`) that are not in the composed config."""
    messages = []
    for key in keys:
        if key.startswith("+"):
            continue  # `+key` adds a new key on purpose
        if OmegaConf.select(cfg, key, default=_Absent, throw_on_missing=False) is _Absent:
            parent, _, _ = key.rpartition(".")
            node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
            known = ", ".join(k for k in node if k != "hydra") if isinstance(node, DictConfig) else "none"
            messages.append(f"{key} (keys of {parent or 'the config'}: {known})")
    return messages


class _Absent:
    """Marker for a key that OmegaConf.select did not find."""


def pareto_table(study: optuna.Study, objectives: Sequence[str]) -> str:
    """The Pareto-optimal (best) trials as an aligned text table, best first objective first."""
    rows = sorted(study.best_trials, key=lambda t: [-v if d == "maximize" else v
                                                    for v, d in zip(t.values, _directions(study), strict=True)])
    lines = [f"{'trial':>5}  " + "  ".join(f"{o:>9}" for o in objectives) + "  params"]
    for trial in rows:
        values = "  ".join(f"{v:9.4g}" for v in trial.values)
        params = " ".join(f"{k}={override_value(v)}" for k, v in trial.params.items())
        lines.append(f"{trial.number:>5}  {values}  {params}")
    return "\n".join(lines)


def _directions(study: optuna.Study) -> list[str]:
    return [d.name.lower() for d in study.directions]


class OptunaSweeper(Sweeper):
    """Ask/tell Optuna loop: ask `n_jobs` trials, launch them as one batch, tell their results."""

    def __init__(
        self,
        study_name: str,
        storage: str,
        n_trials: int,
        n_jobs: int = 1,
        objectives: Sequence[str] = OBJECTIVES,
        directions: Sequence[str] = DIRECTIONS,
        sampler: str = "tpe",
        seed: int = 0,
        params: dict[str, str] | None = None,
        max_failures: int | None = None,
        heartbeat_interval: int = 30,
        grace_period: int = 90,
    ) -> None:
        super().__init__()
        self.study_name = study_name
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.objectives = list(objectives)
        self.directions = list(directions)
        self.sampler_name = sampler
        self.seed = seed
        self.params = dict(params or {})
        self.max_failures = n_trials if max_failures is None else max_failures
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.config: DictConfig | None = None
        self.hydra_context = None
        self.launcher = None
        self.loaded: dict = {}
        """Task data the trials' pre-flight checks loaded, by dataset and model settings (lenbench.preflight)."""

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # -- checks before anything is created or launched -------------------------------------------

    def _check_settings(self) -> None:
        where = "hydra.sweeper"
        if not self.study_name:
            raise SweepError(f"lenbench: {where}.study_name must be a non-empty name")
        if not self.storage:
            raise SweepError(f"lenbench: {where}.storage must be a SQLAlchemy URL, e.g. sqlite:///optuna.db")
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise SweepError(f"lenbench: {where}.n_trials={self.n_trials!r} is out of range; allowed: >= 1")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise SweepError(f"lenbench: {where}.n_jobs={self.n_jobs!r} is out of range; allowed: >= 1")
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        if bad or not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise SweepError(
                f"lenbench: {where}.objectives={self.objectives} is invalid; allowed: distinct names from "
                f"{', '.join(OBJECTIVES)}"
            )
        if len(self.directions) != len(self.objectives) or any(d not in DIRECTIONS for d in self.directions):
            raise SweepError(
                f"lenbench: {where}.directions={self.directions} must give one of {', '.join(DIRECTIONS)} "
                f"per objective ({', '.join(self.objectives)})"
            )
        for name in ("max_failures", "heartbeat_interval", "grace_period"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SweepError(f"lenbench: {where}.{name}={value!r} is out of range; allowed: an integer >= 1")
        if self.grace_period <= self.heartbeat_interval:
            raise SweepError(
                f"lenbench: {where}.grace_period={self.grace_period} must be longer than "
                f"{where}.heartbeat_interval={self.heartbeat_interval} (a live trial would look dead)"
            )
        if self.sampler_name not in SAMPLERS:
            raise SweepError(
                f"lenbench: {where}.sampler={self.sampler_name!r} is not a known option; allowed: {', '.join(SAMPLERS)}"
            )

    def _parse(self, arguments: list[str]) -> tuple[list[str], dict[str, BaseDistribution]]:
        lines = [f"{key}={value}" for key, value in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        fixed, space = search_space(parser.parse_overrides(lines))
        if not space:
            raise SweepError(
                "lenbench: the optuna search space is empty: set hydra.sweeper.params (e.g. "
                "`method.w_min: interval(0.05, 0.5)`) or pass a sweep on the command line"
            )
        base = self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=fixed)
        missing = missing_keys(base, list(space))
        if missing:
            raise SweepError(
                "lenbench: optuna params name keys that are not in the composed config (no trial was run; "
                "prefix a key with + to add it): " + "; ".join(missing)
            )
        self._check_edges(fixed, space)
        return fixed, space

    def _check_edges(self, fixed: list[str], space: dict[str, BaseDistribution]) -> None:
        """SweepError when a value at an end of a range (or a choice) fails the pre-launch checks with the
        other params at their lower ends and at their upper ends alike: a space whose trials would fail
        there runs no trial. (Both contexts, so that two params bounding each other do not refuse a
        space that is valid inside.)"""
        contexts = [{key: edge_values(dist)[0] for key, dist in space.items()},
                    {key: edge_values(dist)[-1] for key, dist in space.items()}]
        errors: dict[tuple, str | None] = {}

        def error_of(params: dict[str, Any]) -> str | None:
            job = tuple(f"{k}={override_value(v)}" for k, v in sorted(params.items()))
            if job not in errors:
                errors[job] = job_error(self.hydra_context.config_loader, self.config, [*fixed, *job], self.loaded)
            return errors[job]

        failures: dict[str, list[str]] = {}  # error -> the edge values that raise it
        for key, dist in space.items():
            for value in edge_values(dist):
                found = [error_of({**context, key: value}) for context in contexts]
                if all(found):
                    failures.setdefault(found[0], []).append(f"{key}={override_value(value)}")
        if failures:
            shown = [f"{error} (at {', '.join(where)})" for error, where in list(failures.items())[:5]]
            more = f"; ... and {len(failures) - 5} more" if len(failures) > 5 else ""
            raise SweepError("lenbench: the optuna search space holds invalid configs (no trial was run): "
                             + "; ".join(shown) + more)

    # -- the study ---------------------------------------------------------------------------------

    def _sampler(self, offset: int) -> optuna.samplers.BaseSampler:
        seed = self.seed + offset  # a resumed study must not replay the first invocation's draws
        if self.sampler_name == "nsgaii":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)

    def _open_study(self) -> optuna.Study:
        engine = {"connect_args": {"timeout": 120}} if sqlite_path(self.storage) else {}
        try:
            with store_setup_lock(self.storage), _known_experimental():
                storage = optuna.storages.RDBStorage(
                    self.storage, engine_kwargs=engine, heartbeat_interval=self.heartbeat_interval,
                    grace_period=self.grace_period, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
                )
                study = optuna.create_study(
                    study_name=self.study_name, storage=storage, directions=self.directions, load_if_exists=True
                )
        except (ConfigError, SQLAlchemyError, OSError, ValueError) as error:
            raise SweepError(f"lenbench: hydra.sweeper.storage={self.storage!r}: cannot open the study "
                             f"({' '.join(str(error).split())[:300]}); use a writable SQLAlchemy URL, e.g. "
                             "sqlite:///optuna.db") from None
        if _directions(study) != self.directions:
            raise SweepError(
                f"lenbench: study '{self.study_name}' in {self.storage} has directions {_directions(study)}, "
                f"not {self.directions}; use another hydra.sweeper.study_name"
            )
        study.sampler = self._sampler(len(study.trials))
        study.set_user_attr("objectives", self.objectives)
        return study

    def sweep(self, arguments: list[str]) -> list[Any]:
        self._check_settings()
        fixed, space = self._parse(arguments)
        study = self._open_study()
        before = len(study.trials)
        print(f"[lenbench] optuna study '{self.study_name}' in {self.storage}: {before} trials so far, "
              f"target {self.n_trials}; search space: {', '.join(space)}")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns, failures, waiting_since, last_seen = [], 0, None, None
        while failures < self.max_failures:
            self._fail_stale(study)
            complete, running = _count(study, TrialState.COMPLETE), _count(study, TrialState.RUNNING)
            if complete >= self.n_trials:
                break
            if (free := self.n_trials - complete - running) > 0:
                trials = [self._ask(study, space) for _ in range(min(self.n_jobs, free))]
                results = self._run_batch(study, trials, fixed)
                failures += len(trials) - sum(r.status == JobStatus.COMPLETED for r in results)
                returns.append(results)
                continue
            if (complete, running) != last_seen:  # the other trials run elsewhere: wait while there is news
                waiting_since, last_seen = time.monotonic(), (complete, running)
                print(f"[lenbench] {running} trial(s) of study '{self.study_name}' run elsewhere; waiting for them")
            if time.monotonic() - waiting_since > self.grace_period + self.heartbeat_interval:
                print(f"[lenbench] no news of the {running} running trial(s) for {self.grace_period} s; stopping "
                      "(trials without a heartbeat, from an older sweeper, are never failed automatically)")
                break
            time.sleep(self.heartbeat_interval)
        if failures >= self.max_failures:
            print(f"[lenbench] {failures} trials failed in this command (hydra.sweeper.max_failures="
                  f"{self.max_failures}); stopping")
        print(f"[lenbench] study '{self.study_name}' holds {len(study.trials)} trials "
              f"({_count(study, TrialState.COMPLETE)} complete, {_count(study, TrialState.FAIL)} failed, "
              f"{_count(study, TrialState.RUNNING)} running); this run added {len(study.trials) - before}.")
        self._report(study, sweep_dir)
        return returns

    def _run_batch(self, study: optuna.Study, trials: list[optuna.Trial], fixed: list[str]) -> list[Any]:
        jobs, launched = [], []
        for trial in trials:
            overrides = [
                *fixed,
                *(f"{key}={override_value(value)}" for key, value in trial.params.items()),
                f"+tracking.tags.study={override_value(self.study_name)}",
                f"+tracking.tags.trial={trial.number}",
            ]
            error = job_error(self.hydra_context.config_loader, self.config, overrides, self.loaded)
            if error:
                self._fail(study, trial, f"invalid config: {error}")
                continue
            jobs.append(overrides)
            launched.append(trial)
        if not jobs:
            return []
        with ExitStack() as beating:  # Optuna's heartbeat of each trial, while its job runs
            for trial in launched:
                beating.enter_context(get_heartbeat_thread(trial._trial_id, study._storage))
            results = self.launcher.launch(jobs, initial_job_idx=launched[0].number)
        for trial, result in zip(launched, results, strict=True):
            if result.status != JobStatus.COMPLETED:
                self._fail(study, trial, f"job failed: {result._return_value!r}")
                continue
            returned = dict(zip(OBJECTIVES, result.return_value, strict=True))
            study.tell(trial, [float(returned[name]) for name in self.objectives])
            log.info(f"trial {trial.number}: " + ", ".join(f"{n}={returned[n]:.4g}" for n in self.objectives))
        return results

    @staticmethod
    def _ask(study: optuna.Study, space: dict[str, BaseDistribution]) -> optuna.Trial:
        """A new trial (or a queued retry), with a first heartbeat at once: killed before its job starts,
        it is still found stale."""
        with _known_experimental():
            trial = study.ask(space)
        study._storage.record_heartbeat(trial._trial_id)
        return trial

    def _fail_stale(self, study: optuna.Study) -> None:
        """Fail the trials whose sweeper died (no heartbeat for grace_period s); each is retried."""
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with _known_experimental():
            fail_stale_trials(study)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            if trial.number in running:
                print(f"[lenbench] trial {trial.number} FAILED: no heartbeat for {self.grace_period} s (its "
                      "sweeper was killed); its params are queued to run again")

    def _fail(self, study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("error", reason[:2000])
        study.tell(trial, state=TrialState.FAIL)
        print(f"[lenbench] trial {trial.number} FAILED ({reason[:300]}); the study continues")

    def _report(self, study: optuna.Study, sweep_dir: Path) -> None:
        if not study.best_trials:
            print("[lenbench] no complete trial yet: no Pareto front")
            return
        table = pareto_table(study, self.objectives)
        print(f"[lenbench] Pareto-optimal trials of study '{self.study_name}' "
              f"({', '.join(f'{o}: {d}' for o, d in zip(self.objectives, self.directions, strict=True))}):\n{table}")
        front = [{"trial": t.number, "values": dict(zip(self.objectives, t.values, strict=True)), "params": t.params}
                 for t in study.best_trials]
        OmegaConf.save(
            OmegaConf.create({"study": self.study_name, "storage": self.storage, "trials": len(study.trials),
                              "pareto": front}),
            sweep_dir / "optimization_results.yaml",
        )


@contextmanager
def _known_experimental() -> Iterator[None]:
    """Optuna marks its heartbeat API experimental (since 2.8 and 2.9), and warns on every `ask` that its
    heartbeat is meant for Study.optimize (this sweeper runs the heartbeat thread itself, while a trial's
    job runs): neither is said on every call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def _count(study: optuna.Study, state: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))
