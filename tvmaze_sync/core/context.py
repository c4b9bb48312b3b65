"""What one cycle runs against: the configuration, the clock, the sleep, and the command
line's overrides.

It lives here, below the phases that read it (tvmaze/mirror.py, sonarr/phase.py) and the
orchestrator that builds it (cycle/run.py), so no phase imports the orchestrator, not even
for type checking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tvmaze_sync.core.config import Config
from tvmaze_sync.core.timeutil import Clock, Sleep, system_clock


@dataclass
class CycleContext:
    """What a cycle runs against; tests build one with a fake clock and simulator URLs."""

    config: Config
    clock: Clock = system_clock
    sleep: Sleep = time.sleep
    dry_run: bool = False  # forced from the command line, on top of the config
    progress: bool = False  # draw a progress bar (stderr is a terminal)

    @property
    def effective_dry_run(self) -> bool:
        return self.dry_run or self.config.effective_dry_run

    @property
    def writes_decisions(self) -> bool:
        """The filters' verdicts are written unless a dry run was asked for (`--dry-run` or
        `dry_run: true`). Without Sonarr the cache still decides: the Custom List serves it."""
        return not (self.dry_run or self.config.dry_run)
