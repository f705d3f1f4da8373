"""Pre-launch checks shared by the sweepers: compose each job's config and run lenbench's pre-flight on it
(lenbench.preflight.preflight, as run.py does, less the checks of the machine that computes)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from lenbench.errors import ConfigError
from lenbench.preflight import preflight


class SweepError(CompactHydraException):
    """A sweep that cannot start; Hydra prints the message alone (no traceback)."""


def job_error(config_loader, master_config: DictConfig, overrides: Sequence[str],
              loaded: dict | None = None) -> str | None:
    """Why the job with these overrides would fail before computing anything (None if it would not).
    `loaded`: kept across the jobs of one sweep, so each dataset and model setting is loaded once."""
    hydra = HydraConfig.instance()
    sweeper_config = hydra.cfg
    try:
        cfg = config_loader.load_sweep_config(master_config=master_config, sweep_overrides=list(overrides))
        hydra.set_config(cfg)  # as the job will see it: e.g. its launcher's tasks (lenbench.process_group)
        preflight(cfg, machine=False, loaded=loaded)
    except (ConfigError, HydraException, OmegaConfBaseException) as error:
        return str(error).strip().splitlines()[0]
    finally:
        hydra.cfg = sweeper_config
    return None


def check_jobs(config_loader, master_config: DictConfig, jobs: Sequence[Sequence[str]]) -> None:
    """Raise SweepError listing every job of `jobs` whose config is invalid (nothing is launched)."""
    failures, loaded = [], {}
    for overrides in jobs:
        error = job_error(config_loader, master_config, overrides, loaded)
        if error:
            failures.append(f"  {' '.join(overrides) or '(no overrides)'}: {error}")
    if failures:
        shown = "\n".join(failures[:10]) + (f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else "")
        raise SweepError(
            f"lenbench: {len(failures)} of {len(jobs)} jobs have an invalid config; "
            f"no job was launched:\n{shown}"
        )
