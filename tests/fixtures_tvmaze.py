"""Pytest fixtures for the TVMaze simulator (loaded via ``pytest_plugins``).

``tvmaze_sim`` is the everyday fixture: the real recorded shows, no faults and
**no rate limit**, because a full sync walks ~325 pages and the real limit
(20 calls / 10 s) would make every sync test take minutes.  Tests that want
throttling, faults, synthetic data or a fake clock build their own simulator
with ``tvmaze_sim_factory(**kwargs)`` (any :class:`TvmazeSimulator` argument).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.doubles.tvmaze_sim import TvmazeSimulator

TvmazeSimFactory = Callable[..., TvmazeSimulator]


@pytest.fixture
def tvmaze_sim_factory() -> Iterator[TvmazeSimFactory]:
    """Start simulators on demand; every one is stopped at teardown."""
    with ExitStack() as started:
        yield lambda **kwargs: started.enter_context(TvmazeSimulator(**kwargs))


@pytest.fixture
def tvmaze_sim(tvmaze_sim_factory: TvmazeSimFactory) -> TvmazeSimulator:
    """A running simulator over the real shows, unthrottled and fault-free."""
    return tvmaze_sim_factory(rate_limit=None)
