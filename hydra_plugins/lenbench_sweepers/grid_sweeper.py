"""`hydra/sweeper=grid`: Hydra's basic grid sweeper with every job checked before any launch.

Hydra's basic sweeper composes one batch at a time and leaves value checks to the jobs, so a bad
value in a grid fails inside each job, after the jobs before it have run. This sweeper composes and
validates every job of the whole grid first (lenbench.preflight.preflight) and refuses an empty
`+sweep=` grid; then it launches exactly as the basic sweeper does.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from .job_checks import SweepError, check_jobs


class GridSweeper(BasicSweeper):
    """Cartesian product of the sweep axes (`a=1,2 b=x,y`), validated up front."""

    def sweep(self, arguments: list[str]):
        self._check_grid_is_not_empty()
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        axes = parser.parse_overrides(self._parse_config() + list(arguments))
        jobs = [job for batch in self.split_arguments(axes, None) for job in batch]
        check_jobs(self.hydra_context.config_loader, self.config, jobs)
        return super().sweep(arguments)

    def _check_grid_is_not_empty(self) -> None:
        name = self.config.hydra.runtime.choices.get("sweep") if self.config is not None else None
        if not name:
            return
        where = f"hydra.sweeper.params of sweep '{name}' (sweeps/{name}.yaml)"
        if not self.params:
            raise SweepError(f"lenbench: {where} lists no axis: the grid is empty. Add one, e.g. `seed: 0,1,2`")
        empty = [key for key, values in self.params.items() if values is None or not str(values).strip()]
        if empty:
            raise SweepError(f"lenbench: {where}: axis {', '.join(empty)} has no values (e.g. `{empty[0]}: a,b`)")

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Every job was composed and checked in `sweep` before the first launch."""
